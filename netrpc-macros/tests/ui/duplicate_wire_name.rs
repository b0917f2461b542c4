#[netrpc::service]
pub trait Arith {
    fn multiply(&self, a: i64, b: i64) -> Result<i64, String>;
    #[netrpc(name = "Multiply")]
    fn times(&self, a: i64, b: i64) -> Result<i64, String>;
}

fn main() {}
