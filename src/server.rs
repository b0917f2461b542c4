//! The server: registered services, connections, and the path of a request through them.
//!
//! Each connection has one reader thread, which decodes requests and hands them to the worker
//! pool; the worker runs the method and writes the response itself, so responses on one
//! connection may complete out of order, as in Go.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use parking_lot::{Mutex, RwLock};

use crate::codec::msgpack::{MsgpackServerCodec, DEFAULT_MAX_MESSAGE_SIZE};
use crate::codec::{Request, Response, ResponseWriter, ServerCodec};
use crate::error::{CodecError, RegisterError};
use crate::pool::{Pool, PoolConfig};
use crate::service::{Arg, Method, Reply, Service, ServiceEntry};
use crate::transport::{Conn, Listener, SocketOptions};

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

struct Inner {
    services: RwLock<HashMap<String, Arc<ServiceEntry>>>,
    pool: Pool,
    limits: Limits,
    socket: SocketOptions,
    conn_stack_size: usize,
    shutting_down: AtomicBool,
    /// Calls dispatched to the pool and not yet answered.
    in_flight: AtomicUsize,
    /// Connections accepted by `accept_with` and still served.
    accepted: AtomicUsize,
    /// Every connection being read, by id, to close at shutdown.
    open: Mutex<HashMap<u64, Weak<dyn Close>>>,
    next_conn: AtomicU64,
}

/// The limits a [`ServerBuilder`] sets.
#[derive(Debug, Clone)]
struct Limits {
    max_message_size: usize,
    max_connections: usize,
    max_in_flight: usize,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// How often a blocked `accept` looks up to see whether the server is shutting down.
const ACCEPT_POLL: Duration = Duration::from_millis(100);

impl Default for Server {
    fn default() -> Self {
        Server::new()
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
        let entry = ServiceEntry::new(name, service)?;
        let mut services = self.inner.services.write();
        if services.contains_key(name) {
            return Err(RegisterError::Duplicate(name.to_owned()));
        }
        services.insert(entry.name.clone(), Arc::new(entry));
        Ok(())
    }

