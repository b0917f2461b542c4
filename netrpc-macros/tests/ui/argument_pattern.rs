#[netrpc::service]
pub trait Arith {
    fn add(&self, (a, b): (i64, i64)) -> Result<i64, String>;
    fn ignore(&self, _: i64) -> Result<(), String>;
}

fn main() {}
