//! RPC over HTTP, compatible with Go's `HandleHTTP` / `DialHTTP`, and the debug page.
//!
//! The client sends `CONNECT /_goRPC_ HTTP/1.0`; the server answers
//! `HTTP/1.0 200 Connected to Go RPC` and from then on the connection is a plain RPC stream,
//! in whichever RPC wire its first bytes show (gob from Go's `DialHTTP`; see `Wire`).
//! The handshake bytes are Go's, byte for byte. `GET /debug/rpc` shows every service, its
//! methods and how often each was called, as HTML or, with `?format=json` or
//! `Accept: application/json`, as JSON.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::Server;
use crate::service::ServiceEntry;
use crate::transport::{read_within, Conn, Listener};

/// The path Go's `rpc.HandleHTTP` serves RPC on.
pub const DEFAULT_RPC_PATH: &str = "/_goRPC_";
/// The path Go's `rpc.HandleHTTP` serves the debug page on.
pub const DEFAULT_DEBUG_PATH: &str = "/debug/rpc";

/// The status line Go's server answers a CONNECT with, and Go's client insists on.
const CONNECTED: &str = "200 Connected to Go RPC";
/// The longest request or response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// How long a peer may take to send its whole head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves a [`Server`] over HTTP: RPC on one path, the debug page on another.
///
/// Made by [`Server::handle_http`]; [`Server::serve_http`] uses Go's default paths.
#[derive(Clone)]
pub struct HttpHandler {
    server: Server,
    rpc_path: Arc<str>,
    debug_path: Arc<str>,
    head_timeout: Duration,
}

impl Server {
    /// An HTTP front for this server: `CONNECT rpc_path` starts an RPC session and
    /// `GET debug_path` shows the debug page (Go's `HandleHTTP`).
    pub fn handle_http(&self, rpc_path: &str, debug_path: &str) -> HttpHandler {
        HttpHandler {
            server: self.clone(),
            rpc_path: rpc_path.into(),
            debug_path: debug_path.into(),
            head_timeout: HEAD_TIMEOUT,
        }
    }

    /// Serves HTTP on `listener` with Go's default paths, [`DEFAULT_RPC_PATH`] and
    /// [`DEFAULT_DEBUG_PATH`], one thread per connection.
    pub fn serve_http<L: Listener>(&self, listener: &L) -> io::Result<()> {
        self.handle_http(DEFAULT_RPC_PATH, DEFAULT_DEBUG_PATH)
            .serve(listener)
    }

    /// Serves one HTTP connection with Go's default paths: reads its request and answers it.
    /// For programs that accept connections themselves and hand some of them to netrpc.
    pub fn serve_http_conn<C: Conn>(&self, conn: C) {
        self.handle_http(DEFAULT_RPC_PATH, DEFAULT_DEBUG_PATH)
            .serve_conn(conn)
    }
}

