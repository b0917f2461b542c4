//! What the typed client costs over the string API: the same calls of `Arith.Multiply` to a
//! server in this process, through `Client::call`/`go` and through the `ArithClient` a
//! `#[netrpc::service]` trait gives, in alternating rounds so that drift hits both alike.
//!
//! Run: `cargo run --release --example typed_cost` (`-- --calls N --rounds R` to size it).

mod common;

use std::error::Error;
use std::net::TcpListener;
use std::thread;
use std::time::Instant;

use common::Args;
use netrpc::{Call, Client, Server};

const USAGE: &str = "usage: typed_cost [--calls N] [--rounds R]

Times N calls of Arith.Multiply (2,000) through Client::call and through the typed client,
each waiting for its reply, then pipelined with go (100 in flight), in R rounds (30) that
take turns, and prints the fastest and the median round of each, in microseconds per call.";

/// Calls in flight at once in the pipelined rounds.
const WINDOW: usize = 100;

#[netrpc::service]
pub trait Arith {
    fn multiply(&self, args: Args) -> Result<i64, String>;
}

struct Calculator;

impl Arith for Calculator {
    fn multiply(&self, args: Args) -> Result<i64, String> {
        Ok(args.a.wrapping_mul(args.b))
    }
}

/// Makes as many calls as it is told and checks their replies.
type Calls = Box<dyn Fn(usize) -> Result<(), Box<dyn Error>>>;

/// One way of making calls, timed.
struct Way {
    name: &'static str,
    run: Calls,
    /// Microseconds per call, one entry per round.
    rounds: Vec<f64>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["calls", "rounds"], &[]);
    let calls: usize = args.flag("calls").map_or(Ok(2_000), |n| n.parse())?;
    let rounds: usize = args.flag("rounds").map_or(Ok(30), |n| n.parse())?;

    let server = Server::new();
    server.register(Calculator.into_service())?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("server: serving the typed Arith on {addr}");
    thread::spawn(move || server.accept(&listener));
    let client = Client::dial(addr)?;
    let arith = ArithClient::new(client.clone());

    let args = Args { a: 6, b: 7 };
    let check = |product: i64| match product {
        42 => Ok(()),
        other => Err(format!("6*7 = {other}?")),
    };
    let mut ways = [
        Way {
            name: "call",
            run: Box::new({
                let (client, args) = (client.clone(), args.clone());
                move |n| {
                    for _ in 0..n {
                        check(client.call("Arith.Multiply", &args)?)?;
                    }
                    Ok(())
                }
            }),
            rounds: Vec::new(),
        },
        Way {
            name: "typed call",
            run: Box::new({
                let (arith, args) = (arith.clone(), args.clone());
                move |n| {
                    for _ in 0..n {
                        check(arith.multiply(&args)?)?;
                    }
                    Ok(())
                }
            }),
            rounds: Vec::new(),
        },
        Way {
            name: "go",
            run: Box::new({
                let (client, args) = (client.clone(), args.clone());
                move |n| pipelined(n, || client.go("Arith.Multiply", &args), check)
            }),
            rounds: Vec::new(),
        },
        Way {
            name: "typed go",
            run: Box::new(move |n| pipelined(n, || arith.multiply_go(&args), check)),
            rounds: Vec::new(),
        },
    ];

    for way in &ways {
        (way.run)(calls / 10)?; // warm-up
    }
    for round in 0..rounds {
        // Every other round backwards, so that going first or second favours neither.
        let mut order: Vec<&mut Way> = ways.iter_mut().collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for way in order {
            let started = Instant::now();
            (way.run)(calls)?;
            way.rounds
                .push(started.elapsed().as_secs_f64() * 1e6 / calls as f64);
        }
    }
    println!("{rounds} rounds of {calls} calls each, in µs per call:");
    for way in &mut ways {
        way.rounds.sort_by(f64::total_cmp);
    }
    for pair in ways.chunks(2) {
        let [plain, typed] = pair else { continue };
        println!(
            "{:>10}: fastest {:.2}, median {:.2}; {}: fastest {:.2} ({:+.1}%), median {:.2} ({:+.1}%)",
            plain.name,
            plain.rounds[0],
            median(plain),
            typed.name,
            typed.rounds[0],
            change(plain.rounds[0], typed.rounds[0]),
            median(typed),
            change(median(plain), median(typed)),
        );
    }
    Ok(())
}

/// Makes `n` calls with `start`, [`WINDOW`] in flight at once, and checks each reply.
fn pipelined(
    n: usize,
    start: impl Fn() -> Call<i64>,
    check: impl Fn(i64) -> Result<(), String>,
) -> Result<(), Box<dyn Error>> {
    let mut done = 0;
    while done < n {
        let batch: Vec<Call<i64>> = (0..WINDOW.min(n - done)).map(|_| start()).collect();
        done += batch.len();
        for call in batch {
            check(call.wait()?)?;
        }
    }
    Ok(())
}

/// The middle of `rounds`, sorted.
fn median(way: &Way) -> f64 {
    way.rounds[way.rounds.len() / 2]
}

/// How much `typed` is above `plain`, in percent.
fn change(plain: f64, typed: f64) -> f64 {
    (typed - plain) / plain * 100.0
}
