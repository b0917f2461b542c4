#[netrpc::service]
pub trait Store {
    fn get<T: serde::de::DeserializeOwned>(&self, key: String) -> Result<T, String>;
    fn put<'a>(&'a self, key: String) -> Result<(), String>;
}

fn main() {}
