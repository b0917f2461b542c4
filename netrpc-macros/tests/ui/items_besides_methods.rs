#[netrpc::service]
pub trait Store {
    type Key;
    const LIMIT: usize;
    fn get(&self, key: String) -> Result<String, String>;
}

fn main() {}
