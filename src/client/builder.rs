//! `ClientBuilder`: every setting of a client, and the ways to connect one.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::Path;
use std::time::Duration;

use super::Client;
use crate::codec::ClientCodec;
use crate::error::CodecError;
use crate::transport::{http, Conn, Keepalive, Shared, SocketOptions};
use crate::wire::{Codecs, Wire, WithCodecs, DEFAULT_MAX_MESSAGE_SIZE};

/// Configures a [`Client`]: the wire, the way in (TCP, a Unix socket, HTTP
/// `CONNECT`, a connection or codec of your own), timeouts, limits and socket options.
///
/// ```no_run
/// use std::time::Duration;
///
/// let client = netrpc::Client::builder()
///     .connect_timeout(Some(Duration::from_secs(2)))
///     .write_timeout(Some(Duration::from_secs(5)))
///     .timeout(Some(Duration::from_secs(10)))
///     .dial("127.0.0.1:1234")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(super) max_message_size: usize,
    pub(super) max_unsent: usize,
    pub(super) timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    socket: SocketOptions,
    wire: Wire,
    http_path: Option<String>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_unsent: DEFAULT_MAX_MESSAGE_SIZE,
            timeout: None,
            connect_timeout: None,
            write_timeout: None,
            socket: SocketOptions::default(),
            wire: Wire::Msgpack,
            http_path: None,
        }
    }
}

