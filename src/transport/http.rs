//! Go's HTTP handshake, as both ends speak it: reading a head, bounded in size and time, and
//! the `CONNECT` a client sends.

use std::io;
use std::time::{Duration, Instant};

use super::{read_within, Conn, Rewind};

/// The path Go's `rpc.HandleHTTP` serves RPC on.
pub const DEFAULT_RPC_PATH: &str = "/_goRPC_";
/// The path Go's `rpc.HandleHTTP` serves the debug page on.
pub const DEFAULT_DEBUG_PATH: &str = "/debug/rpc";

/// The status line Go's server answers a CONNECT with, and Go's client insists on.
pub(crate) const CONNECTED: &str = "200 Connected to Go RPC";
/// The longest request or response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Sends Go's CONNECT and checks the answer exactly as Go's `DialHTTPPath` does; the
/// returned connection is ready for RPC.
pub(crate) fn connect<C: Conn>(
    mut conn: C,
    path: &str,
    timeout: Duration,
) -> io::Result<Rewind<C>> {
    let peer = conn.peer();
    let write_timeout = conn.write_timeout()?;
    conn.set_write_timeout(Some(timeout))?;
    let head = conn
        .write_all(format!("CONNECT {path} HTTP/1.0\n\n").as_bytes())
        .and_then(|()| read_head(&mut conn, timeout, |_| true))
        .map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the HTTP handshake with {peer} timed out after {timeout:?}"),
            ),
            _ => io::Error::new(e.kind(), format!("the HTTP handshake with {peer}: {e}")),
        })?;
    conn.set_read_timeout(None)?;
    conn.set_write_timeout(write_timeout)?;
    let status = parse_head(&head.bytes, |headers| {
        let mut response = httparse::Response::new(headers);
        let httparse::Status::Complete(_) = response.parse(&head.bytes)? else {
            return Err(httparse::Error::Status);
        };
        Ok(format!(
            "{} {}",
            response.code.unwrap_or_default(),
            response.reason.unwrap_or_default()
        ))
    })
    .map_err(|_| io::Error::other("malformed HTTP response to CONNECT"))?;
    if status != CONNECTED {
        return Err(io::Error::other(format!(
            "unexpected HTTP response: {status}"
        )));
    }
    Ok(Rewind::new(conn, head.rest))
}

/// The path and query of a request target: an absolute-form one (`http://host/debug/rpc`, as
/// proxies send) without its scheme and host, as Go's server routes it.
pub(crate) fn origin_form(target: &str) -> &str {
    let Some(rest) = ["http://", "https://"].iter().find_map(|scheme| {
        target
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &target[scheme.len()..])
    }) else {
        return target;
    };
    rest.find('/').map_or("/", |slash| &rest[slash..])
}

