//! The typed `Arith` these tests serve and call: Go's `Arith` (`Multiply`, `Divide`, with Go's
//! `Args` and `Quotient`), and methods that use what a trait may say.

use std::fmt;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};
use netrpc::{Client, Context, Server};
use serde::{Deserialize, Serialize};

use crate::common::{self, Args, Quotient, WAIT};

/// Why a division failed: `ByZero` travels as the string `"ByZero"` on MessagePack-RPC,
/// `Overflow` as a map; Go's wires carry the text Go's `Arith` sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[netrpc::service]
pub trait Arith {
    fn multiply(&self, args: Args) -> Result<i64, String>;
    fn divide(&self, args: Args) -> Result<Quotient, DivideError>;
    /// Two parameters: `[a, b]` on MessagePack-RPC.
    fn add(&self, a: i64, b: i64) -> Result<i64, String>;
    #[netrpc(name = "Mul2")]
    fn mul2(&self, x: i64) -> Result<i64, String>;
    /// No parameters: `[]` on MessagePack-RPC, Go's empty struct on gob and JSON-RPC.
    fn answer(&self) -> Result<i64, String>;
    /// The call's context, which the client leaves out.
    fn whoami(&self, ctx: &Context, greeting: String) -> Result<String, String>;
    fn sleep(&self, ms: u64) -> Result<u64, String>;
    /// No return value: a notification.
    fn log(&self, line: String);
}

/// `Arith`, with the lines `log` was sent.
pub struct Calculator {
    logged: Sender<String>,
}

impl Calculator {
    pub fn new() -> (Calculator, Receiver<String>) {
        let (logged, lines) = unbounded();
        (Calculator { logged }, lines)
    }
}

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
        Ok(x * 2)
    }

    fn answer(&self) -> Result<i64, String> {
        Ok(42)
    }

    fn whoami(&self, ctx: &Context, greeting: String) -> Result<String, String> {
        Ok(format!(
            "{greeting}, {} over {:?}",
            ctx.service_method(),
            ctx.wire()
        ))
    }

    fn sleep(&self, ms: u64) -> Result<u64, String> {
        thread::sleep(Duration::from_millis(ms));
        Ok(ms)
    }

    fn log(&self, line: String) {
        let _ = self.logged.send(line);
    }
}

/// A server of the typed `Arith` on an ephemeral port, every wire on it, and the lines `log`
/// was sent.
pub fn serve() -> (SocketAddr, Receiver<String>) {
    let server = Server::new();
    let (calculator, lines) = Calculator::new();
    server.register(calculator.into_service()).unwrap();
    (common::serve(&server), lines)
}

/// A typed client of `addr` over MessagePack-RPC, whose calls give up after [`WAIT`].
pub fn client(addr: SocketAddr) -> ArithClient {
    ArithClient::new(Client::builder().timeout(Some(WAIT)).dial(addr).unwrap())
}
