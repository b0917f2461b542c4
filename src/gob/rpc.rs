//! Go's `net/rpc` with its default gob codec: serve Go's `rpc.Dial` / `rpc.DialHTTP` clients
//! and call Go's `rpc.Serve*` / `rpc.HandleHTTP` servers.
//!
//! ```no_run
//! # fn demo(server: netrpc::Server) -> std::io::Result<()> {
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! struct Args {
//!     #[serde(rename = "A")]
//!     a: i64,
//!     #[serde(rename = "B")]
//!     b: i64,
//! }
//!
//! // Serve Go's rpc.Dial clients on a port of their own (Server::accept also detects gob):
//! let listener = std::net::TcpListener::bind("127.0.0.1:1234")?;
//! std::thread::spawn(move || netrpc::gob::accept(&server, &listener));
//!
//! // Call a Go server, over TCP or through its HandleHTTP:
//! let client = netrpc::gob::dial("127.0.0.1:4321")?;
//! let product: i64 = client
//!     .call("Arith.Multiply", &Args { a: 7, b: 8 })
//!     .map_err(std::io::Error::other)?;
//! let client = netrpc::gob::dial_http("127.0.0.1:4322")?;
//! # Ok(()) }
//! ```
//!
//! The codec itself is [`crate::codec::gob`].

use std::io;
use std::net::ToSocketAddrs;

use crate::client::{Client, ClientBuilder};
pub use crate::codec::gob::{GobClientCodec, GobServerCodec};
use crate::http::DEFAULT_RPC_PATH;
use crate::server::Server;
use crate::transport::{Conn, Listener};

/// Serves one connection with the gob codec until the peer hangs up (Go's `ServeConn`).
pub fn serve_conn<C: Conn>(server: &Server, conn: C) {
    server.apply_timeouts(&conn);
    let codec = GobServerCodec::with_max_message_size(conn, server.max_message_size());
    server.serve_codec(codec);
}

/// Accepts connections on `listener` and serves each with the gob codec on a thread of its
/// own (Go's `Accept`). Returns the error that stopped the listener.
pub fn accept<L: Listener>(server: &Server, listener: &L) -> io::Result<()> {
    let serving = server.clone();
    server.accept_with(listener, move |conn| serve_conn(&serving, conn))
}

/// Connects to a gob server at `addr` over TCP (Go's `rpc.Dial`).
pub fn dial(addr: impl ToSocketAddrs) -> io::Result<Client> {
    dial_with(&Client::builder(), addr)
}

/// Connects to a gob server at `addr` over TCP with `builder`'s timeouts and limits.
pub fn dial_with(builder: &ClientBuilder, addr: impl ToSocketAddrs) -> io::Result<Client> {
    let conn = builder.dial_tcp(addr)?;
    builder.codec(GobClientCodec::with_max_message_size(
        conn,
        builder.message_size_limit(),
    ))
}

/// Connects to a Go `rpc.HandleHTTP` server at `addr` (Go's `rpc.DialHTTP`): `CONNECT
/// /_goRPC_`, then gob.
pub fn dial_http(addr: impl ToSocketAddrs) -> io::Result<Client> {
    dial_http_with(&Client::builder(), addr, DEFAULT_RPC_PATH)
}

/// Connects over HTTP to `path` at `addr` with `builder`'s timeouts and limits (Go's
/// `rpc.DialHTTPPath`); the handshake is bounded by the builder's connect timeout, or 10 s.
pub fn dial_http_with(
    builder: &ClientBuilder,
    addr: impl ToSocketAddrs,
    path: &str,
) -> io::Result<Client> {
    let conn = builder.dial_tcp(addr)?;
    let conn = crate::http::connect(conn, path, builder.handshake_timeout())?;
    builder.codec(GobClientCodec::with_max_message_size(
        conn,
        builder.message_size_limit(),
    ))
}

/// A gob client on a connection already open (Go's `NewClient`).
pub fn new_client<C: Conn>(conn: C) -> io::Result<Client> {
    Client::with_codec(GobClientCodec::new(conn))
}
