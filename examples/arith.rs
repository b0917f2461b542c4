//! The demo: an `Arith` server on an ephemeral port in this process, and a client calling it
//! synchronously and asynchronously, as in Go's `net/rpc` documentation.
//!
//! Run: `cargo run --example arith` (or `-- --addr 127.0.0.1:1234` to pick the port).

mod common;

use std::error::Error;
use std::net::TcpListener;
use std::thread;

use common::{Args, Quotient};
use netrpc::{Client, Server};

const USAGE: &str = "usage: arith [--addr HOST:PORT]

Serves Arith in this process on --addr (an ephemeral port) and calls it.";

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["addr"], &[]);
    let addr = args
        .flag("addr")
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let server = Server::new();
    common::register(&server)?;
    let listener = TcpListener::bind(&addr)?;
    let addr = listener.local_addr()?;
    println!("server: serving Arith and Echo on {addr}");
    thread::spawn(move || server.accept(&listener));

    let client = Client::dial(addr)?;

    // Synchronous calls.
    let args = Args { a: 7, b: 8 };
    let product: i64 = client.call("Arith.Multiply", &args)?;
    println!("Arith: {}*{}={}", args.a, args.b, product);

    let args = Args { a: 15, b: 4 };
    let quotient: Quotient = client.call("Arith.Divide", &args)?;
    println!(
        "Arith: {}/{}={} remainder {}",
        args.a, args.b, quotient.quo, quotient.rem
    );

    let args = Args { a: 1, b: 0 };
    match client.call::<_, Quotient>("Arith.Divide", &args) {
        Ok(q) => println!("Arith: {}/{}={:?} (expected an error)", args.a, args.b, q),
        Err(e) => println!("Arith: {}/{} error: {}", args.a, args.b, e),
    }

    // Asynchronous calls: all three are in flight at once, each completes through its done channel.
    let calls: Vec<_> = [(2, 3), (4, 5), (6, 7)]
        .into_iter()
        .map(|(a, b)| (a, b, client.go::<_, i64>("Arith.Multiply", &Args { a, b })))
        .collect();
    for (a, b, call) in calls {
        let done = call.done.recv()?;
        println!("Arith (async, seq {}): {a}*{b}={}", done.seq, done.result?);
    }

    client.close()?;
    Ok(())
}