    /// Accepts connections on `listener` and serves each on a thread of its own, named
    /// `netrpc-conn-<peer>`. Returns the error that stopped the listener.
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
        if let Err(e) = listener.set_accept_timeout(Some(ACCEPT_POLL)) {
            log::warn!("rpc: the listener takes no accept timeout ({e}); shutdown cannot stop it");
        }
        loop {
            if self.is_shutting_down() {
                return Ok(());
            }
            let conn = match listener.accept_conn() {
                Ok(conn) => conn,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::Interrupted => continue,
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
            let peer = conn.peer();
            let limit = self.inner.limits.max_connections;
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
                .name(format!("netrpc-conn-{peer}"))
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

    /// Serves one connection with the MessagePack-RPC codec until the peer hangs up.
    pub fn serve_conn<C: Conn>(&self, conn: C) {
        self.apply_timeouts(&conn);
        let codec = MsgpackServerCodec::with_max_message_size(conn, self.max_message_size());
        self.serve_codec(codec);
    }

    /// Sets the configured read and write timeouts on `conn`.
    pub(crate) fn apply_timeouts<C: Conn>(&self, conn: &C) {
        let limits = &self.inner.limits;
        let set = conn
            .set_read_timeout(limits.read_timeout)
            .and_then(|()| conn.set_write_timeout(limits.write_timeout));
        if let Err(e) = set {
            log::warn!("rpc: setting timeouts on {}: {e}", conn.peer());
        }
    }

    /// Serves one connection with `codec` until the peer hangs up.
    ///
    /// This thread reads requests; the worker pool runs them and writes the responses. The
    /// connection is closed once the last in-flight call has answered.
    pub fn serve_codec<C: ServerCodec>(&self, mut codec: C) {
        let responder = match codec.writer() {
            Ok(writer) => Arc::new(Responder::new(writer)),
            Err(e) => {
                log::error!("rpc: cannot write to the connection: {e}");
                return;
            }
        };
        let _open = self.track(&responder);
        // One token per call in flight: the reader blocks, and so stops reading, at the limit.
        let (slots, freed) = bounded::<()>(self.inner.limits.max_in_flight.max(1));
        let mut dispatched = 0u64;
        loop {
            // Calls answered so far: dispatched ones that gave their token back.
            let answered_before = dispatched - slots.len() as u64;
            match self.read_request(&mut codec) {
                Ok(Some(Incoming::Call {
                    request,
                    method,
                    arg,
                })) => {
                    if slots.send(()).is_err() {
                        break;
                    }
                    dispatched += 1;
                    self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
                    let responder = Arc::clone(&responder);
                    let freed = freed.clone();
                    let server = Arc::clone(&self.inner);
                    responder.queued.fetch_add(1, Ordering::SeqCst);
                    self.inner.pool.execute(move || {
                        responder.start();
                        let result = method.invoke(arg);
                        if !request.notification {
                            responder.send(request.seq, result);
                        }
                        server.in_flight.fetch_sub(1, Ordering::AcqRel);
                        let _ = freed.try_recv();
                    });
                }
                Ok(Some(Incoming::Rejected { request, error })) => {
                    if !request.notification {
                        responder.send(request.seq, Err(error));
                    }
                }
                Ok(None) => break,
                Err(CodecError::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // A peer waiting for our replies is not idle, nor one answered while
                    // this read waited (its next request may be on the way). The codecs
                    // frame whole messages before parsing, so reading can simply go on.
                    let answered = dispatched - slots.len() as u64;
                    if !slots.is_empty() || answered != answered_before {
                        continue;
                    }
                    log::info!("rpc: nothing read within the read timeout; closing the connection");
                    break;
                }
                Err(e) => {
                    log::warn!("rpc: {e}; closing the connection");
                    break;
                }
            }
        }
    }

    /// Registers a connection to be closed at shutdown, until the returned guard drops.
    fn track<W: ResponseWriter>(&self, responder: &Arc<Responder<W>>) -> OpenGuard {
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let weak: Weak<dyn Close> = Arc::downgrade(responder) as Weak<dyn Close>;
        self.inner.open.lock().insert(id, weak);
        OpenGuard {
            server: Arc::clone(&self.inner),
            id,
        }
    }

    fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Shuts the server down gracefully: `accept` stops and returns `Ok(())`, requests that
    /// arrive from now on are answered with `rpc: server is shutting down`, calls in flight
    /// get up to `grace` to finish and answer, and then every connection is closed. Returns
    /// once the connections are closed.
    pub fn shutdown(&self, grace: Duration) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let deadline = Instant::now() + grace;
        while self.inner.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let open: Vec<_> = self.inner.open.lock().values().cloned().collect();
        for conn in open.iter().filter_map(Weak::upgrade) {
            conn.close();
        }
    }

    /// Reads one request from `codec`, runs it on this thread and writes its response.
    /// Returns `Ok(false)` when the peer closed the connection cleanly.
    pub fn serve_request<C: ServerCodec>(&self, codec: &mut C) -> Result<bool, CodecError> {
        let (request, result) = match self.read_request(codec)? {
            None => return Ok(false),
            Some(Incoming::Call {
                request,
                method,
                arg,
            }) => {
                let result = method.invoke(arg);
                (request, result)
            }
            Some(Incoming::Rejected { request, error }) => (request, Err(error)),
        };
        if !request.notification {
            let mut writer = codec.writer()?;
            write_response(&mut writer, request.seq, result)?;
            writer.flush()?;
        }
        Ok(true)
    }

    /// Reads a request and decodes its argument for the method it names.
    fn read_request<C: ServerCodec>(&self, codec: &mut C) -> Result<Option<Incoming>, CodecError> {
        let Some(request) = codec.read_request_header()? else {
            return Ok(None);
        };
        if self.is_shutting_down() {
            codec.read_request_body(None)?;
            return Ok(Some(Incoming::Rejected {
                request,
                error: "rpc: server is shutting down".to_owned(),
            }));
        }
        let method = match self.lookup(&request.service_method) {
            Ok(method) => method,
            Err(error) => {
                codec.read_request_body(None)?;
                return Ok(Some(Incoming::Rejected { request, error }));
            }
        };
        let mut arg = None;
        let decoded = codec.read_request_body(Some(&mut |de| {
            arg = Some(method.decode(de)?);
            Ok(())
        }));
        match (decoded, arg) {
            (Ok(()), Some(arg)) => Ok(Some(Incoming::Call {
                request,
                method,
                arg,
            })),
            (Ok(()), None) => Ok(Some(Incoming::Rejected {
                request,
                error: "rpc: reading body: the codec produced no argument".to_owned(),
            })),
            (Err(e), _) if e.is_recoverable() => Ok(Some(Incoming::Rejected {
                request,
                error: e.to_string(),
            })),
            (Err(e), _) => Err(e),
        }
    }

    /// The message size limit codecs of this server are built with.
    pub(crate) fn max_message_size(&self) -> usize {
        self.inner.limits.max_message_size
    }

    /// The registered services, sorted by name.
    pub(crate) fn services(&self) -> Vec<Arc<ServiceEntry>> {
        let mut services: Vec<_> = self.inner.services.read().values().cloned().collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        services
    }

    /// Finds the method for `"Service.Method"`, or the error text Go sends.
    fn lookup(&self, service_method: &str) -> Result<Arc<Method>, String> {
        let Some((service, method)) = service_method.rsplit_once('.') else {
            return Err(format!(
                "rpc: service/method request ill-formed: {service_method}"
            ));
        };
        let services = self.inner.services.read();
        let Some(service) = services.get(service) else {
            return Err(format!("rpc: can't find service {service_method}"));
        };
        service
            .methods
            .get(method)
            .cloned()
            .ok_or_else(|| format!("rpc: can't find method {service_method}"))
    }
}

/// What the reader thread made of one request.
enum Incoming {
    /// A call to run.
    Call {
        request: Request,
        method: Arc<Method>,
        arg: Arg,
    },
    /// A request answered with an error without running anything.
    Rejected { request: Request, error: String },
}

/// The writing half of a connection, shared by the workers answering on it.
///
/// Responses are flushed late, so that responses to calls that arrived together leave
/// together, in one syscall: a writer that finds others waiting behind it leaves the flush to
/// the last of them, and while more calls of the connection wait in the pool queue, the flush
/// is left to the last of those to start, which flushes before it runs its method. A response
/// is so held back only until the connection's queued calls have started, which the pool's
/// stall monitor bounds to a few milliseconds unless every worker it may start is blocked.
/// The connection closes when the last handle drops: after the reader has stopped and every
/// in-flight call has answered.
struct Responder<W: ResponseWriter> {
    writer: Mutex<Writer<W>>,
    /// Workers waiting for `writer`.
    waiting: AtomicUsize,
    /// Calls of this connection queued for a worker and not yet started.
    queued: AtomicUsize,
}

/// Responses held back at most, so that a client pipelining calls faster than they run gets
/// replies back while it keeps sending.
const MAX_HELD_RESPONSES: usize = 32;

struct Writer<W> {
    codec: W,
    /// Responses buffered and not yet flushed.
    held: usize,
}

impl<W: ResponseWriter> Responder<W> {
    fn new(codec: W) -> Self {
        Responder {
            writer: Mutex::new(Writer { codec, held: 0 }),
            waiting: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
        }
    }

