//! # Go's `encoding/gob` as a serde data format, and Go's `net/rpc` over it
//!
//! [`serve_conn`], [`accept`], [`dial`], [`dial_http`] and [`new_client`] serve and call Go's
//! `net/rpc` with its default gob codec ([`crate::wire::gob`]; a
//! [`ClientBuilder`](crate::ClientBuilder) speaks it with [`Wire::Gob`]), as
//! [`crate::jsonrpc`] does for JSON-RPC; [`Server::accept`](crate::Server::accept) also serves
//! gob clients, telling them from the others by their first bytes. The rest of this page is
//! the format.
//!
//! A gob stream is a sequence of messages, each preceded by its length: type definitions,
//! sent once per stream before a type is first used, and values. The [`Encoder`] and
//! [`Decoder`] keep that per-stream state, one of each per direction of a connection; the
//! caller does the framing with the bytes it already has ([`message_len`]).
//!
//! ```
//! use netrpc::gob::{message_len, Decoder, Encoder};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Point {
//!     #[serde(rename = "X")]
//!     x: i64,
//!     #[serde(rename = "Y")]
//!     y: i64,
//! }
//!
//! let mut enc = Encoder::new();
//! let mut stream = Vec::new();
//! enc.encode(&mut stream, &Point { x: 22, y: 33 })?;
//! // The bytes of Go's documentation: Point's definition, then the value.
//! assert_eq!(stream.len(), 32 + 8);
//!
//! let mut dec = Decoder::new();
//! let mut rest = &stream[..];
//! let mut points = Vec::new();
//! while let Some((header, len)) = message_len(rest, 1 << 20)? {
//!     let msg = &rest[header..header + len];
//!     if let Some(value) = dec.decode(msg)? {
//!         points.push(value.deserialize::<Point>()?);
//!     }
//!     rest = &rest[header + len..];
//! }
//! assert_eq!(points, [Point { x: 22, y: 33 }]);
//! # Ok::<(), netrpc::gob::GobError>(())
//! ```
//!
//! ## Types
//!
//! | Rust | gob (Go) |
//! |---|---|
//! | `bool` | `bool` |
//! | `i8`…`i64`, `char` | `int` |
//! | `u8`…`u64` | `uint` |
//! | `f32`, `f64` | `float` |
//! | `String`, `&str`, enum unit variants (by name) | `string` |
//! | `Vec<u8>`, `serde_bytes` | `[]byte` |
//! | `Vec<T>`, sets, sequences | `[]T` |
//! | `[T; N]`, tuples and tuple structs of one element type | `[N]T` |
//! | maps | `map[K]V` |
//! | structs (fields by name: use `#[serde(rename = "GoName")]`) | `struct` |
//! | `Option<T>` | `*T`: a `None` field is left out, like a nil pointer |
//! | newtypes, `Box<T>` | `T` |
//! | `()`, unit structs | `struct{}` |
//! | [`Time`] | `time.Time` |
//!
//! Go fills only exported fields, matched by name: give Rust fields Go's names
//! (`#[serde(rename_all = "PascalCase")]` or `rename`). Rust fields the wire type lacks
//! decode as their zero value, as Go leaves them, so `#[serde(alias)]` on a struct decoded
//! from gob does not work (an alias looks like one more missing field), nor does
//! `#[serde(flatten)]` (it turns the struct into a map of mixed values).
//!
//! Enum variants with data, `i128`/`u128` and tuples of mixed types have no gob form and fail
//! to encode with an [`Unsupported`](GobErrorKind::Unsupported) error. Go's `complex` values
//! decode as a pair `(f64, f64)`; Go interface values decode as their concrete value (into a
//! [`Value`] or any self-describing type, or a matching Rust type), but cannot be encoded.
//! Go sends the definition of a concrete type inside the first interface value of it on a
//! stream, and ends the message there: the rest of the value comes in the next message. The
//! RPC codec reads such values whole; with a [`Decoder`] of your own, follow
//! [`Decoder::value_continues`] and [`Decoder::define_inline_types`]. Go's `time.Time`, which
//! encodes itself, is [`Time`] both ways; other types that encode themselves (any
//! `GobEncoder` or `BinaryMarshaler`) decode as their bytes and cannot be sent back to Go.
//!
//! As in Go, zero-valued struct fields (0, `""`, `false`, empty sequences, `None`) are left
//! out of a message, and so are empty maps (Go sends an empty but non-nil map; a Rust map
//! cannot tell it from nil). When decoding, fields left out take the zero value of their wire
//! type, so no `#[serde(default)]` is needed, and an absent `Option` field is `None`. A
//! `Some(0)` field therefore arrives as `None`, just as Go loses a pointer to a zero value.
//! Fields of the wire type that the Rust struct lacks are skipped. A top-level `None` cannot
//! be sent (Go refuses a nil pointer), nor can a `None` inside a sequence or map; a top-level
//! `Some(x)` is sent as `x`, and decodes into an `Option` as `Some`.
//!
//! ## Where the type definitions come from
//!
//! Gob sends each type once, complete, and Go checks every field of it against the receiving
//! type, including fields a value leaves out. [`Encoder::encode`] learns the type from the
//! value itself: that cannot tell what an empty `Vec` or a `None` would hold, so struct
//! fields whose type the value does not show are left out of the type definition (the value
//! has nothing to send for them; Go keeps its zero value); a later, fuller value of the same
//! Rust type then defines a second type, which is legal gob, and the encoder remembers each
//! struct's fullest shape so later values reuse it rather than define more. Within one value
//! every occurrence of a struct (by name and field names) gets one type, and a struct found
//! inside itself makes a recursive type, as Go's decoder requires. An unknown type anywhere
//! else (an empty `Vec` at the top level, `vec![vec![]]`) is an error.
//! [`Encoder::encode_typed`] and [`Schema`] instead trace the type through its
//! `Deserialize` implementation, so the full type is sent whatever the value; this needs
//! `T: DeserializeOwned` and does not work for types that deserialize with
//! `deserialize_any` (untagged enums, `#[serde(flatten)]`).

