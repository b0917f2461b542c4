//! Serves `Arith`, `Echo` and `Work` (`Work.Sleep` blocks for the microseconds it is given)
//! until killed, for `arith_client`, foreign MessagePack-RPC clients and benchmarks.
//!
//! Run: `cargo run --example arith_server -- --addr 127.0.0.1:1234`
//! Over HTTP (RPC on `/_goRPC_`, debug page on `/debug/rpc`): add `--http`.
//! With Go's JSON-RPC codec (for Go's `jsonrpc.Dial`): add `--codec json`.

mod common;

use std::error::Error;
use std::net::TcpListener;

use netrpc::{Server, DEFAULT_DEBUG_PATH, DEFAULT_RPC_PATH};

fn main() -> Result<(), Box<dyn Error>> {
    let addr = common::flag("addr").unwrap_or_else(|| "127.0.0.1:1234".to_owned());
    let server = Server::new();
    common::register(&server)?;
    let listener = TcpListener::bind(&addr)?;
    let addr = listener.local_addr()?;
    if common::switch("http") {
        println!(
            "serving Arith, Echo and Work over HTTP on {addr}: CONNECT {DEFAULT_RPC_PATH}, \
             debug page at http://{addr}{DEFAULT_DEBUG_PATH}"
        );
        server.serve_http(&listener)?;
    } else if common::flag("codec").as_deref() == Some("json") {
        println!("serving Arith, Echo and Work on {addr} (JSON-RPC, as Go's net/rpc/jsonrpc)");
        netrpc::jsonrpc::accept(&server, &listener)?;
    } else {
        println!("serving Arith, Echo and Work on {addr} (MessagePack-RPC)");
        server.accept(&listener)?;
    }
    Ok(())
}