    /// Called by a worker as it starts one of this connection's calls: the last queued call
    /// to start flushes the responses left for it.
    fn start(&self) {
        if self.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            let mut writer = self.writer.lock();
            if writer.held > 0 {
                let flushed = writer.flush();
                writer.close_on_error(flushed);
            }
        }
    }

    fn send(&self, seq: u64, result: Result<Reply, String>) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let mut writer = self.writer.lock();
        let written = write_response(&mut writer.codec, seq, result);
        // Whatever became of its own response, the last writer flushes for everyone before
        // it, unless a queued call will.
        let last = self.waiting.fetch_sub(1, Ordering::AcqRel) == 1;
        writer.held += 1;
        let flushed = if last
            && (writer.held >= MAX_HELD_RESPONSES || self.queued.load(Ordering::SeqCst) == 0)
        {
            writer.flush()
        } else {
            Ok(())
        };
        writer.close_on_error(written.and(flushed));
    }
}

impl<W: ResponseWriter> Writer<W> {
    fn flush(&mut self) -> Result<(), CodecError> {
        self.held = 0;
        self.codec.flush()
    }

    fn close_on_error(&mut self, result: Result<(), CodecError>) {
        if let Err(e) = result {
            log::warn!("rpc: writing response: {e}; closing the connection");
            // Closing wakes the reader thread, which then stops.
            let _ = self.codec.close();
        }
    }
}

