//! One port for every kind of client: which wire a connection speaks, from its first bytes
//! (documented on [`Wire`]).

#[cfg(feature = "gob")]
pub mod gob;
#[cfg(feature = "json")]
pub mod json;
pub mod msgpack;

use std::io;
use std::time::{Duration, Instant};

use crate::codec::{ClientCodec, ServerCodec};
use crate::error::CodecError;
use crate::transport::{Conn, Rewind};

/// The largest message a codec accepts unless configured otherwise: 64 MiB.
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

/// What a [`Params`](crate::Params) that is no list is told.
pub(crate) fn not_a_list() -> CodecError {
    CodecError::Encode(
        "rpc: Params must hold a tuple, an array, a Vec or (): an argument list".to_owned(),
    )
}

/// A wire's two codecs, made on a connection: what the file of each built-in wire provides.
pub(crate) trait Codecs {
    /// The server's codec on `conn`.
    fn server<C: Conn>(conn: C, max_message_size: usize) -> impl ServerCodec;
    /// The client's codec on `conn`.
    fn client<C: Conn>(conn: C, max_message_size: usize) -> impl ClientCodec;
}

/// Something done with a wire's codecs. They differ in type, so the caller hands over what to
/// do rather than receiving a codec.
pub(crate) trait WithCodecs {
    /// What it returns.
    type Output;
    /// Does it with the codecs of `K`.
    fn with<K: Codecs>(self) -> Self::Output;
}

/// The wire a server speaks on its connections, or [`Wire::Detect`]: one port for every kind
/// of client, each connection's wire told from its first bytes.
///
/// [`Server::accept`](crate::Server::accept) and [`Server::serve_conn`](crate::Server::serve_conn)
/// read the first bytes of a connection (one read; a second only when the first brought a
/// single byte that needs the next), put them back in front of the stream, and serve it in the wire
/// they show. Every client speaks first, and each wire's first byte is distinct:
///
/// | first bytes | wire | why |
/// |---|---|---|
/// | `0x90`–`0x9f`, `0xdc`, `0xdd` | MessagePack-RPC | every message is an array: a fixarray (`0x94` request, `0x93` notification) or an `array 16/32` |
/// | `{`, `[`, space, tab, CR, LF, then a byte under `0x80` | Go's JSON-RPC | a JSON object, perhaps after whitespace (JSON text is ASCII outside strings) |
/// | two uppercase ASCII letters (`CONNECT `, `GET `, `HEAD `, …) | HTTP | a request line; `CONNECT` to the RPC path then detects again among the RPC wires, `GET` of the debug page shows it |
/// | `0x01`–`0x7f` otherwise, or `0xf8`–`0xff` | Go's gob | a message length (a byte under 128, or a byte count `0xf8`–`0xff` for a longer one); Go's first message defines the `Request` type, id -65, so the byte after a one-byte length is `0xff` |
/// | anything else (`0x00`, `0x80`–`0x8f`, `0xa0`–`0xf7` but `0xdc`/`0xdd`) | MessagePack-RPC | whose codec then says what is wrong |
///
/// A gob length that happens to be an uppercase letter (65–90) or one of JSON's first bytes
/// is followed by `0xff` (the byte count of the type id -65 or beyond), never by a letter or
/// other ASCII, so the second byte tells gob from HTTP and JSON. (Go's own first byte is
/// `0x2f`, the length of its `Request` definition.)
///
/// Detection waits no longer than the server's read timeout (in all, across both reads); with
/// none, it waits for the first byte as any read does. A server pinned to one wire
/// ([`ServerBuilder::wire`](crate::ServerBuilder::wire)) does not look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wire {
    /// Tell each connection's wire from its first bytes (the default; see the table above).
    #[default]
    Detect,
    /// MessagePack-RPC only.
    Msgpack,
    /// Go's gob (`net/rpc`'s default codec) only.
    #[cfg(feature = "gob")]
    Gob,
    /// Go's JSON-RPC (`net/rpc/jsonrpc`) only.
    #[cfg(feature = "json")]
    Json,
    /// HTTP only: `CONNECT` to the RPC path, then any RPC wire; `GET` of the debug page.
    Http,
}

