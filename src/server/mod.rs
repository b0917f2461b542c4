//! The server: registered services, connections, and the path of a request through them.
//!
//! Each connection has one reader thread, which decodes requests and hands them to the worker
//! pool (see `conn.rs`); the worker runs the method and its reply leaves as the method
//! returns, so responses on one connection may complete out of order, as in Go.

mod builder;
mod conn;
mod debug;
mod http;
mod state;

pub use builder::ServerBuilder;
#[cfg(feature = "prometheus")]
pub use http::METRICS_PATH;

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::codec::ServerCodec;
use crate::error::{CodecError, RegisterError};
use crate::service::{Caller, HangUp, Service, ServiceEntry};
use crate::transport::outbox::Outbox;
use crate::transport::Rewind;
use crate::transport::{thread_name, Conn, Listener, Waker};
use crate::wire::{self, Codecs, Wire, WithCodecs};
use state::{Close, OpenGuard, State};

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
    state: Arc<State>,
}

// User code that panics (a method, a reply's `Serialize`) is caught where it runs, and the
// server's locks do not poison: a server used across `catch_unwind` is as it was.
impl std::panic::UnwindSafe for Server {}
impl std::panic::RefUnwindSafe for Server {}

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
            .field("in_flight", &self.state.in_flight())
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
        self.state.registry.register(name, service)
    }

    /// Accepts connections on `listener` and serves each on a thread of its own, named
    /// `netrpc-conn-<peer>`. Returns the error that stopped the listener, or `Ok(())` once
    /// the server shuts down.
    pub fn accept<L: Listener>(&self, listener: &L) -> io::Result<()> {
        self.accept_in(self.state.wire, listener)
    }

    /// [`accept`](Self::accept) in `wire`, whatever the server's own.
    pub(crate) fn accept_in<L: Listener>(&self, wire: Wire, listener: &L) -> io::Result<()> {
        let server = self.clone();
        self.accept_with(listener, move |conn| server.serve_conn_in(wire, conn))
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
                        tracing::error!("rpc.Serve: accept: {e}; retrying");
                        thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    _ => {
                        tracing::error!("rpc.Serve: accept: {e}");
                        return Err(e);
                    }
                },
            };
            if self.is_shutting_down() {
                let _ = conn.shutdown();
                return Ok(());
            }
            let peer = conn.peer();
            let limit = self.state.limits.max_connections;
            if self.state.accepted.load(Ordering::Acquire) >= limit {
                tracing::warn!(
                    "rpc: {limit} connections open already; closing the one from {peer}"
                );
                let _ = conn.shutdown();
                continue;
            }
            if let Err(e) = listener.prepare(&conn, &self.state.socket) {
                tracing::warn!("rpc: configuring connection from {peer}: {e}");
            }
            self.state.accepted.fetch_add(1, Ordering::AcqRel);
            let accepted = AcceptedGuard(self.clone());
            let serve = serve.clone();
            let spawned = thread::Builder::new()
                .name(thread_name("netrpc-conn", &peer))
                .stack_size(self.state.conn_stack_size)
                .spawn(move || {
                    let _accepted = accepted;
                    serve(conn);
                });
            if let Err(e) = spawned {
                tracing::error!("rpc: cannot start a thread for {peer}: {e}");
            }
        }
    }

    fn add_waker(&self, waker: Waker) -> WakerGuard {
        let id = self.state.next_waker.fetch_add(1, Ordering::Relaxed);
        self.state.wakers.lock().insert(id, Arc::from(waker));
        WakerGuard {
            server: self.clone(),
            id,
        }
    }

    /// Serves one connection until the peer hangs up, in the wire its first bytes show
    /// (MessagePack-RPC, Go's gob, Go's JSON-RPC, or HTTP: see [`Wire`]), or in the one
    /// wire the server is pinned to ([`ServerBuilder::wire`]).
    pub fn serve_conn<C: Conn>(&self, conn: C) {
        self.serve_conn_in(self.state.wire, conn);
    }

    /// [`serve_conn`](Self::serve_conn) in `wire`, whatever the server's own.
    pub(crate) fn serve_conn_in<C: Conn>(&self, wire: Wire, conn: C) {
        if !self.admit(&conn) {
            return;
        }
        match wire {
            Wire::Detect => self.detect_and_serve(conn, true),
            Wire::Http => self.serve_http_conn(conn),
            wire => self.serve_wire(wire, conn),
        }
    }

    /// Serves an RPC stream that follows an HTTP `CONNECT`: any RPC wire, never HTTP again.
    pub(crate) fn serve_rpc_conn<C: Conn>(&self, conn: C) {
        if !self.admit(&conn) {
            return;
        }
        match self.state.wire {
            Wire::Detect | Wire::Http => self.detect_rpc_and_serve(conn),
            wire => self.serve_wire(wire, conn),
        }
    }

    /// Closes `conn` if the server is shutting down; otherwise sets the configured timeouts
    /// on it and says it may be served.
    fn admit<C: Conn>(&self, conn: &C) -> bool {
        if self.is_shutting_down() {
            let _ = conn.shutdown();
            return false;
        }
        self.apply_timeouts(conn);
        true
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

    /// [`detect_and_serve`](Self::detect_and_serve) after a `CONNECT`: never HTTP again. Its
    /// own function, without the HTTP arm, so that serving HTTP, which leads here, does not
    /// lead back into serving HTTP on a stream of a new type (`Rewind<Rewind<..>>`) without end.
    fn detect_rpc_and_serve<C: Conn>(&self, conn: C) {
        if let Some((wire, conn)) = self.detect(conn, false) {
            self.serve_wire(wire, conn);
        }
    }

    /// The wire of `conn`, from its first bytes; `None` if it closed or failed first. Not
    /// inlined: its frame would stay under the connection's whole life (see `State::serve`).
    #[inline(never)]
    fn detect<C: Conn>(&self, conn: C, http: bool) -> Option<(Wire, Rewind<C>)> {
        // Shutdown closes a connection that has not said its wire yet, too.
        let Some(reading) = self.track_conn(&conn) else {
            let _ = conn.shutdown();
            return None;
        };
        let peer = conn.peer();
        let detected = wire::detect(conn, http);
        drop(reading);
        match detected {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!("rpc: {peer}: reading the first bytes: {e}");
                None
            }
        }
    }

    /// Serves `conn` with the codec of `wire` (not [`Wire::Detect`] or [`Wire::Http`]).
    fn serve_wire<C: Conn>(&self, wire: Wire, conn: C) {
        wire.codecs(Serve {
            server: self,
            conn,
            wire,
        });
    }

    /// The configured read timeout.
    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.state.limits.read_timeout
    }

    /// Sets the configured read and write timeouts on `conn`.
    pub(crate) fn apply_timeouts<C: Conn>(&self, conn: &C) {
        let limits = &self.state.limits;
        // Each on its own: one the socket refuses (a zero timeout) leaves the other set.
        if let Err(e) = conn.set_read_timeout(limits.read_timeout) {
            tracing::warn!("rpc: setting the read timeout on {}: {e}", conn.peer());
        }
        if let Err(e) = conn.set_write_timeout(limits.write_timeout) {
            tracing::warn!("rpc: setting the write timeout on {}: {e}", conn.peer());
        }
    }

    /// Serves one connection with `codec` until the peer hangs up.
    ///
    /// This thread reads requests; the worker pool runs them and each reply leaves as its
    /// method returns. The connection is closed once the last in-flight call has answered.
    pub fn serve_codec<C: ServerCodec>(&self, mut codec: C) {
        self.state.serve(&mut codec, None);
    }

    /// Registers a connection whose HTTP head is being read, to be closed at shutdown;
    /// `None` if the server is shutting down already.
    pub(crate) fn track_conn<C: Conn>(&self, conn: &C) -> Option<OpenGuard> {
        let closer = Arc::new(ConnCloser::new(conn.try_clone().ok()?));
        self.state.track(closer)
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.state.is_shutting_down()
    }

    /// Shuts the server down gracefully: `accept` stops and returns `Ok(())`, requests that
    /// arrive from now on are answered with `rpc: server is shutting down`, calls in flight
    /// get up to `grace` to finish and answer, and then every connection is closed, including
    /// those still sending their HTTP head. Connections that arrive later are closed at once.
    /// Returns once the connections are closed. A method may call it: the call running it is
    /// not waited for.
    pub fn shutdown(&self, grace: Duration) {
        let state = &self.state;
        state.begin_shutdown();
        let wakers: Vec<_> = self.state.wakers.lock().values().cloned().collect();
        for wake in wakers {
            wake();
        }
        let deadline = Instant::now().checked_add(grace);
        while state.in_flight_but_ours() > 0 && deadline.is_none_or(|d| Instant::now() < d) {
            thread::sleep(Duration::from_millis(5));
        }
        state.close_all();
    }

    /// Makes the codec [`Server::serve_request`] reads from and answers through.
    pub fn request_codec<C: ServerCodec>(
        &self,
        mut codec: C,
    ) -> Result<RequestCodec<C>, CodecError> {
        let (encoder, output) = codec.writer()?;
        let caller = Caller::new(output.peer(), None);
        let outbox = Outbox::new(encoder, output, self.state.outbox_limits());
        Ok(RequestCodec {
            codec,
            outbox,
            hang_up: HangUp(caller),
        })
    }

    /// Reads one request from `codec`, runs it on this thread and sends its response (Go's
    /// `ServeRequest`). Returns `Ok(false)` when the peer closed the connection cleanly.
    pub fn serve_request<C: ServerCodec>(
        &self,
        codec: &mut RequestCodec<C>,
    ) -> Result<bool, CodecError> {
        self.state
            .serve_one(&mut codec.codec, &codec.outbox, &codec.hang_up.0)
    }

    /// The registered services, sorted by name.
    pub(crate) fn services(&self) -> Vec<Arc<ServiceEntry>> {
        self.state.registry.services()
    }
}

