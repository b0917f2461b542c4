//! RPC over HTTP, compatible with Go's `HandleHTTP` / `DialHTTP`, and the debug page.
//!
//! The client sends `CONNECT /_goRPC_ HTTP/1.0`; the server answers
//! `HTTP/1.0 200 Connected to Go RPC` and from then on the connection is a plain RPC stream,
//! in whichever RPC wire its first bytes show (gob from Go's `DialHTTP`; see `Wire`).
//! The handshake bytes are Go's, byte for byte. `GET /debug/rpc` shows every service, its
//! methods and how often each was called, as HTML or, with `?format=json` or
//! `Accept: application/json`, as JSON.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::debug::{debug_html, debug_json};
use super::Server;
use crate::transport::http::{
    may_start_a_request, origin_form, parse_head, read_head, CONNECTED, DEFAULT_DEBUG_PATH,
    DEFAULT_RPC_PATH,
};
use crate::transport::{Conn, Listener, Rewind};

/// How long a peer may take to send its whole head, unless configured otherwise.
pub(super) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a server answers HTTP, and how long it waits for a request head.
#[derive(Clone)]
pub(super) struct HttpConfig {
    pub(super) rpc_path: Arc<str>,
    pub(super) debug_path: Arc<str>,
    pub(super) head_timeout: Duration,
    /// What `GET /metrics` renders, if the server serves metrics.
    #[cfg(feature = "prometheus")]
    pub(super) prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("HttpConfig");
        out.field("rpc_path", &self.rpc_path)
            .field("debug_path", &self.debug_path)
            .field("head_timeout", &self.head_timeout);
        #[cfg(feature = "prometheus")]
        out.field("prometheus", &self.prometheus.is_some());
        out.finish()
    }
}

/// Where a server with [`ServerBuilder::prometheus`](crate::ServerBuilder::prometheus) answers
/// Prometheus.
#[cfg(feature = "prometheus")]
pub const METRICS_PATH: &str = "/metrics";

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            rpc_path: DEFAULT_RPC_PATH.into(),
            debug_path: DEFAULT_DEBUG_PATH.into(),
            head_timeout: HEAD_TIMEOUT,
            #[cfg(feature = "prometheus")]
            prometheus: None,
        }
    }
}

impl Server {
    /// Serves HTTP on `listener`, one thread per connection (Go's `HandleHTTP` followed by
    /// `http.Serve`): `CONNECT` to the RPC path starts an RPC session, `GET` of the debug path
    /// shows the debug page; Go's [`DEFAULT_RPC_PATH`] and [`DEFAULT_DEBUG_PATH`] unless
    /// [`ServerBuilder::http_paths`](crate::ServerBuilder::http_paths) says otherwise.
    pub fn serve_http<L: Listener>(&self, listener: &L) -> io::Result<()> {
        let server = self.clone();
        self.accept_with(listener, move |conn| server.serve_http_conn(conn))
    }

    /// Reads one HTTP request from `conn` and answers it; a `CONNECT` to the RPC path goes on
    /// as an RPC session until the peer hangs up. For programs that accept connections
    /// themselves and hand some of them to netrpc.
    #[inline(never)] // Its frame would stay under every RPC connection's life (see `State::serve`).
    pub fn serve_http_conn<C: Conn>(&self, mut conn: C) {
        // Shutdown closes a connection still sending its head, or still taking the answer.
        let Some(tracked) = self.track_conn(&conn) else {
            let _ = conn.shutdown();
            return;
        };
        // The write timeout bounds the answer too: a peer that never reads it is let go.
        self.apply_timeouts(&conn);
        // A head is a request: the server's read timeout bounds it too.
        let http = &self.state.http;
        let timeout = self
            .read_timeout()
            .map_or(http.head_timeout, |read| read.min(http.head_timeout));
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
        if path == &*http.rpc_path {
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
                tracing::warn!("rpc hijacking {}: {e}", conn.peer());
                return;
            }
            drop(tracked); // The RPC session is tracked as any other connection.
            self.serve_rpc_conn(Rewind::new(conn, head.rest));
        } else if path == &*http.debug_path {
            serve_page(&mut conn, &method, || {
                let services = self.services();
                if wants_json || query.split('&').any(|kv| kv == "format=json") {
                    ("application/json", debug_json(&services))
                } else {
                    ("text/html; charset=utf-8", debug_html(&services))
                }
            });
        } else if let Some(render) = metrics_page(http, path) {
            serve_page(&mut conn, &method, || {
                ("text/plain; version=0.0.4; charset=utf-8", render())
            });
        } else {
            let _ = respond(&mut conn, "404 Not Found", TEXT, b"404 page not found\n");
        }
    }
}

/// Answers `GET` (or `HEAD`) with the page `render` makes, as a content type and a body; any
/// other method gets `405`.
fn serve_page<C: Conn>(
    conn: &mut C,
    method: &str,
    render: impl FnOnce() -> (&'static str, String),
) {
    if method != "GET" && method != "HEAD" {
        let _ = respond(conn, "405 Method Not Allowed", TEXT, b"405 must GET\n");
        return;
    }
    let (content_type, body) = render();
    let _ = write_response(
        conn,
        "200 OK",
        content_type,
        body.as_bytes(),
        method == "HEAD",
    );
}

/// What renders the metrics in Prometheus's text format, if `path` is where this server
/// serves them.
#[cfg(feature = "prometheus")]
fn metrics_page<'a>(http: &'a HttpConfig, path: &str) -> Option<impl FnOnce() -> String + 'a> {
    let handle = http.prometheus.as_ref().filter(|_| path == METRICS_PATH)?;
    Some(move || handle.render())
}

#[cfg(not(feature = "prometheus"))]
fn metrics_page(_: &HttpConfig, _: &str) -> Option<fn() -> String> {
    None
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