impl Wire {
    /// Does `then` with this wire's codecs: the one place a wire is mapped to them.
    /// [`Wire::Detect`] and [`Wire::Http`] are told apart before this, and mean
    /// MessagePack-RPC here.
    pub(crate) fn codecs<W: WithCodecs>(self, then: W) -> W::Output {
        match self {
            #[cfg(feature = "gob")]
            Wire::Gob => then.with::<gob::Gob>(),
            #[cfg(feature = "json")]
            Wire::Json => then.with::<json::Json>(),
            _ => then.with::<msgpack::Msgpack>(),
        }
    }
}

/// What the first bytes say, once they say it.
fn classify(bytes: &[u8]) -> Option<Wire> {
    let &first = bytes.first()?;
    Some(match first {
        0x90..=0x9f | 0xdc | 0xdd => Wire::Msgpack,
        #[cfg(feature = "json")]
        b'{' | b'[' | b' ' | b'\t' | b'\r' | b'\n' => match bytes.get(1) {
            None => return None,
            #[cfg(feature = "gob")]
            Some(0x80..=0xff) => Wire::Gob,
            Some(_) => Wire::Json,
        },
        b'A'..=b'Z' => match bytes.get(1) {
            None => return None,
            Some(b'A'..=b'Z') => Wire::Http,
            #[cfg(feature = "gob")]
            Some(_) => Wire::Gob,
            #[cfg(not(feature = "gob"))]
            Some(_) => Wire::Msgpack,
        },
        #[cfg(feature = "gob")]
        0x01..=0x7f | 0xf8..=0xff => Wire::Gob,
        _ => Wire::Msgpack,
    })
}

/// Reads the first bytes of `conn` and says which wire they are; the connection comes back
/// with them put back in front. `Ok(None)` if the peer closed before sending anything.
/// `http`: whether HTTP is a possible answer (not after a `CONNECT`).
pub(crate) fn detect<C: Conn>(mut conn: C, http: bool) -> io::Result<Option<(Wire, Rewind<C>)>> {
    let timeout = conn.read_timeout()?;
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    // Two bytes tell the wire; a connection idle before its first request holds no more.
    let mut buf = vec![0u8; 16];
    let mut len = 0;
    let mut shortened = false;
    let wire = loop {
        if len > 0 {
            if let Some(wire) = classify(&buf[..len]) {
                break wire;
            }
            // One uppercase letter: a second read, within what is left of the timeout.
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the first bytes did not arrive within the read timeout",
                ));
            }
            conn.set_read_timeout(left)?;
            shortened = true;
        }
        match conn.read(&mut buf[len..]) {
            Ok(0) if len == 0 => return Ok(None),
            Ok(0) => break Wire::Msgpack,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if shortened {
        conn.set_read_timeout(timeout)?;
    }
    let wire = match wire {
        Wire::Http if !http => Wire::Msgpack,
        wire => wire,
    };
    buf.truncate(len);
    Ok(Some((wire, Rewind::new(conn, buf))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_tell_the_wires_apart() {
        assert_eq!(classify(&[0x94, 0x00]), Some(Wire::Msgpack));
        assert_eq!(classify(&[0x93]), Some(Wire::Msgpack));
        assert_eq!(classify(&[0xdc]), Some(Wire::Msgpack));
        assert_eq!(classify(&[0x80]), Some(Wire::Msgpack));
        assert_eq!(classify(b"CONNECT /_goRPC_ HTTP/1.0"), Some(Wire::Http));
        assert_eq!(classify(b"GE"), Some(Wire::Http));
        assert_eq!(classify(b"G"), None);
        assert_eq!(classify(b""), None);
        #[cfg(feature = "json")]
        {
            assert_eq!(classify(b"{\"method\""), Some(Wire::Json));
            assert_eq!(classify(b"\n{"), Some(Wire::Json));
            assert_eq!(classify(b"{"), None);
        }
        #[cfg(feature = "gob")]
        {
            // Go's first message: its length, then the type id -65 as 0xff 0x81.
            assert_eq!(classify(&[0x2f, 0xff, 0x81]), Some(Wire::Gob));
            assert_eq!(classify(&[b'C', 0xff, 0x81]), Some(Wire::Gob));
            assert_eq!(classify(&[0xfe, 0x01, 0x00]), Some(Wire::Gob));
            assert_eq!(classify(&[b'{', 0xff, 0x81]), Some(Wire::Gob));
            assert_eq!(classify(&[b' ', 0xff, 0x81]), Some(Wire::Gob));
        }
    }
}
