//! The demo, typed: the `Arith` service as a Rust trait (`#[netrpc::service]`), served on an
//! ephemeral port in this process and called through the client the trait gives.
//!
//! Run: `cargo run --example arith_typed` (or `-- --addr 127.0.0.1:1234` to pick the port).

mod common;

use std::error::Error;
use std::fmt;
use std::net::TcpListener;
use std::thread;

use common::{Args, Quotient};
use netrpc::{Client, Server};
use serde::{Deserialize, Serialize};

const USAGE: &str = "usage: arith_typed [--addr HOST:PORT]

Serves the typed Arith in this process on --addr (an ephemeral port) and calls it.";

/// Why a division failed. MessagePack-RPC carries it as a value, which the caller reads back
/// typed; Go's wires carry its text.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum DivideError {
    ByZero,
    Overflow { a: i64, b: i64 },
}

impl fmt::Display for DivideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DivideError::ByZero => f.write_str("divide by zero"),
            DivideError::Overflow { .. } => f.write_str("integer overflow"),
        }
    }
}

/// The service: `Arith.Multiply`, `Arith.Divide`, `Arith.Add` and `Arith.Mul2`.
#[netrpc::service]
pub trait Arith {
    /// The product of `args.a` and `args.b`, wrapping as Go's `int` does.
    fn multiply(&self, args: Args) -> Result<i64, String>;
    /// The quotient and remainder of `args.a` by `args.b`.
    fn divide(&self, args: Args) -> Result<Quotient, DivideError>;
    /// Two parameters: MessagePack-RPC's argument list `[a, b]`.
    fn add(&self, a: i64, b: i64) -> Result<i64, String>;
    /// Twice `x`, called by a name of its own.
    #[netrpc(name = "Mul2")]
    fn mul2(&self, x: i64) -> Result<i64, String>;
}

/// One implementation of `Arith`; the service is named after the trait, whatever this is.
struct Calculator;

impl Arith for Calculator {
    fn multiply(&self, args: Args) -> Result<i64, String> {
        Ok(args.a.wrapping_mul(args.b))
    }

    fn divide(&self, Args { a, b }: Args) -> Result<Quotient, DivideError> {
        if b == 0 {
            return Err(DivideError::ByZero);
        }
        match (a.checked_div(b), a.checked_rem(b)) {
            (Some(quo), Some(rem)) => Ok(Quotient { quo, rem }),
            _ => Err(DivideError::Overflow { a, b }),
        }
    }

    fn add(&self, a: i64, b: i64) -> Result<i64, String> {
        a.checked_add(b)
            .ok_or_else(|| "integer overflow".to_owned())
    }

    fn mul2(&self, x: i64) -> Result<i64, String> {
        Ok(x.wrapping_mul(2))
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["addr"], &[]);
    let addr = args
        .flag("addr")
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let server = Server::new();
    server.register(Calculator.into_service())?;
    let listener = TcpListener::bind(&addr)?;
    let addr = listener.local_addr()?;
    println!("server: serving the typed Arith on {addr}");
    thread::spawn(move || server.accept(&listener));

    let arith = ArithClient::new(Client::dial(addr)?);

    // Synchronous calls: each blocks for its reply.
    let args = Args { a: 7, b: 8 };
    println!("Arith: {}*{}={}", args.a, args.b, arith.multiply(&args)?);
    let args = Args { a: 15, b: 4 };
    let q = arith.divide(&args)?;
    println!("Arith: {}/{}={} remainder {}", args.a, args.b, q.quo, q.rem);
    println!("Arith: 2+3={} (params [2, 3])", arith.add(&2, &3)?);
    println!("Arith.Mul2: 2*21={}", arith.mul2(&21)?);

    // A typed error comes back as the value the method returned.
    for (a, b) in [(1, 0), (i64::MIN, -1)] {
        match arith.divide(&Args { a, b }) {
            Ok(q) => println!("Arith: {a}/{b}={q:?} (expected an error)"),
            Err(e) => println!(
                "Arith: {a}/{b} error: {e}, as a DivideError: {:?}",
                e.remote::<DivideError>()
            ),
        }
    }

    // Asynchronous calls: all three are in flight at once, each completes through its done channel.
    let calls: Vec<_> = [(2, 3), (4, 5), (6, 7)]
        .into_iter()
        .map(|(a, b)| (a, b, arith.multiply_go(&Args { a, b })))
        .collect();
    for (a, b, call) in calls {
        let done = call.done.recv()?;
        println!("Arith (async, seq {}): {a}*{b}={}", done.seq, done.result?);
    }

    arith.client().close()?;
    Ok(())
}
