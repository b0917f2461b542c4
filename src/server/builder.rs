//! `ServerBuilder`: every setting of a server, in one place.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::http::HttpConfig;
use super::state::{Limits, State};
use super::Server;
use crate::service::pool::{Pool, PoolConfig, KEEP_ALIVE, TIME_SLICE};
use crate::transport::{Keepalive, SocketOptions, READER_STACK_SIZE};
use crate::wire::{Wire, DEFAULT_MAX_MESSAGE_SIZE};

/// Configures a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    pool: PoolConfig,
    limits: Limits,
    socket: SocketOptions,
    conn_stack_size: usize,
    wire: Wire,
    http: HttpConfig,
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
                keep_alive: KEEP_ALIVE,
                stack_size: 2 << 20,
                time_slice: TIME_SLICE,
            },
            limits: Limits {
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                max_unsent: DEFAULT_MAX_MESSAGE_SIZE,
                max_connections: 16_384,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT,
                read_timeout: None,
                write_timeout: Some(Duration::from_secs(30)),
            },
            socket: SocketOptions::default(),
            conn_stack_size: READER_STACK_SIZE,
            wire: Wire::Detect,
            http: HttpConfig::default(),
        }
    }

    /// How many calls run at once while none of them blocks (default: the number of cores,
    /// as Go's `GOMAXPROCS`). A call whose method blocks (on I/O, a lock, a call to another
    /// server or back into this one) gives its place up within about a millisecond, and gets
    /// a thread of its own, as do the later calls of its method: there is no bound on those
    /// threads, as there is none on goroutines, so that blocked and nested calls never wait
    /// for each other. What bounds them is [`max_in_flight_per_conn`](Self::max_in_flight_per_conn)
    /// and [`max_connections`](Self::max_connections). A blocked thread costs the stack it has
    /// touched (the [`worker_stack_size`](Self::worker_stack_size) is reserved, not committed)
    /// and a kernel thread, about 10 KiB each.
    ///
    /// On a machine of one or two cores with many quick calls at once, more slots than cores
    /// can serve more calls a second: the workers then hold more of the scheduler's time
    /// against the connections' threads. A lone caller's calls take a little longer
    /// (BENCHMARKS.md measures both).
    pub fn parallelism(mut self, calls: usize) -> Self {
        self.pool.core = calls.max(1);
        self
    }

    /// How long a worker thread beyond [`parallelism`](Self::parallelism) waits for another
    /// call before it leaves (default 10 s).
    pub fn worker_keep_alive(mut self, idle: Duration) -> Self {
        self.pool.keep_alive = idle;
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

    /// The most calls one connection may have in flight (default 4,096). At the limit the
    /// connection's reader stops reading until a call answers (backpressure instead of an
    /// unbounded queue), and a warning is logged. It bounds the memory and threads one peer
    /// can take. Nested calls through one shared `Client` wait here only while that
    /// connection has this many calls running.
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

    /// TCP keepalive on accepted connections (default [`Keepalive::default`]: probes after
    /// 15 s idle, every 5 s, dropping the connection after 6 unanswered ones); `None` turns
    /// it off. With [`tcp_user_timeout`](Self::tcp_user_timeout), it finds a peer that
    /// vanished without a word (see [`SocketOptions`]).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.socket.keepalive = keepalive;
        self
    }

    /// How long bytes sent on accepted connections may go unacknowledged before it is dropped
    /// (Linux's `TCP_USER_TIMEOUT`; default 45 s): a peer that vanished while replies or
    /// requests were on their way, which keepalive never probes. `None` leaves the system's
    /// (about 15 minutes).
    pub fn tcp_user_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.socket.user_timeout = timeout;
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

    /// Where HTTP is answered (Go's `HandleHTTP(rpcPath, debugPath)`): `CONNECT rpc_path`
    /// starts an RPC session and `GET debug_path` shows the debug page (default
    /// [`DEFAULT_RPC_PATH`](crate::DEFAULT_RPC_PATH) and
    /// [`DEFAULT_DEBUG_PATH`](crate::DEFAULT_DEBUG_PATH)). Applies to
    /// [`Server::serve_http`] and to HTTP found on any connection the server serves.
    pub fn http_paths(mut self, rpc_path: &str, debug_path: &str) -> Self {
        self.http.rpc_path = rpc_path.into();
        self.http.debug_path = debug_path.into();
        self
    }

    /// How long an HTTP peer may take to send its whole request head (default 10 s, or the
    /// read timeout if that is shorter); a slower one gets `408 Request Timeout` and is
    /// disconnected.
    pub fn http_head_timeout(mut self, timeout: Duration) -> Self {
        self.http.head_timeout = timeout;
        self
    }

    /// Serves the metrics `handle`'s recorder holds, in Prometheus's text format, at
    /// `GET /metrics` ([`METRICS_PATH`](crate::METRICS_PATH)) on the server's HTTP port: on
    /// [`Server::serve_http`], and on any port where the server finds HTTP. Install the
    /// recorder before the server's first call:
    ///
    /// ```
    /// let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
    ///     .install_recorder()
    ///     .expect("no other recorder installed");
    /// let server = netrpc::Server::builder().prometheus(handle).build();
    /// # drop(server);
    /// ```
    #[cfg(feature = "prometheus")]
    pub fn prometheus(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.http.prometheus = Some(handle);
        self
    }

    /// Builds the server.
    pub fn build(self) -> Server {
        Server {
            state: Arc::new(State::new(
                Pool::new(self.pool),
                self.limits,
                self.socket,
                self.conn_stack_size,
                self.wire,
                self.http,
            )),
        }
    }
}

/// The most calls in flight per connection unless configured otherwise.
const DEFAULT_MAX_IN_FLIGHT: usize = 4096;
