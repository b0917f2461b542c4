use netrpc::Context;

#[netrpc::service]
pub trait Feed {
    fn watch(&self, ms: u64, ctx: &Context) -> Result<String, String>;
}

fn main() {}
