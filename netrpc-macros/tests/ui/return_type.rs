#[netrpc::service]
pub trait Files {
    fn size(&self, path: String) -> u64;
    fn read(&self, path: String) -> std::io::Result<Vec<u8>>;
    fn lines(&self, path: String) -> impl Iterator<Item = String>;
}

fn main() {}
