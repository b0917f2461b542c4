//! The server: registered services, connections, and the path of a request through them.
//!
//! Each connection has one reader thread, which decodes requests and hands them to the worker
//! pool; the worker runs the method and writes the response itself, so responses on one
//! connection may complete out of order, as in Go.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

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
    max_message_size: usize,
    socket: SocketOptions,
    conn_stack_size: usize,
}

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
        loop {
            let conn = match listener.accept_conn() {
                Ok(conn) => conn,
                Err(e) => match e.kind() {
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted => continue,
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
            if let Err(e) = listener.prepare(&conn, &self.inner.socket) {
                log::warn!("rpc: configuring connection from {}: {e}", conn.peer());
            }
            let peer = conn.peer();
            let serve = serve.clone();
            let spawned = thread::Builder::new()
                .name(format!("netrpc-conn-{peer}"))
                .stack_size(self.inner.conn_stack_size)
                .spawn(move || serve(conn));
            if let Err(e) = spawned {
                log::error!("rpc: cannot start a thread for {peer}: {e}");
            }
        }
    }

    /// Serves one connection with the MessagePack-RPC codec until the peer hangs up.
    pub fn serve_conn<C: Conn>(&self, conn: C) {
        let codec = MsgpackServerCodec::with_max_message_size(conn, self.inner.max_message_size);
        self.serve_codec(codec);
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
        loop {
            match self.read_request(&mut codec) {
                Ok(Some(Incoming::Call {
                    request,
                    method,
                    arg,
                })) => {
                    let responder = Arc::clone(&responder);
                    self.inner.pool.execute(move || {
                        let result = method.invoke(arg);
                        if !request.notification {
                            responder.send(request.seq, result);
                        }
                    });
                }
                Ok(Some(Incoming::Rejected { request, error })) => {
                    if !request.notification {
                        responder.send(request.seq, Err(error));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("rpc: {e}; closing the connection");
                    break;
                }
            }
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
        self.inner.max_message_size
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
/// A writer that finds others waiting behind it leaves the flush to the last of them, so that
/// concurrent responses leave in one syscall. The connection closes when the last handle drops:
/// after the reader has stopped and every in-flight call has answered.
struct Responder<W: ResponseWriter> {
    writer: Mutex<W>,
    waiting: AtomicUsize,
}

impl<W: ResponseWriter> Responder<W> {
    fn new(writer: W) -> Self {
        Responder {
            writer: Mutex::new(writer),
            waiting: AtomicUsize::new(0),
        }
    }

    fn send(&self, seq: u64, result: Result<Reply, String>) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let mut writer = self.writer.lock();
        let written = write_response(&mut *writer, seq, result);
        // The last writer flushes for everyone before it, whatever became of its own response.
        let flushed = if self.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            writer.flush()
        } else {
            Ok(())
        };
        if let Err(e) = written.and(flushed) {
            log::warn!("rpc: writing response: {e}; closing the connection");
            // Closing wakes the reader thread, which then stops.
            let _ = writer.close();
        }
    }
}

impl<W: ResponseWriter> Drop for Responder<W> {
    fn drop(&mut self) {
        let writer = self.writer.get_mut();
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
    max_message_size: usize,
    socket: SocketOptions,
    conn_stack_size: usize,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    /// The defaults: workers as below, 64 MiB messages, no keepalive, 512 KiB reader stacks.
    pub fn new() -> ServerBuilder {
        let cores = thread::available_parallelism().map_or(2, |n| n.get());
        ServerBuilder {
            pool: PoolConfig {
                core: cores,
                max: cores * 16,
                queue: 1024,
                stack_size: 2 << 20,
            },
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            socket: SocketOptions::default(),
            conn_stack_size: 512 << 10,
        }
    }

    /// The most worker threads that run methods at once. Workers start on demand; as many as
    /// there are cores stay when idle. Default: 16 × the available parallelism, so that methods
    /// which block (on I/O, or on calls to other servers) do not starve the rest.
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
        self.max_message_size = bytes;
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
                max_message_size: self.max_message_size,
                socket: self.socket,
                conn_stack_size: self.conn_stack_size,
            }),
        }
    }
}
