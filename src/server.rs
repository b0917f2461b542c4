//! The server: registered services, connections, and the path of a request through them.
//!
//! Each connection has one reader thread, which decodes requests and hands them to the worker
//! pool (see `conn.rs`); the worker runs the method and its reply leaves as the method
//! returns, so responses on one connection may complete out of order, as in Go.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::codec::msgpack::{MsgpackServerCodec, DEFAULT_MAX_MESSAGE_SIZE};
use crate::codec::ServerCodec;
use crate::conn::{Close, Limits, OpenGuard, Shared};
use crate::error::{CodecError, RegisterError};
use crate::http::Rewind;
use crate::outbox::Outbox;
use crate::pool::{Pool, PoolConfig, TIME_SLICE};
use crate::service::{Registry, Service, ServiceEntry};
use crate::sniff::{self, Wire};
use crate::transport::{thread_name, Conn, Listener, SocketOptions, Waker, READER_STACK_SIZE};

/// An RPC server: a set of registered services, served on any number of connections.
///
/// `Server` is a cheap handle (an `Arc` inside): clone it into the threads that serve.
///
/// ```
/// use netrpc::{Server, Service};
///
/// struct Greeter;
/// impl Greeter {
///     fn hello(&self, name: String) -> Result<String, String> {
///         Ok(format!("hello, {name}"))
///     }
/// }
///
/// let server = Server::new();
/// server.register(Service::new(Greeter).method("Hello", Greeter::hello))?;
/// // Then: server.accept(&listener), or server.serve_conn(stream) per connection.
/// # Ok::<(), netrpc::RegisterError>(())
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

// User code that panics (a method, a reply's `Serialize`) is caught where it runs, and the
// server's locks do not poison: a server used across `catch_unwind` is as it was.
impl std::panic::UnwindSafe for Server {}
impl std::panic::RefUnwindSafe for Server {}

struct Inner {
    shared: Arc<Shared>,
    socket: SocketOptions,
    conn_stack_size: usize,
    wire: Wire,
    /// Connections accepted by `accept_with` and still served.
    accepted: AtomicUsize,
    /// How to wake each running accept loop, for shutdown.
    wakers: Mutex<HashMap<u64, Arc<dyn Fn() + Send + Sync>>>,
    next_waker: AtomicU64,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let services: Vec<String> = self
            .services()
            .iter()
            .map(|service| service.name.clone())
            .collect();
        f.debug_struct("Server")
            .field("services", &services)
            .field("in_flight", &self.inner.shared.in_flight())
            .field("shutting_down", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server with the default configuration (see [`ServerBuilder`]).
    pub fn new() -> Server {
        ServerBuilder::new().build()
    }

    /// Configures a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// Registers `service` under the name of its type (see [`Service::name`]).
    pub fn register<T: Send + Sync + 'static>(
        &self,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        let name = service.name();
        self.register_name(name, service)
    }

