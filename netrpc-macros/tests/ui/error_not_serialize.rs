#[netrpc::service]
pub trait Files {
    fn size(&self, path: String) -> Result<u64, std::io::Error>;
}

fn main() {}
