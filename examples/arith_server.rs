//! Serves `Arith` and `Echo` until killed, for `arith_client`, foreign MessagePack-RPC clients
//! and benchmarks.
//!
//! Run: `cargo run --example arith_server -- --addr 127.0.0.1:1234`

mod common;

use std::error::Error;
use std::net::TcpListener;

use netrpc::Server;

fn main() -> Result<(), Box<dyn Error>> {
    let addr = common::flag("addr").unwrap_or_else(|| "127.0.0.1:1234".to_owned());
    let server = Server::new();
    common::register(&server)?;
    let listener = TcpListener::bind(&addr)?;
    println!("serving Arith and Echo on {} (MessagePack-RPC)", listener.local_addr()?);
    server.accept(&listener)?;
    Ok(())
}