/// Serving a connection with the server codec of the wire it speaks.
struct Serve<'a, C> {
    server: &'a Server,
    conn: C,
    wire: Wire,
}

impl<C: Conn> WithCodecs for Serve<'_, C> {
    type Output = ();

    fn with<K: Codecs>(self) {
        let max_message_size = self.server.state.limits.max_message_size;
        let mut codec = K::server(self.conn, max_message_size);
        self.server.state.serve(&mut codec, Some(self.wire));
    }
}

/// A codec ready for [`Server::serve_request`], one request at a time.
pub struct RequestCodec<C: ServerCodec> {
    codec: C,
    outbox: Arc<Outbox<C::Encoder>>,
    /// Tells the contexts of its calls, when dropped, that the caller is gone.
    hang_up: HangUp,
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
        self.server.state.wakers.lock().remove(&self.id);
    }
}

/// Counts a connection accepted by `accept_with` until its thread ends.
struct AcceptedGuard(Server);

impl Drop for AcceptedGuard {
    fn drop(&mut self) {
        self.0.state.accepted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How often the accept loop polls a listener set non-blocking.
const NONBLOCKING_POLL: Duration = Duration::from_millis(10);

fn is_fd_exhaustion(e: &io::Error) -> bool {
    // EMFILE and ENFILE on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23 | 24))
}
