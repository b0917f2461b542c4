#[netrpc::service]
pub trait Echo {
    fn echo(&self, text: &str) -> Result<String, String>;
    fn sum(&self, values: impl IntoIterator<Item = i64>) -> Result<i64, String>;
}

fn main() {}