impl HttpHandler {
    /// How long a peer may take to send its whole request head (default 10 s, or the server's
    /// read timeout if that is shorter); a slower one gets `408 Request Timeout` and is
    /// disconnected.
    pub fn head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout;
        self
    }

    /// Accepts connections on `listener` and serves each on a thread of its own.
    pub fn serve<L: Listener>(&self, listener: &L) -> io::Result<()> {
        let handler = self.clone();
        self.server
            .accept_with(listener, move |conn| handler.serve_conn(conn))
    }

    /// Reads one HTTP request from `conn` and answers it; a CONNECT to the RPC path goes on
    /// as an RPC session until the peer hangs up.
    pub fn serve_conn<C: Conn>(&self, mut conn: C) {
        // Shutdown closes a connection still sending its head, or still taking the answer.
        let Some(tracked) = self.server.track_conn(&conn) else {
            let _ = conn.shutdown();
            return;
        };
        // The write timeout bounds the answer too: a peer that never reads it is let go.
        self.server.apply_timeouts(&conn);
        // A head is a request: the server's read timeout bounds it too.
        let timeout = self
            .server
            .read_timeout()
            .map_or(self.head_timeout, |read| read.min(self.head_timeout));
        let head = read_head(&mut conn, timeout, may_start_a_request);
        let head = match head {
            Ok(head) => head,
            Err(e) => {
                let status = match e.kind() {
                    io::ErrorKind::InvalidData => "431 Request Header Fields Too Large",
                    io::ErrorKind::InvalidInput => "400 Bad Request",
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "408 Request Timeout",
                    _ => return,
                };
                let _ = respond(&mut conn, status, TEXT, status.as_bytes());
                return;
            }
        };
        let parsed = parse_head(&head.bytes, |headers| {
            let mut request = httparse::Request::new(headers);
            let httparse::Status::Complete(_) = request.parse(&head.bytes)? else {
                return Err(httparse::Error::Status);
            };
            let accept = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("accept"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned());
            Ok((
                request.method.unwrap_or_default().to_owned(),
                request.path.unwrap_or_default().to_owned(),
                accept.is_some_and(|a| a.contains("application/json")),
            ))
        });
        let (method, target, wants_json) = match parsed {
            Ok(parsed) => parsed,
            Err(_) => {
                let _ = respond(&mut conn, "400 Bad Request", TEXT, b"400 Bad Request\n");
                return;
            }
        };
        let target = origin_form(&target);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path == &*self.rpc_path {
            if method != "CONNECT" {
                let _ = respond(
                    &mut conn,
                    "405 Method Not Allowed",
                    TEXT,
                    b"405 must CONNECT\n",
                );
                return;
            }
            let connected = write_within(&mut conn, format!("HTTP/1.0 {CONNECTED}\n\n").as_bytes())
                .and_then(|()| conn.set_read_timeout(None));
            if let Err(e) = connected {
                log::warn!("rpc hijacking {}: {e}", conn.peer());
                return;
            }
            drop(tracked); // The RPC session is tracked as any other connection.
            self.server.serve_rpc_conn(Rewind::new(conn, head.rest));
        } else if path == &*self.debug_path {
            if method != "GET" && method != "HEAD" {
                let _ = respond(&mut conn, "405 Method Not Allowed", TEXT, b"405 must GET\n");
                return;
            }
            let services = self.server.services();
            let json = wants_json || query.split('&').any(|kv| kv == "format=json");
            let (content_type, body) = if json {
                ("application/json", debug_json(&services))
            } else {
                ("text/html; charset=utf-8", debug_html(&services))
            };
            let head_only = method == "HEAD";
            let _ = write_response(
                &mut conn,
                "200 OK",
                content_type,
                body.as_bytes(),
                head_only,
            );
        } else {
            let _ = respond(&mut conn, "404 Not Found", TEXT, b"404 page not found\n");
        }
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// Writes a complete response, within the connection's write timeout in all, and closes the
/// connection.
fn respond<C: Conn>(conn: &mut C, status: &str, content_type: &str, body: &[u8]) -> io::Result<()> {
    write_response(conn, status, content_type, body, false)
}

/// [`respond`], leaving the body out (but not its length) if `head_only`, for `HEAD`.
fn write_response<C: Conn>(
    conn: &mut C,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body);
    }
    let written = write_within(conn, &response);
    let _ = conn.shutdown();
    written
}

