#[netrpc::service]
pub trait Arith {
    async fn multiply(&self, a: i64, b: i64) -> Result<i64, String>;
}

fn main() {}