/// Runs `parse` (an `httparse` parse of the complete `head`) with room for 64 headers, or, if
/// the head has more, for as many as its bytes can hold: Go takes any number within its
/// limit on a head's size, as this does within [`MAX_HEAD`].
pub(crate) fn parse_head<'h, T>(
    head: &'h [u8],
    parse: impl Fn(&mut [httparse::Header<'h>]) -> Result<T, httparse::Error>,
) -> Result<T, httparse::Error> {
    match parse(&mut [httparse::EMPTY_HEADER; 64]) {
        Err(httparse::Error::TooManyHeaders) => {
            // A header line takes at least 3 bytes ("a:" and a newline).
            parse(&mut vec![httparse::EMPTY_HEADER; head.len() / 3 + 1])
        }
        parsed => parsed,
    }
}

/// An HTTP head, and the bytes that came after it in the same reads.
pub(crate) struct Head {
    pub(crate) bytes: Vec<u8>,
    pub(crate) rest: Vec<u8>,
}

/// Reads up to the blank line that ends an HTTP head, within [`MAX_HEAD`] bytes and about
/// `timeout` in all, so a slow or garbage peer cannot hold the thread. Each byte is looked at
/// once. Bytes that `may_be_http` says cannot begin the head end it at once (`InvalidInput`).
pub(crate) fn read_head<C: Conn>(
    conn: &mut C,
    timeout: Duration,
    may_be_http: fn(&[u8]) -> bool,
) -> io::Result<Head> {
    let deadline = Instant::now().checked_add(timeout);
    conn.set_read_timeout(deadline.map(|_| timeout))?;
    let mut read_timeout = timeout;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let mut scanned = 0;
    loop {
        if let Some(end) = head_end(&buf, scanned) {
            let rest = buf.split_off(end);
            return Ok(Head { bytes: buf, rest });
        }
        // The end may straddle two reads: look again at the last two bytes.
        scanned = buf.len().saturating_sub(2);
        if buf.len() >= MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP head too large",
            ));
        }
        if let Some(deadline) = deadline {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "HTTP head too slow",
                ));
            }
            read_within(conn, &mut read_timeout, deadline)?;
        }
        let want = chunk.len().min(MAX_HEAD - buf.len());
        match conn.read(&mut chunk[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside the HTTP head",
                ))
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if !may_be_http(&buf) {
                    // Such as a MessagePack-RPC client dialled without `dial_http`: it is
                    // told at once, not after the head timeout.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "not an HTTP request",
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether `buf` may be the front of an HTTP request: up to [`MAX_METHOD`] bytes of CR and
/// LF (of which the head reader takes one empty line, as RFC 9112 asks), then a method, which
/// is a token (RFC 9110's `tchar`s) of at most [`MAX_METHOD`] bytes, up to the first space.
/// Looks at no more than twice that many bytes, however long `buf` is, so a head read a byte
/// at a time costs a bounded look per byte.
pub(crate) fn may_start_a_request(buf: &[u8]) -> bool {
    let front = &buf[..buf.len().min(2 * MAX_METHOD + 1)];
    let Some(start) = front.iter().position(|&b| b != b'\r' && b != b'\n') else {
        return front.len() <= MAX_METHOD;
    };
    let rest = &front[start..];
    let method = rest.split(|&b| b == b' ').next().unwrap_or_default();
    let whole = method.len() < rest.len();
    start <= MAX_METHOD
        && method.len() <= MAX_METHOD
        && (!whole || !method.is_empty())
        && method
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The longest method name taken (`CONNECT` and `OPTIONS` are 7 bytes), and the most bytes
/// of empty lines before it.
const MAX_METHOD: usize = 32;

/// Where the head ends: after the first empty line (`\n\n` or `\n\r\n`; Go sends `\n\n`),
/// looking from `from` on.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.min(buf.len());
    buf[from..]
        .windows(2)
        .enumerate()
        .find_map(|(i, w)| match w {
            b"\n\n" => Some(from + i + 2),
            b"\n\r" if buf.get(from + i + 2) == Some(&b'\n') => Some(from + i + 3),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cannot_start_a_request_is_told_at_once() {
        for front in [
            &b""[..],
            b"\r\n",
            b"GE",
            b"GET",
            b"GET /",
            b"CONNECT /_goRPC_ HTTP/1.0\n",
        ] {
            assert!(may_start_a_request(front), "{front:?}");
        }
        let long = [b'A'; 33];
        let blank = [b'\n'; 40];
        for front in [
            &[0x94, 0x00][..],
            b"{\"method\"",
            b" GET /",
            b"\x16\x03\x01",
            &long,
            &blank,
        ] {
            assert!(!may_start_a_request(front), "{front:?}");
        }
    }

    #[test]
    fn head_ends_at_the_first_empty_line() {
        assert_eq!(head_end(b"CONNECT /x HTTP/1.0\n\nrest", 0), Some(21));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 0), Some(24));
        assert_eq!(
            head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 20),
            Some(24)
        );
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
    }
}
