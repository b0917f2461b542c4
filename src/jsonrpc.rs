//! Go's `net/rpc/jsonrpc`: serve and call with the JSON-RPC 1.0 codec, wire-compatible with
//! Go programs in both directions. (Cargo feature `json`, on by default.)
//!
//! ```no_run
//! # fn demo(server: netrpc::Server) -> std::io::Result<()> {
//! // Serve Go's jsonrpc clients:
//! let listener = std::net::TcpListener::bind("127.0.0.1:1234")?;
//! std::thread::spawn(move || netrpc::jsonrpc::accept(&server, &listener));
//!
//! // Call a Go jsonrpc server:
//! let client = netrpc::jsonrpc::dial("127.0.0.1:4321")?;
//! let product: i64 = client.call("Arith.Multiply", &serde_json::json!({"A": 7, "B": 8}))
//!     .map_err(std::io::Error::other)?;
//! # Ok(()) }
//! ```
//!
//! The codec itself is [`crate::wire::json`].

use std::io;
use std::net::ToSocketAddrs;

use crate::{Client, Conn, Listener, Server, Wire};

/// Serves one connection with the JSON-RPC codec until the peer hangs up (Go's
/// `ServeConn`).
pub fn serve_conn<C: Conn>(server: &Server, conn: C) {
    server.serve_conn_in(Wire::Json, conn);
}

/// Accepts connections on `listener` and serves each with the JSON-RPC codec on a thread of
/// its own. Returns the error that stopped the listener.
pub fn accept<L: Listener>(server: &Server, listener: &L) -> io::Result<()> {
    server.accept_in(Wire::Json, listener)
}

/// Connects to a JSON-RPC server at `addr` over TCP (Go's `Dial`); for timeouts and limits,
/// `Client::builder().wire(Wire::Json)`.
pub fn dial(addr: impl ToSocketAddrs) -> io::Result<Client> {
    Client::builder().wire(Wire::Json).dial(addr)
}

/// A JSON-RPC client on a connection already open (Go's `NewClient`).
pub fn new_client<C: Conn>(conn: C) -> io::Result<Client> {
    Client::builder().wire(Wire::Json).connect(conn)
}
