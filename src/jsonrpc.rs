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
//! The codec itself is [`crate::codec::json`].

use std::io;
use std::net::ToSocketAddrs;

use crate::client::{Client, ClientBuilder};
pub use crate::codec::json::{JsonClientCodec, JsonServerCodec};
use crate::server::Server;
use crate::transport::{Conn, Listener};

/// Serves one connection with the JSON-RPC codec until the peer hangs up (Go's
/// `ServeConn`).
pub fn serve_conn<C: Conn>(server: &Server, conn: C) {
    server.apply_timeouts(&conn);
    let codec = JsonServerCodec::with_max_message_size(conn, server.max_message_size());
    server.serve_codec(codec);
}

/// Accepts connections on `listener` and serves each with the JSON-RPC codec on a thread of
/// its own. Returns the error that stopped the listener.
pub fn accept<L: Listener>(server: &Server, listener: &L) -> io::Result<()> {
    let serving = server.clone();
    server.accept_with(listener, move |conn| serve_conn(&serving, conn))
}

/// Connects to a JSON-RPC server at `addr` over TCP (Go's `Dial`).
pub fn dial(addr: impl ToSocketAddrs) -> io::Result<Client> {
    dial_with(&Client::builder(), addr)
}

/// Connects to a JSON-RPC server at `addr` over TCP with `builder`'s timeouts and limits.
pub fn dial_with(builder: &ClientBuilder, addr: impl ToSocketAddrs) -> io::Result<Client> {
    let conn = builder.dial_tcp(addr)?;
    builder.codec(JsonClientCodec::with_max_message_size(
        conn,
        builder.message_size_limit(),
    ))
}

/// A JSON-RPC client on a connection already open (Go's `NewClient`).
pub fn new_client<C: Conn>(conn: C) -> io::Result<Client> {
    Client::with_codec(JsonClientCodec::new(conn))
}
