#[netrpc::service]
pub trait Arith {
    fn divide(&self, a: i64, b: i64) -> Result<i64, String>;
    #[netrpc(name = "DivideLater")]
    fn divide_go(&self, a: i64, b: i64) -> Result<i64, String>;
    fn new(&self) -> Result<(), String>;
    fn into_service(&self) -> Result<(), String>;
}

fn main() {}
