//! The connection layer: the byte stream a connection is ([`Conn`]), where connections come
//! from ([`Listener`]), reading within size and time bounds, the one writer per connection,
//! and Go's HTTP handshake. Nothing here knows a wire, a server or a client.

mod conn;
pub(crate) mod framed;
pub(crate) mod http;
mod listener;
pub(crate) mod outbox;
mod rewind;
mod socket;

pub(crate) use conn::{read_within, thread_name, READER_STACK_SIZE};
pub use conn::{Conn, Shared};
pub use listener::{Listener, Waker};
pub use outbox::Output;
pub(crate) use rewind::Rewind;
pub use socket::{Keepalive, SocketOptions};
