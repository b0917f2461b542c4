#[netrpc::service]
pub trait Counter {
    fn bump(&mut self, by: u64) -> Result<u64, String>;
    fn take(self) -> Result<u64, String>;
    fn boxed(self: Box<Self>) -> Result<u64, String>;
    fn make(start: u64) -> Result<u64, String>;
}

fn main() {}