/// How long the HTTP handshake may take when no connect timeout is set.
const HTTP_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl ClientBuilder {
    /// The wire the client speaks (default [`Wire::Msgpack`]): [`Wire::Gob`] for Go's
    /// `rpc.Dial`, [`Wire::Json`] for Go's `jsonrpc.Dial`. A client speaks first, so it names
    /// one wire: [`Wire::Detect`] and [`Wire::Http`] make every way of connecting fail with
    /// [`io::ErrorKind::InvalidInput`] (for HTTP, see [`http`](Self::http)).
    pub fn wire(mut self, wire: Wire) -> Self {
        self.wire = wire;
        self
    }

    /// Connects through HTTP: sends `CONNECT path` first and checks for Go's answer, then
    /// speaks the builder's wire (Go's `DialHTTPPath`; [`DEFAULT_RPC_PATH`](crate::DEFAULT_RPC_PATH)
    /// for `DialHTTP`). An unexpected answer is an error carrying its status line. The
    /// handshake is bounded by the connect timeout, or 10 s.
    pub fn http(mut self, path: &str) -> Self {
        self.http_path = Some(path.to_owned());
        self
    }

    /// The largest message sent or accepted, in bytes (default 64 MiB). A request over it
    /// fails with an error and is not sent. A reply over it fails its own call with
    /// [`CodecError::ReplyTooLarge`](crate::CodecError::ReplyTooLarge), its bytes dropped as
    /// they arrive, and the connection goes on; except on JSON-RPC, where the call's `id` may
    /// come after the bulk of the reply, and the connection ends. (On gob, a skipped reply
    /// that was the first on the stream to carry a type inside an interface value takes that
    /// type's definition with it: later replies that need the type fail.)
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The most bytes of requests that may wait for a server that reads them more slowly
    /// than they are made (default 64 MiB, and never less than the message size limit): a
    /// burst of [`Client::go`] calls to a server at its limit of calls in flight, say. While
    /// more than this waits for the server, a call fails at once with an error saying so
    /// ([`Error::Codec`](crate::Error::Codec)) and is not sent; the connection and the calls
    /// before it go on. (Go's `Client.Go` blocks instead.)
    pub fn max_unsent_bytes(mut self, bytes: usize) -> Self {
        self.max_unsent = bytes;
        self
    }

    /// A deadline for every call that waits on a reply: [`Client::call`], [`Client::go`] and
    /// [`Client::go_with`] (default: none; calls wait as long as the connection lives).
    /// [`Client::call_timeout`] and [`Client::go_timeout`] set their own. A call past its
    /// deadline completes with [`Error::Timeout`](crate::Error::Timeout); a late reply is
    /// discarded.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long dialling may take: the TCP connect to each address `addr` resolves to, and
    /// the HTTP handshake (default: the system's connect timeout, and 10 s for the
    /// handshake).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a server may take to accept the bytes of requests (default: none, as in Go).
    /// Callers never wait for a slow server: their requests are queued and written by a
    /// writer thread of the connection's own, which gives up after this long and closes the
    /// connection, failing every pending call.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// TCP keepalive on the connection (default [`Keepalive::default`]: probes after
    /// 15 s idle, every 5 s, dropping the connection after 6 unanswered ones); `None` turns
    /// it off. With [`tcp_user_timeout`](Self::tcp_user_timeout), it finds a peer that
    /// vanished without a word (see [`SocketOptions`]).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.socket.keepalive = keepalive;
        self
    }

    /// How long bytes sent on the connection may go unacknowledged before it is dropped
    /// (Linux's `TCP_USER_TIMEOUT`; default 45 s): a peer that vanished while replies or
    /// requests were on their way, which keepalive never probes. `None` leaves the system's
    /// (about 15 minutes).
    pub fn tcp_user_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.socket.user_timeout = timeout;
        self
    }

    /// Connects over TCP, with `TCP_NODELAY` on.
    pub fn dial(&self, addr: impl ToSocketAddrs) -> io::Result<Client> {
        self.check_wire()?;
        let stream = connect_tcp(addr, self.connect_timeout)?;
        self.socket.apply_tcp(&stream)?;
        self.start_on(Shared::new(stream))
    }

    /// Connects over a Unix domain socket.
    #[cfg(unix)]
    pub fn dial_unix(&self, path: impl AsRef<Path>) -> io::Result<Client> {
        self.check_wire()?;
        let path = path.as_ref();
        let conn = UnixStream::connect(path)
            .map_err(|e| io::Error::new(e.kind(), format!("dial unix {}: {e}", path.display())))?;
        self.start_on(Shared::new(conn))
    }

    /// A client on a connection already open (Go's `NewClient`), in the builder's wire and
    /// through its HTTP handshake if one is set. The builder's write timeout, if set,
    /// replaces the connection's own.
    pub fn connect<C: Conn>(&self, conn: C) -> io::Result<Client> {
        self.check_wire()?;
        self.start_on(conn)
    }

    /// [`connect`](Self::connect) once the wire is checked: dialling checks it before it
    /// opens a connection.
    fn start_on<C: Conn>(&self, conn: C) -> io::Result<Client> {
        if self.write_timeout.is_some() {
            conn.set_write_timeout(self.write_timeout)?;
        }
        match &self.http_path {
            Some(path) => {
                let timeout = self.connect_timeout.unwrap_or(HTTP_HANDSHAKE_TIMEOUT);
                let conn = http::connect(conn, path, timeout)?;
                self.wire.codecs(Connect {
                    builder: self,
                    conn,
                })
            }
            None => self.wire.codecs(Connect {
                builder: self,
                conn,
            }),
        }
    }

    /// A client speaking through `codec` (Go's `NewClientWithCodec`), with this builder's
    /// limits and timeouts; its wire and HTTP path do not apply. The write timeout is the
    /// connection's own: set it before making the codec.
    pub fn codec<C: ClientCodec>(&self, codec: C) -> io::Result<Client> {
        Client::start(codec, self, None).map_err(into_io)
    }

    /// A client names one wire: see [`wire`](Self::wire).
    fn check_wire(&self) -> io::Result<()> {
        match self.wire {
            Wire::Detect | Wire::Http => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "rpc: a client speaks one wire, not {:?}: choose Msgpack, Gob or Json",
                    self.wire
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Starting a client on a connection with the client codec of the builder's wire.
struct Connect<'a, C> {
    builder: &'a ClientBuilder,
    conn: C,
}

impl<C: Conn> WithCodecs for Connect<'_, C> {
    type Output = io::Result<Client>;

    fn with<K: Codecs>(self) -> io::Result<Client> {
        let codec = K::client(self.conn, self.builder.max_message_size);
        Client::start(codec, self.builder, Some(self.builder.wire)).map_err(into_io)
    }
}

/// Tries each address `addr` resolves to, each for at most `timeout`, if any. An error names
/// the address, as Go's do (`dial tcp 127.0.0.1:1: connection refused`), and keeps its kind.
fn connect_tcp(addr: impl ToSocketAddrs, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let mut last = None;
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("dial tcp: {e}")))?;
    for addr in addrs {
        let connected = match timeout {
            None => TcpStream::connect(addr),
            Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
        };
        match connected {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                let why = match timeout {
                    Some(timeout) if e.kind() == io::ErrorKind::TimedOut => {
                        format!("no answer within {timeout:?}")
                    }
                    _ => e.to_string(),
                };
                last = Some(io::Error::new(e.kind(), format!("dial tcp {addr}: {why}")));
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

fn into_io(e: CodecError) -> io::Error {
    match e {
        CodecError::Io(e) => e,
        other => io::Error::other(other),
    }
}