/// Writes all of `bytes`, giving up once the connection's write timeout has passed: each
/// write is bounded by it, and a peer that reads a trickle must not stretch the whole.
fn write_within<C: Conn>(conn: &mut C, bytes: &[u8]) -> io::Result<()> {
    let deadline = conn
        .write_timeout()?
        .and_then(|timeout| Instant::now().checked_add(timeout));
    let mut sent = 0;
    while sent < bytes.len() {
        match conn.write(&bytes[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if sent < bytes.len() && deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer took too long to read the answer",
            ));
        }
    }
    conn.flush()
}

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
fn origin_form(target: &str) -> &str {
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
fn parse_head<'h, T>(
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
struct Head {
    bytes: Vec<u8>,
    rest: Vec<u8>,
}

/// Reads up to the blank line that ends an HTTP head, within [`MAX_HEAD`] bytes and about
/// `timeout` in all, so a slow or garbage peer cannot hold the thread. Each byte is looked at
/// once. Bytes that `may_be_http` says cannot begin the head end it at once (`InvalidInput`).
fn read_head<C: Conn>(
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
fn may_start_a_request(buf: &[u8]) -> bool {
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

/// A connection with bytes already read from it put back in front.
pub(crate) struct Rewind<C> {
    prefix: Vec<u8>,
    pos: usize,
    inner: C,
}

impl<C> Rewind<C> {
    pub(crate) fn new(inner: C, prefix: Vec<u8>) -> Self {
        Rewind {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<C: Read> Read for Rewind<C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = (&self.prefix[self.pos..]).read(buf)?;
            self.pos += n;
            if self.pos == self.prefix.len() {
                // Given back: a connection lives long after its first bytes.
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl<C: Write> Write for Rewind<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<C: Conn> Conn for Rewind<C> {
    /// The clone writes; the bytes put back belong to the original, which reads.
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Rewind::new(self.inner.try_clone()?, Vec::new()))
    }

    fn shutdown(&self) -> io::Result<()> {
        self.inner.shutdown()
    }

    fn peer(&self) -> String {
        self.inner.peer()
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.write_timeout()
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.read_timeout()
    }

    fn write_nonblocking(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        self.inner.write_nonblocking(buf)
    }
}

/// Each service's methods, sorted by name.
fn sorted_methods(service: &ServiceEntry) -> Vec<(&str, &crate::service::Method)> {
    let mut methods: Vec<_> = service
        .methods
        .iter()
        .map(|(name, method)| (name.as_str(), &**method))
        .collect();
    methods.sort_by_key(|(name, _)| *name);
    methods
}

/// The debug page as Go lays it out: a table of methods and call counts per service.
fn debug_html(services: &[Arc<ServiceEntry>]) -> String {
    let mut page = String::from("<html>\n<body>\n<title>Services</title>\n");
    for service in services {
        page.push_str(&format!(
            "<hr>\nService {}\n<hr>\n<table>\n<th align=center>Method</th><th align=center>Calls</th>\n",
            html_escape(&service.name)
        ));
        for (name, method) in sorted_methods(service) {
            page.push_str(&format!(
                "<tr>\n<td align=left font=fixed>{}({}, {}) error</td>\n<td align=center>{}</td>\n</tr>\n",
                html_escape(name),
                html_escape(method.arg_type),
                html_escape(method.reply_type),
                method.calls()
            ));
        }
        page.push_str("</table>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// The debug page's data as JSON:
/// `{"services":[{"name":…,"methods":[{"name":…,"arg_type":…,"reply_type":…,"calls":…}]}]}`.
fn debug_json(services: &[Arc<ServiceEntry>]) -> String {
    let services: Vec<String> = services
        .iter()
        .map(|service| {
            let methods: Vec<String> = sorted_methods(service)
                .into_iter()
                .map(|(name, method)| {
                    format!(
                        r#"{{"name":{},"arg_type":{},"reply_type":{},"calls":{}}}"#,
                        json_string(name),
                        json_string(method.arg_type),
                        json_string(method.reply_type),
                        method.calls()
                    )
                })
                .collect();
            format!(
                r#"{{"name":{},"methods":[{}]}}"#,
                json_string(&service.name),
                methods.join(",")
            )
        })
        .collect();
    format!(r#"{{"services":[{}]}}"#, services.join(","))
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("Vec<u8> & \"x\""),
            "Vec&lt;u8&gt; &amp; &#34;x&#34;"
        );
        assert_eq!(json_string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
    }
}