/// A connection that shutdown can close.
trait Close: Send + Sync {
    fn close(&self);
}

impl<W: ResponseWriter> Close for Responder<W> {
    fn close(&self) {
        let mut writer = self.writer.lock();
        let _ = writer.codec.flush();
        let _ = writer.codec.close();
    }
}

/// Removes a connection from the shutdown list when its reader stops.
struct OpenGuard {
    server: Arc<Inner>,
    id: u64,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.server.open.lock().remove(&self.id);
    }
}

/// Counts a connection accepted by `accept_with` until its thread ends.
struct AcceptedGuard(Server);

impl Drop for AcceptedGuard {
    fn drop(&mut self) {
        self.0.inner.accepted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<W: ResponseWriter> Drop for Responder<W> {
    fn drop(&mut self) {
        let writer = &mut self.writer.get_mut().codec;
        let _ = writer.flush();
        let _ = writer.close();
    }
}

/// Writes one response; a reply that cannot be encoded is answered with the reason instead.
fn write_response<W: ResponseWriter + ?Sized>(
    writer: &mut W,
    seq: u64,
    result: Result<Reply, String>,
) -> Result<(), CodecError> {
    let written = match result {
        Ok(reply) => writer.write_response(&Response { seq, error: None }, Some(&*reply)),
        Err(error) => writer.write_response(
            &Response {
                seq,
                error: Some(error),
            },
            None,
        ),
    };
    match written {
        Err(e) if e.is_recoverable() => writer.write_response(
            &Response {
                seq,
                error: Some(e.to_string()),
            },
            None,
        ),
        other => other,
    }
}

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
                max: cores * 16,
                queue: 1024,
                stack_size: 2 << 20,
                stall: Duration::from_millis(5),
            },
            limits: Limits {
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                max_connections: 16_384,
                max_in_flight: 256,
                read_timeout: None,
                write_timeout: Some(Duration::from_secs(30)),
            },
            socket: SocketOptions::default(),
            conn_stack_size: 512 << 10,
        }
    }

    /// The most worker threads that run methods at once. As many as there are cores run while
    /// methods keep them busy; when queued calls wait and none has started for 5 ms, methods
    /// are blocking, and a thread is woken or started for each call waiting that long, up to
    /// this maximum.
    /// Default: 16 × the available parallelism, so that methods which block (on I/O, or on
    /// calls to other servers) do not starve the rest.
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

    /// The stack size of connection threads, which decode requests (default 512 KiB, enough for
    /// bodies nested to the codec's depth limit).
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

    /// The most connections [`Server::accept`] serves at once (default 16,384); one more is
    /// accepted and closed at once, and a warning logged.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// The most calls one connection may have in flight (default 256). At the limit the
    /// connection's reader stops reading until a call answers: backpressure instead of an
    /// unbounded queue.
    pub fn max_in_flight_per_conn(mut self, n: usize) -> Self {
        self.limits.max_in_flight = n.max(1);
        self
    }

    /// Closes a connection on which nothing arrives for this long, between or inside
    /// messages, while none of its calls is in flight (default: none, as in Go). Bounds how
    /// long an idle or slowloris peer holds a thread.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits.read_timeout = timeout;
        self
    }

    /// Closes a connection whose peer does not take a response for this long (default 30 s),
    /// so a client that sends without reading cannot hold workers forever.
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

    /// Builds the server.
    pub fn build(self) -> Server {
        Server {
            inner: Arc::new(Inner {
                services: RwLock::new(HashMap::new()),
                pool: Pool::new(self.pool),
                limits: self.limits,
                socket: self.socket,
                conn_stack_size: self.conn_stack_size,
                shutting_down: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                accepted: AtomicUsize::new(0),
                open: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(0),
            }),
        }
    }
}