    /// Registers `service` under `name`; its methods are called as `"name.Method"`.
    pub fn register_name<T: Send + Sync + 'static>(
        &self,
        name: &str,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        self.inner.shared.registry.register(name, service)
    }

    /// Accepts connections on `listener` and serves each on a thread of its own, named
    /// `netrpc-conn-<peer>`. Returns the error that stopped the listener, or `Ok(())` once
    /// the server shuts down.
    pub fn accept<L: Listener>(&self, listener: &L) -> io::Result<()> {
        let server = self.clone();
        self.accept_with(listener, move |conn| server.serve_conn(conn))
    }

    /// The accept loop behind [`Server::accept`] and HTTP serving: runs `serve` on a thread of
    /// its own for each connection.
    pub(crate) fn accept_with<L: Listener>(
        &self,
        listener: &L,
        serve: impl Fn(L::Conn) + Clone + Send + 'static,
    ) -> io::Result<()> {
        // Registered before the first look at the flag: a shutdown either finds the waker or
        // is seen by that look.
        let _waker = listener.waker().map(|waker| self.add_waker(waker));
        loop {
            if self.is_shutting_down() {
                return Ok(());
            }
            let conn = match listener.accept_conn() {
                Ok(conn) => conn,
                Err(e) => match e.kind() {
                    io::ErrorKind::TimedOut
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        // A listener set non-blocking: poll it rather than spin.
                        thread::sleep(NONBLOCKING_POLL);
                        continue;
                    }
                    _ if is_fd_exhaustion(&e) => {
                        // Out of file descriptors: wait for connections to close, then go on.
                        log::error!("rpc.Serve: accept: {e}; retrying");
                        thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    _ => {
                        log::error!("rpc.Serve: accept: {e}");
                        return Err(e);
                    }
                },
            };
            if self.is_shutting_down() {
                let _ = conn.shutdown();
                return Ok(());
            }
            let peer = conn.peer();
            let limit = self.inner.shared.limits.max_connections;
            if self.inner.accepted.load(Ordering::Acquire) >= limit {
                log::warn!("rpc: {limit} connections open already; closing the one from {peer}");
                let _ = conn.shutdown();
                continue;
            }
            if let Err(e) = listener.prepare(&conn, &self.inner.socket) {
                log::warn!("rpc: configuring connection from {peer}: {e}");
            }
            self.inner.accepted.fetch_add(1, Ordering::AcqRel);
            let accepted = AcceptedGuard(self.clone());
            let serve = serve.clone();
            let spawned = thread::Builder::new()
                .name(thread_name("netrpc-conn", &peer))
                .stack_size(self.inner.conn_stack_size)
                .spawn(move || {
                    let _accepted = accepted;
                    serve(conn);
                });
            if let Err(e) = spawned {
                log::error!("rpc: cannot start a thread for {peer}: {e}");
            }
        }
    }

    fn add_waker(&self, waker: Waker) -> WakerGuard {
        let id = self.inner.next_waker.fetch_add(1, Ordering::Relaxed);
        self.inner.wakers.lock().insert(id, Arc::from(waker));
        WakerGuard {
            server: self.clone(),
            id,
        }
    }

    /// Serves one connection until the peer hangs up, in the wire its first bytes show
    /// (MessagePack-RPC, Go's gob, Go's JSON-RPC, or HTTP: see [`Wire`]), or in the one
    /// wire the server is pinned to ([`ServerBuilder::wire`]).
    pub fn serve_conn<C: Conn>(&self, conn: C) {
        if self.is_shutting_down() {
            let _ = conn.shutdown();
            return;
        }
        self.apply_timeouts(&conn);
        match self.inner.wire {
            Wire::Detect => self.detect_and_serve(conn, true),
            Wire::Http => self.serve_http_conn(conn),
            wire => self.serve_wire(wire, conn),
        }
    }

    /// Serves an RPC stream that follows an HTTP `CONNECT`: any RPC wire, never HTTP again.
    pub(crate) fn serve_rpc_conn<C: Conn>(&self, conn: C) {
        if self.is_shutting_down() {
            let _ = conn.shutdown();
            return;
        }
        self.apply_timeouts(&conn);
        match self.inner.wire {
            Wire::Detect | Wire::Http => self.detect_rpc_and_serve(conn),
            wire => self.serve_wire(wire, conn),
        }
    }

    /// Reads the first bytes and serves the connection in the wire they show; `http`:
    /// whether HTTP may be it (not after a `CONNECT`).
    fn detect_and_serve<C: Conn>(&self, conn: C, http: bool) {
        match self.detect(conn, http) {
            Some((Wire::Http, conn)) => self.serve_http_conn(conn),
            Some((wire, conn)) => self.serve_wire(wire, conn),
            None => {}
        }
    }

    /// [`detect_and_serve`](Self::detect_and_serve) after a `CONNECT`: never HTTP again.
    fn detect_rpc_and_serve<C: Conn>(&self, conn: C) {
        if let Some((wire, conn)) = self.detect(conn, false) {
            self.serve_wire(wire, conn);
        }
    }

    /// The wire of `conn`, from its first bytes; `None` if it closed or failed first.
    fn detect<C: Conn>(&self, conn: C, http: bool) -> Option<(Wire, Rewind<C>)> {
        // Shutdown closes a connection that has not said its wire yet, too.
        let Some(reading) = self.track_conn(&conn) else {
            let _ = conn.shutdown();
            return None;
        };
        let peer = conn.peer();
        let detected = sniff::detect(conn, http);
        drop(reading);
        match detected {
            Ok(found) => found,
            Err(e) => {
                log::debug!("rpc: {peer}: reading the first bytes: {e}");
                None
            }
        }
    }

    /// Serves `conn` with the codec of `wire` (not [`Wire::Detect`] or [`Wire::Http`]).
    fn serve_wire<C: Conn>(&self, wire: Wire, conn: C) {
        let limit = self.max_message_size();
        match wire {
            #[cfg(feature = "gob")]
            Wire::Gob => self.serve_codec(
                crate::codec::gob::GobServerCodec::with_max_message_size(conn, limit),
            ),
            #[cfg(feature = "json")]
            Wire::Json => self.serve_codec(
                crate::codec::json::JsonServerCodec::with_max_message_size(conn, limit),
            ),
            _ => self.serve_codec(MsgpackServerCodec::with_max_message_size(conn, limit)),
        }
    }

    /// The configured read timeout.
    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.inner.shared.limits.read_timeout
    }

    /// Sets the configured read and write timeouts on `conn`.
    pub(crate) fn apply_timeouts<C: Conn>(&self, conn: &C) {
        let limits = &self.inner.shared.limits;
        // Each on its own: one the socket refuses (a zero timeout) leaves the other set.
        if let Err(e) = conn.set_read_timeout(limits.read_timeout) {
            log::warn!("rpc: setting the read timeout on {}: {e}", conn.peer());
        }
        if let Err(e) = conn.set_write_timeout(limits.write_timeout) {
            log::warn!("rpc: setting the write timeout on {}: {e}", conn.peer());
        }
    }

    /// Serves one connection with `codec` until the peer hangs up.
    ///
    /// This thread reads requests; the worker pool runs them and each reply leaves as its
    /// method returns. The connection is closed once the last in-flight call has answered.
    pub fn serve_codec<C: ServerCodec>(&self, codec: C) {
        self.inner.shared.serve(codec);
    }

    /// Registers a connection whose HTTP head is being read, to be closed at shutdown;
    /// `None` if the server is shutting down already.
    pub(crate) fn track_conn<C: Conn>(&self, conn: &C) -> Option<OpenGuard> {
        let closer = Arc::new(ConnCloser::new(conn.try_clone().ok()?));
        self.inner.shared.track(closer)
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.inner.shared.is_shutting_down()
    }

    /// Shuts the server down gracefully: `accept` stops and returns `Ok(())`, requests that
    /// arrive from now on are answered with `rpc: server is shutting down`, calls in flight
    /// get up to `grace` to finish and answer, and then every connection is closed, including
    /// those still sending their HTTP head. Connections that arrive later are closed at once.
    /// Returns once the connections are closed. A method may call it: the call running it is
    /// not waited for.
    pub fn shutdown(&self, grace: Duration) {
        let shared = &self.inner.shared;
        shared.begin_shutdown();
        let wakers: Vec<_> = self.inner.wakers.lock().values().cloned().collect();
        for wake in wakers {
            wake();
        }
        let deadline = Instant::now().checked_add(grace);
        while shared.in_flight_but_ours() > 0 && deadline.is_none_or(|d| Instant::now() < d) {
            thread::sleep(Duration::from_millis(5));
        }
        shared.close_all();
    }

    /// Makes the codec [`Server::serve_request`] reads from and answers through.
    pub fn request_codec<C: ServerCodec>(
        &self,
        mut codec: C,
    ) -> Result<RequestCodec<C>, CodecError> {
        let (encoder, output) = codec.writer()?;
        let outbox = Outbox::new(encoder, output, self.inner.shared.outbox_limits());
        Ok(RequestCodec { codec, outbox })
    }

    /// Reads one request from `codec`, runs it on this thread and sends its response (Go's
    /// `ServeRequest`). Returns `Ok(false)` when the peer closed the connection cleanly.
    pub fn serve_request<C: ServerCodec>(
        &self,
        codec: &mut RequestCodec<C>,
    ) -> Result<bool, CodecError> {
        self.inner.shared.serve_one(&mut codec.codec, &codec.outbox)
    }

    /// The message size limit codecs of this server are built with.
    pub(crate) fn max_message_size(&self) -> usize {
        self.inner.shared.limits.max_message_size
    }

    /// The registered services, sorted by name.
    pub(crate) fn services(&self) -> Vec<Arc<ServiceEntry>> {
        self.inner.shared.registry.services()
    }
}

