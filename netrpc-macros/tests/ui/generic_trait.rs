#[netrpc::service]
pub trait Store<T> {
    fn get(&self, key: String) -> Result<T, String>;
}

fn main() {}
