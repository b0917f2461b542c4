#[netrpc::service]
pub struct Arith;

fn main() {}
