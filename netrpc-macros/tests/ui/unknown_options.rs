#[netrpc::service(name = "Arith", version = 2)]
pub trait Arith {
    #[netrpc(rename = "Times")]
    fn multiply(&self, a: i64, b: i64) -> Result<i64, String>;
    #[netrpc(name = "Arith.Divide")]
    fn divide(&self, a: i64, b: i64) -> Result<i64, String>;
}

#[netrpc::service(rename_all = "kebab-case")]
pub trait Calc {
    fn add(&self, a: i64, b: i64) -> Result<i64, String>;
}

#[netrpc::service(name = "a.b")]
pub trait Dotted {
    fn add(&self, a: i64, b: i64) -> Result<i64, String>;
}

fn main() {}