//!
//! ## Go's `net/rpc` over gob
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
//! The codec itself is [`crate::wire::gob`].

use std::io;
use std::net::ToSocketAddrs;

pub use crate::encoding::gob::{
    message_len, write_message_len, Decoder, Encoder, GobError, GobErrorKind, Limits, Schema, Time,
    Value, ValueMessage, DEFAULT_MAX_DEPTH, DEFAULT_MAX_TYPES,
};
use crate::{Client, Conn, Listener, Server, Wire, DEFAULT_RPC_PATH};

/// Serves one connection with the gob codec until the peer hangs up (Go's `ServeConn`).
pub fn serve_conn<C: Conn>(server: &Server, conn: C) {
    server.serve_conn_in(Wire::Gob, conn);
}

/// Accepts connections on `listener` and serves each with the gob codec on a thread of its
/// own (Go's `Accept`). Returns the error that stopped the listener.
pub fn accept<L: Listener>(server: &Server, listener: &L) -> io::Result<()> {
    server.accept_in(Wire::Gob, listener)
}

/// Connects to a gob server at `addr` over TCP (Go's `rpc.Dial`); for timeouts and limits,
/// `Client::builder().wire(Wire::Gob)`.
pub fn dial(addr: impl ToSocketAddrs) -> io::Result<Client> {
    Client::builder().wire(Wire::Gob).dial(addr)
}

/// Connects to a Go `rpc.HandleHTTP` server at `addr` (Go's `rpc.DialHTTP`): `CONNECT
/// /_goRPC_`, then gob; for another path, `Client::builder().wire(Wire::Gob).http(path)`.
pub fn dial_http(addr: impl ToSocketAddrs) -> io::Result<Client> {
    Client::builder()
        .wire(Wire::Gob)
        .http(DEFAULT_RPC_PATH)
        .dial(addr)
}

/// A gob client on a connection already open (Go's `NewClient`).
pub fn new_client<C: Conn>(conn: C) -> io::Result<Client> {
    Client::builder().wire(Wire::Gob).connect(conn)
}
