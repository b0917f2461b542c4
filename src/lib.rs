//! # netrpc — Go's `net/rpc` for blocking Rust
//!
//! A synchronous, thread-per-connection RPC library with the programming model of Go's
//! `net/rpc`, speaking [MessagePack-RPC](wire::msgpack) on the wire, and Go's own wires too:
//! [`gob`], Go's default, and [JSON-RPC](crate::jsonrpc). One server port answers
//! all of them, and HTTP, telling each connection's wire from its first bytes ([`Wire`]).
//!
//! * A trait marked [`#[service]`](service) is a service: its implementations are served, and
//!   the client it gives calls them, blocking, on every wire (the first example below).
//! * Underneath, a [`Server`] registers [`Service`]s, whose methods are called remotely as
//!   `"Service.Method"`. A method takes one argument and returns a reply or an error; an
//!   error reaches the client as its text (or, typed, as its value), and then no reply is
//!   sent.
//! * The server serves a listener ([`Server::accept`], one thread per connection) or a single
//!   connection ([`Server::serve_conn`], [`Server::serve_codec`]). Methods run on a worker pool.
//! * A [`Client`] is shared across threads: [`Client::call`] blocks; [`Client::go`] returns at
//!   once and completes through a crossbeam channel. When the connection dies, every pending
//!   call completes with an error.
//! * Codecs are pluggable ([`codec`]); no async runtime is involved anywhere.
//! * MessagePack-RPC works both ways: [`Params`] sends an argument list as it is, and a client
//!   serves methods its peer calls ([`Client::register_methods`]) and takes its notifications
//!   ([`Client::notifications`]): enough to drive Neovim.
//!
//! ```
//! use std::net::TcpListener;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(rename_all = "PascalCase")] // Go's field names
//! pub struct Args {
//!     pub a: i64,
//!     pub b: i64,
//! }
//!
//! #[netrpc::service] // the service "Arith": its methods are "Arith.Multiply", ...
//! pub trait Arith {
//!     fn multiply(&self, args: Args) -> Result<i64, String>;
//!     fn add(&self, a: i64, b: i64) -> Result<i64, String>;
//! }
//!
//! struct Calculator;
//!
//! impl Arith for Calculator {
//!     fn multiply(&self, args: Args) -> Result<i64, String> {
//!         Ok(args.a * args.b)
//!     }
//!     fn add(&self, a: i64, b: i64) -> Result<i64, String> {
//!         a.checked_add(b).ok_or_else(|| "integer overflow".to_owned())
//!     }
//! }
//!
//! let server = netrpc::Server::new();
//! server.register(Calculator.into_service())?;
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! std::thread::spawn(move || server.accept(&listener));
//!
//! let arith = ArithClient::new(netrpc::Client::dial(addr)?);
//! assert_eq!(arith.multiply(&Args { a: 7, b: 8 })?, 56);
//! assert_eq!(arith.add_go(&2, &3).done.recv()?.result?, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same, in the string API underneath the trait:
//!
//! ```
//! use std::net::TcpListener;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Args {
//!     #[serde(rename = "A")]
//!     a: i64,
//!     #[serde(rename = "B")]
//!     b: i64,
//! }
//!
//! struct Arith;
//!
//! impl Arith {
//!     fn multiply(&self, args: Args) -> Result<i64, String> {
//!         Ok(args.a * args.b)
//!     }
//! }
//!
//! let server = netrpc::Server::new();
//! server.register(netrpc::Service::new(Arith).method("Multiply", Arith::multiply))?;
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! std::thread::spawn(move || server.accept(&listener));
//!
//! let client = netrpc::Client::dial(addr)?;
//! let product: i64 = client.call("Arith.Multiply", &Args { a: 7, b: 8 })?;
//! assert_eq!(product, 56);
//!
//! let call = client.go::<_, i64>("Arith.Multiply", &Args { a: 6, b: 7 });
//! assert_eq!(call.done.recv()?.result?, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `ARCHITECTURE.md` in the repository shows the threads and the path of a call.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod client;
pub mod codec;
mod encoding;
mod error;
#[cfg(feature = "gob")]
pub mod gob;
mod hash;
#[cfg(feature = "json")]
pub mod jsonrpc;
mod panic;
mod server;
mod service;
mod telemetry;
mod transport;
pub mod wire;

use std::io;
use std::sync::OnceLock;

pub use client::{
    Call, Client, ClientBuilder, Completed, Ignore, Notification, Params, WeakClient,
};
/// The channels [`Call::done`] and [`Client::go_with`] use, re-exported so that `select!`,
/// `Sender`s and timeouts need no dependency of a matching version.
pub use crossbeam_channel as channel;
pub use error::{CodecError, Error, RegisterError};
#[cfg(feature = "macros")]
pub use netrpc_macros::service;
/// The MessagePack value type of [`Error::ServerValue`] and of notifications, re-exported.
pub use rmpv;
#[cfg(feature = "prometheus")]
pub use server::METRICS_PATH;
pub use server::{RequestCodec, Server, ServerBuilder};
pub use service::{Context, Service};
pub use transport::http::{DEFAULT_DEBUG_PATH, DEFAULT_RPC_PATH};
pub use transport::{Conn, Keepalive, Listener, Shared, SocketOptions, Waker};
pub use wire::Wire;

/// The server behind the free functions, like Go's `rpc.DefaultServer`.
pub fn default_server() -> &'static Server {
    static DEFAULT: OnceLock<Server> = OnceLock::new();
    DEFAULT.get_or_init(Server::new)
}

/// Registers `service` on the [`default_server`] under its type's name.
pub fn register<T: Send + Sync + 'static>(service: Service<T>) -> Result<(), RegisterError> {
    default_server().register(service)
}

/// Registers `service` on the [`default_server`] under `name`.
pub fn register_name<T: Send + Sync + 'static>(
    name: &str,
    service: Service<T>,
) -> Result<(), RegisterError> {
    default_server().register_name(name, service)
}

/// Serves connections from `listener` with the [`default_server`].
pub fn accept<L: Listener>(listener: &L) -> io::Result<()> {
    default_server().accept(listener)
}

/// Serves one connection with the [`default_server`] until the peer hangs up.
pub fn serve_conn<C: Conn>(conn: C) {
    default_server().serve_conn(conn)
}

/// Serves HTTP on `listener` with the [`default_server`]: RPC on [`DEFAULT_RPC_PATH`], the
/// debug page on [`DEFAULT_DEBUG_PATH`] (Go's `HandleHTTP` followed by `http.Serve`).
pub fn serve_http<L: Listener>(listener: &L) -> io::Result<()> {
    default_server().serve_http(listener)
}

/// Serves one connection through `codec` with the [`default_server`].
pub fn serve_codec<C: codec::ServerCodec>(codec: C) {
    default_server().serve_codec(codec)
}
