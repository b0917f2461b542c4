//! `ServerBuilder`: every setting of a server, in one place.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::http::HttpConfig;
use super::state::{Limits, State};
use super::Server;
use crate::service::pool::{Pool, PoolConfig, TIME_SLICE};
use crate::transport::{SocketOptions, READER_STACK_SIZE};
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
            http: HttpConfig::default(),
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

/// The most worker threads unless configured otherwise.
const DEFAULT_WORKERS: usize = 4096;