/// A codec ready for [`Server::serve_request`], one request at a time.
pub struct RequestCodec<C: ServerCodec> {
    codec: C,
    outbox: Arc<Outbox<C::Encoder>>,
}

impl<C: ServerCodec> std::fmt::Debug for RequestCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCodec")
            .field("peer", &self.outbox.peer())
            .finish_non_exhaustive()
    }
}

/// Shuts a connection down at shutdown while its HTTP head is read.
struct ConnCloser<C>(Mutex<C>);

impl<C: Conn> ConnCloser<C> {
    fn new(conn: C) -> Self {
        ConnCloser(Mutex::new(conn))
    }
}

impl<C: Conn> Close for ConnCloser<C> {
    fn close(&self) {
        let _ = self.0.lock().shutdown();
    }
}

/// Forgets an accept loop's waker when the loop ends.
struct WakerGuard {
    server: Server,
    id: u64,
}

impl Drop for WakerGuard {
    fn drop(&mut self) {
        self.server.inner.wakers.lock().remove(&self.id);
    }
}

/// Counts a connection accepted by `accept_with` until its thread ends.
struct AcceptedGuard(Server);

impl Drop for AcceptedGuard {
    fn drop(&mut self) {
        self.0.inner.accepted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How often the accept loop polls a listener set non-blocking.
const NONBLOCKING_POLL: Duration = Duration::from_millis(10);

fn is_fd_exhaustion(e: &io::Error) -> bool {
    // EMFILE and ENFILE on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Configures a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    pool: PoolConfig,
    limits: Limits,
    socket: SocketOptions,
    conn_stack_size: usize,
    wire: Wire,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    /// The defaults are documented on each setter.
    pub fn new() -> ServerBuilder {
        let cores = thread::available_parallelism().map_or(2, |n| n.get());
        ServerBuilder {
            pool: PoolConfig {
                core: cores,
                max: DEFAULT_WORKERS,
                queue: 1024,
                stack_size: 2 << 20,
                time_slice: TIME_SLICE,
            },
            limits: Limits {
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                max_unsent: DEFAULT_MAX_MESSAGE_SIZE,
                max_connections: 16_384,
                max_in_flight: DEFAULT_WORKERS,
                read_timeout: None,
                write_timeout: Some(Duration::from_secs(30)),
            },
            socket: SocketOptions::default(),
            conn_stack_size: READER_STACK_SIZE,
            wire: Wire::Detect,
        }
    }

    /// The most worker threads that run methods (default 4,096). As many as there are cores
    /// run while methods keep them busy; a call whose method blocks (on I/O, a lock, a call to
    /// another server or back into this one) gives its core up within about a millisecond, and
    /// the pool starts threads for the calls waiting, up to this maximum, so that blocking
    /// methods and nested calls behave as goroutines do in Go.
    ///
    /// The limit guards memory: a blocked worker costs its stack as far as it was used (the
    /// [`worker_stack_size`](Self::worker_stack_size) is reserved address space, committed
    /// page by page; typically tens of KiB) plus a kernel thread (about 10 KiB). Threads beyond
    /// the core count leave after 10 s without work. At the limit, calls wait for a worker.
    pub fn workers(mut self, max: usize) -> Self {
        self.pool.max = max.max(1);
        self.pool.core = self.pool.core.min(self.pool.max);
        self
    }

    /// How many requests may wait for a free worker before connections stop reading
    /// (default 1024).
    pub fn queue(mut self, len: usize) -> Self {
        self.pool.queue = len.max(1);
        self
    }

    /// The stack size of worker threads, which run the methods (default 2 MiB).
    pub fn worker_stack_size(mut self, bytes: usize) -> Self {
        self.pool.stack_size = bytes;
        self
    }

    /// The stack size of connection threads, which decode requests (default 512 KiB, 2 MiB in
    /// debug builds: enough for arguments nested to the codecs' depth limits). Reserved
    /// address space; only what a thread touches is committed.
    pub fn conn_stack_size(mut self, bytes: usize) -> Self {
        self.conn_stack_size = bytes;
        self
    }

    /// The largest message accepted or sent, in bytes (default 64 MiB). A larger request
    /// closes its connection; a larger reply is answered with an error instead.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits.max_message_size = bytes;
        self
    }

    /// The most bytes of replies that may wait for a peer that does not read, per connection
    /// (default 64 MiB, and never less than the message size limit). Past it the connection
    /// is closed and a warning logged. Set it above the replies a client may have in flight
    /// at once, or a client that pipelines large replies faster than it reads is cut off.
    pub fn max_unsent_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_unsent = bytes;
        self
    }

