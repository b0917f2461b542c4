//! Calls `Arith` and `Echo` on a running `arith_server`.
//!
//! Run: `cargo run --example arith_client -- --addr 127.0.0.1:1234`
//! Over HTTP (`CONNECT /_goRPC_`): add `--http`. In Go's JSON-RPC (a Go jsonrpc server): add
//! `--codec json`. In Go's gob (a Go `net/rpc` server): add `--codec gob`, and `--http` for
//! one behind Go's `rpc.HandleHTTP`. `arith_server` answers all of them on one port.

mod common;

use std::error::Error;

use common::{Args, Quotient};
use netrpc::Client;

const USAGE: &str = "usage: arith_client [--addr HOST:PORT] [--codec msgpack|json|gob] [--http]

Calls Arith and Echo on the server at --addr (127.0.0.1:1234), in --codec (msgpack), over
HTTP's CONNECT with --http.";

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["addr", "codec"], &["http"]);
    common::show_logs();
    let addr = args
        .flag("addr")
        .unwrap_or_else(|| "127.0.0.1:1234".to_owned());
    let http = args.switch("http");
    let client = match (args.flag("codec").as_deref(), http) {
        (Some("gob"), true) => netrpc::gob::dial_http(&addr)?,
        (Some("gob"), false) => netrpc::gob::dial(&addr)?,
        (Some("json"), _) => netrpc::jsonrpc::dial(&addr)?,
        (None | Some("msgpack"), true) => Client::dial_http(&addr)?,
        (None | Some("msgpack"), false) => Client::dial(&addr)?,
        (Some(other), _) => {
            return Err(format!("--codec must be msgpack, json or gob, not {other}").into())
        }
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
