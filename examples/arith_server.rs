//! Serves `Arith`, `Echo` and `Work` (`Work.Sleep` blocks for the microseconds it is given)
//! until killed, for `arith_client`, foreign MessagePack-RPC clients and benchmarks.
//!
//! Run: `cargo run --example arith_server -- --addr 127.0.0.1:1234`
//!
//! With no flag but `--addr` one port answers every kind of client, each connection in the
//! wire its first bytes show: MessagePack-RPC clients, Go's `rpc.Dial` (gob), Go's
//! `rpc.DialHTTP` (`CONNECT /_goRPC_`, then gob), Go's `jsonrpc.Dial`, and `curl
//! http://ADDR/debug/rpc`. To pin one wire: `--http` (HTTP only), `--codec json|gob|msgpack`.

mod common;

use std::error::Error;
use std::net::TcpListener;

use netrpc::{Server, Wire, DEFAULT_DEBUG_PATH, DEFAULT_RPC_PATH};

const USAGE: &str = "usage: arith_server [--addr HOST:PORT] [--codec msgpack|json|gob] [--http]

Serves Arith, Echo and Work on --addr (127.0.0.1:1234) until killed. With no other flag,
every wire on one port; --codec pins one wire, --http serves HTTP only.";

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["addr", "codec"], &["http"]);
    let addr = args
        .flag("addr")
        .unwrap_or_else(|| "127.0.0.1:1234".to_owned());
    let wire = match args.flag("codec").as_deref() {
        None => Wire::Detect,
        Some("msgpack") => Wire::Msgpack,
        Some("json") => Wire::Json,
        Some("gob") => Wire::Gob,
        Some(other) => {
            return Err(format!("--codec must be msgpack, json or gob, not {other}").into())
        }
    };
    let server = Server::builder().wire(wire).build();
    common::register(&server)?;
    let listener = TcpListener::bind(&addr)?;
    let addr = listener.local_addr()?;
    if args.switch("http") {
        println!(
            "serving Arith, Echo and Work over HTTP on {addr}: CONNECT {DEFAULT_RPC_PATH}, \
             debug page at http://{addr}{DEFAULT_DEBUG_PATH}"
        );
        server.serve_http(&listener)?;
    } else if wire == Wire::Detect {
        println!(
            "serving Arith, Echo and Work on {addr} (MessagePack-RPC, Go's gob and JSON-RPC, \
             HTTP: CONNECT {DEFAULT_RPC_PATH}, debug page at http://{addr}{DEFAULT_DEBUG_PATH})"
        );
        server.accept(&listener)?;
    } else {
        println!("serving Arith, Echo and Work on {addr} ({wire:?} only)");
        server.accept(&listener)?;
    }
    Ok(())
}
