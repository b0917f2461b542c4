//! Calls `Arith` and `Echo` on a running `arith_server`.
//!
//! Run: `cargo run --example arith_client -- --addr 127.0.0.1:1234`
//! Against `arith_server --http`: add `--http`; against `--codec json` (or a Go jsonrpc
//! server): add `--codec json`.

mod common;

use std::error::Error;

use common::{Args, Quotient};
use netrpc::Client;

fn main() -> Result<(), Box<dyn Error>> {
    let addr = common::flag("addr").unwrap_or_else(|| "127.0.0.1:1234".to_owned());
    let client = if common::switch("http") {
        Client::dial_http(&addr)?
    } else if common::flag("codec").as_deref() == Some("json") {
        netrpc::jsonrpc::dial(&addr)?
    } else {
        Client::dial(&addr)?
    };
    println!("connected to {addr}");

    let product: i64 = client.call("Arith.Multiply", &Args { a: 7, b: 8 })?;
    println!("Arith.Multiply 7*8 = {product}");

    let q: Quotient = client.call("Arith.Divide", &Args { a: 15, b: 4 })?;
    println!("Arith.Divide 15/4 = {} remainder {}", q.quo, q.rem);

    match client.call::<_, Quotient>("Arith.Divide", &Args { a: 1, b: 0 }) {
        Ok(q) => println!("Arith.Divide 1/0 = {q:?} (expected an error)"),
        Err(e) => println!("Arith.Divide 1/0 error: {e}"),
    }

    let echoed: String = client.call("Echo.Echo", "hello, netrpc")?;
    println!("Echo.Echo {echoed:?}");

    client.close()?;
    Ok(())
}
