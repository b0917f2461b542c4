//! The server's one state: its services, pool, limits, the connections open and the calls in
//! flight on them, shared by every connection's thread.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::http::HttpConfig;
use crate::service::pool::Pool;
use crate::service::Registry;
use crate::telemetry::ServerGauges;
use crate::transport::outbox::Outbox;
use crate::transport::SocketOptions;
use crate::wire::Wire;

thread_local! {
    /// The server (its `State`, by address) whose method this thread is running, or 0.
    pub(crate) static RUNNING_FOR: Cell<usize> = const { Cell::new(0) };
}

/// What a server's connections share: the services, the pool, the limits, and the books.
pub(crate) struct State {
    pub(crate) registry: Registry,
    pub(crate) pool: Pool,
    pub(crate) limits: Limits,
    shutting_down: AtomicBool,
    /// Calls dispatched to the pool and not yet answered, on every connection.
    pub(crate) in_flight: AtomicUsize,
    /// Everything shutdown must close: connections served, HTTP heads being read.
    open: Mutex<HashMap<u64, Arc<dyn Close>>>,
    next_open: AtomicU64,
    pub(crate) socket: SocketOptions,
    pub(crate) conn_stack_size: usize,
    pub(crate) wire: Wire,
    pub(crate) http: HttpConfig,
    pub(crate) gauges: ServerGauges,
    /// Connections accepted by `accept_with` and still served.
    pub(crate) accepted: AtomicUsize,
    /// How to wake each running accept loop, for shutdown.
    pub(crate) wakers: Mutex<HashMap<u64, Arc<dyn Fn() + Send + Sync>>>,
    pub(crate) next_waker: AtomicU64,
}

/// The limits a server's builder sets.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_message_size: usize,
    pub(crate) max_unsent: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
}

/// Something [`State::shut_down`] closes.
pub(crate) trait Close: Send + Sync {
    fn close(&self);
}

impl<E: Send + 'static> Close for Outbox<E> {
    fn close(&self) {
        Outbox::close(self);
    }
}

impl State {
    pub(crate) fn new(
        pool: Pool,
        limits: Limits,
        socket: SocketOptions,
        conn_stack_size: usize,
        wire: Wire,
        http: HttpConfig,
    ) -> State {
        State {
            registry: Registry::default(),
            pool,
            limits,
            socket,
            conn_stack_size,
            wire,
            http,
            gauges: ServerGauges::new(),
            accepted: AtomicUsize::new(0),
            wakers: Mutex::new(HashMap::new()),
            next_waker: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            open: Mutex::new(HashMap::new()),
            next_open: AtomicU64::new(0),
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Calls dispatched and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The calls in flight that [`Server::shutdown`](crate::Server::shutdown) waits for when
    /// the calling thread calls it: all but the one this thread may be running, which cannot
    /// finish while it waits.
    pub(crate) fn in_flight_but_ours(&self) -> usize {
        let ours = RUNNING_FOR.with(|running| running.get()) == self as *const State as usize;
        self.in_flight().saturating_sub(usize::from(ours))
    }

    /// Registers `it` to be closed at shutdown, until the guard drops. `None` once shutdown
    /// has begun: the caller closes it at once. The check and the registration share the lock
    /// shutdown takes, so nothing registers unseen.
    pub(crate) fn track(self: &Arc<Self>, it: Arc<dyn Close>) -> Option<OpenGuard> {
        let mut open = self.open.lock();
        if self.is_shutting_down() {
            return None;
        }
        let id = self.next_open.fetch_add(1, Ordering::Relaxed);
        open.insert(id, it);
        Some(OpenGuard {
            state: Arc::clone(self),
            id,
        })
    }

    /// Sets the shutdown flag: from now on nothing registers, and requests are refused.
    pub(crate) fn begin_shutdown(&self) {
        let _open = self.open.lock();
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Closes everything open.
    pub(crate) fn close_all(&self) {
        let open: Vec<_> = self.open.lock().drain().map(|(_, it)| it).collect();
        for it in open {
            it.close();
        }
    }
}

/// Removes what [`State::track`] registered when it drops.
pub(crate) struct OpenGuard {
    state: Arc<State>,
    id: u64,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.state.open.lock().remove(&self.id);
    }
}