    /// The most connections [`Server::accept`] serves at once (default 16,384); one more is
    /// accepted and closed at once, and a warning logged.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// The most calls one connection may have in flight (default 4,096, the default number
    /// of workers). At the limit the connection's reader stops reading until a call answers
    /// (backpressure instead of an unbounded queue), and a warning is logged. Methods that
    /// call this server back through one shared `Client` need room for their nested calls
    /// too: past the limit they wait for each other for ever, as they would past
    /// [`workers`](Self::workers).
    pub fn max_in_flight_per_conn(mut self, n: usize) -> Self {
        self.limits.max_in_flight = n.max(1);
        self
    }

    /// Closes a connection on which nothing arrives for this long while none of its calls is
    /// in flight, or whose request, once its first byte has come, does not arrive whole within
    /// this long (default: none, as in Go). Bounds how long an idle or slowloris peer holds a
    /// thread.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits.read_timeout = timeout;
        self
    }

    /// Closes a connection whose peer does not take its replies within this long (default
    /// 30 s). Workers never wait for a slow reader: its replies are written by a writer thread
    /// of the connection's own, which gives up after this long.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits.write_timeout = timeout;
        self
    }

    /// TCP keepalive for accepted connections: idle time before the first probe
    /// (default: off).
    pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
        self.socket.keepalive = idle;
        self
    }

    /// The wire [`Server::accept`] and [`Server::serve_conn`] speak (default
    /// [`Wire::Detect`]: each connection's, told from its first bytes). Pin one to refuse the
    /// others and skip the look; [`Wire::Http`] serves HTTP only, with any RPC wire after its
    /// `CONNECT`.
    pub fn wire(mut self, wire: Wire) -> Self {
        self.wire = wire;
        self
    }

    /// Builds the server.
    pub fn build(self) -> Server {
        let shared = Shared::new(Registry::default(), Pool::new(self.pool), self.limits);
        Server {
            inner: Arc::new(Inner {
                shared: Arc::new(shared),
                socket: self.socket,
                conn_stack_size: self.conn_stack_size,
                wire: self.wire,
                accepted: AtomicUsize::new(0),
                wakers: Mutex::new(HashMap::new()),
                next_waker: AtomicU64::new(0),
            }),
        }
    }
}

/// The most worker threads unless configured otherwise.
const DEFAULT_WORKERS: usize = 4096;
