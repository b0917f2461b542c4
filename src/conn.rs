//! A connection's life on the server: the reader loop, the replies, and the accounting of
//! the calls in flight.
//!
//! The connection's thread reads requests and hands each call to the worker pool; the worker
//! runs the method and sends the reply through the connection's [`Outbox`] the moment the
//! method returns, so replies may leave out of order, as in Go. The connection closes when its
//! reader has stopped and the last call in flight has answered (the last handle to the outbox
//! is dropped), or at once when the server shuts down.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::codec::{Request, Response, ResponseEncoder, ServerCodec};
use crate::error::CodecError;
use crate::outbox::{self, Outbox, Outgoing};
use crate::pool::Pool;
use crate::service::{Arg, Method, Registry, Reply};

thread_local! {
    /// The server (its `Shared`, by address) whose method this thread is running, or 0.
    static RUNNING_FOR: Cell<usize> = const { Cell::new(0) };
}

/// How often a reader waiting for a free call slot looks whether its connection was closed.
const CLOSED_POLL: Duration = Duration::from_millis(100);

/// What a server's connections share: the services, the pool, the limits, and the books.
pub(crate) struct Shared {
    pub(crate) registry: Registry,
    pub(crate) pool: Pool,
    pub(crate) limits: Limits,
    shutting_down: AtomicBool,
    /// Calls dispatched to the pool and not yet answered, on every connection.
    in_flight: AtomicUsize,
    /// Everything shutdown must close: connections served, HTTP heads being read.
    open: Mutex<HashMap<u64, Arc<dyn Close>>>,
    next_open: AtomicU64,
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

/// Something [`Shared::shut_down`] closes.
pub(crate) trait Close: Send + Sync {
    fn close(&self);
}

impl<E: Send + 'static> Close for Outbox<E> {
    fn close(&self) {
        Outbox::close(self);
    }
}

impl Shared {
    pub(crate) fn new(registry: Registry, pool: Pool, limits: Limits) -> Shared {
        Shared {
            registry,
            pool,
            limits,
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
        let ours = RUNNING_FOR.with(|running| running.get()) == self as *const Shared as usize;
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
            shared: Arc::clone(self),
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

    /// Serves one connection with `codec` until the peer hangs up, the connection fails or
    /// the server shuts down.
    pub(crate) fn serve<C: ServerCodec>(self: &Arc<Self>, mut codec: C) {
        let outbox = match codec.writer() {
            Ok((encoder, output)) => Outbox::new(encoder, output, self.outbox_limits()),
            Err(e) => {
                log::error!("rpc: cannot write to the connection: {e}");
                return;
            }
        };
        let Some(_open) = self.track(Arc::clone(&outbox) as Arc<dyn Close>) else {
            outbox.close();
            return;
        };
        let slots = Slots::new(self.limits.max_in_flight);
        loop {
            let answered_before = slots.answered();
            match self.read_request(&mut codec) {
                Ok(Some(Incoming::Call {
                    request,
                    method,
                    arg,
                })) => {
                    let Some(call) = slots.take(self, &outbox) else {
                        break;
                    };
                    let outbox = Arc::clone(&outbox);
                    let hint = Arc::clone(&method.hint);
                    let server = Arc::as_ptr(self) as usize;
                    self.pool.execute(&hint, move || {
                        let result = RUNNING_FOR.with(|running| {
                            running.set(server);
                            let result = method.invoke(arg);
                            running.set(0);
                            result
                        });
                        answer(&outbox, &request, result);
                        drop(call);
                    });
                }
                Ok(Some(Incoming::Rejected { request, error })) => {
                    answer(&outbox, &request, Err(error));
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
                    if slots.in_flight() > 0 || slots.answered() != answered_before {
                        continue;
                    }
                    log::info!(
                        "rpc: nothing read from {} within the read timeout; closing the connection",
                        outbox.peer()
                    );
                    break;
                }
                Err(e) => {
                    if !outbox.is_closed() {
                        log::warn!("rpc: {}: {e}; closing the connection", outbox.peer());
                    }
                    if let CodecError::RequestTooLarge { seq, .. } = e {
                        // Tell the caller why, before the connection closes.
                        let _ = send_error(&outbox, seq, e.to_string());
                    }
                    break;
                }
            }
        }
    }

    /// Reads one request, runs it on this thread and sends its reply through `outbox`.
    /// `Ok(false)` when the peer closed the connection cleanly.
    pub(crate) fn serve_one<C: ServerCodec>(
        &self,
        codec: &mut C,
        outbox: &Arc<Outbox<C::Encoder>>,
    ) -> Result<bool, CodecError> {
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
        answer(outbox, &request, result);
        Ok(true)
    }

    pub(crate) fn outbox_limits(&self) -> outbox::Limits {
        outbox::Limits {
            max_message: self.limits.max_message_size,
            max_unsent: self.limits.max_unsent.max(self.limits.max_message_size),
        }
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
        let method = match self.registry.lookup(&request.service_method) {
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

/// Answers `request` with `result`; a notification, which has no answer, has its error
/// logged instead (an unknown method, say), so that it is not lost without a word.
fn answer<E: ResponseEncoder>(
    outbox: &Arc<Outbox<E>>,
    request: &Request,
    result: Result<Reply, String>,
) {
    match result {
        _ if !request.notification => reply(outbox, request.seq, result),
        Err(error) => log::debug!(
            "rpc: notification {} from {}: {error}",
            request.service_method,
            outbox.peer()
        ),
        Ok(_) => {}
    }
}

/// Sends the reply to call `seq`; a reply that cannot be encoded is answered with the reason.
fn reply<E: ResponseEncoder>(outbox: &Arc<Outbox<E>>, seq: u64, result: Result<Reply, String>) {
    let sent = match result {
        Ok(reply) => outbox.send(Outgoing::Reply, |encoder, buf| {
            let response = Response {
                seq,
                ..Response::default()
            };
            encoder.encode_response(buf, &response, Some(&*reply))
        }),
        Err(error) => send_error(outbox, seq, error),
    };
    outbox.settle_reply(seq, sent, |error| send_error(outbox, seq, error));
}

fn send_error<E: ResponseEncoder>(
    outbox: &Arc<Outbox<E>>,
    seq: u64,
    error: String,
) -> Result<(), CodecError> {
    let response = Response {
        seq,
        error: Some(error),
        error_value: None,
    };
    outbox.send(Outgoing::Reply, |encoder, buf| {
        encoder.encode_response(buf, &response, None)
    })
}

/// A connection's calls in flight, bounded: a count of them, so the reader stops reading at
/// the limit. (A count, not a channel of tokens: room for 4,096 tokens would cost every
/// connection 32 KiB.)
struct Slots {
    tokens: Arc<Tokens>,
    max: usize,
    /// Whether the connection has been at its limit, which is logged once.
    warned: AtomicBool,
}

#[derive(Default)]
struct Tokens {
    taken: Mutex<usize>,
    /// Signalled when a call gives its token back.
    freed: Condvar,
    answered: AtomicU64,
}

/// One call in flight; dropping it, however the call ends, gives everything back.
struct InFlight {
    shared: Arc<Shared>,
    tokens: Arc<Tokens>,
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            tokens: Arc::default(),
            max: max.max(1),
            warned: AtomicBool::new(false),
        }
    }

    /// Takes a token for one more call, waiting while the connection is at its limit; `None`
    /// if the connection was closed meanwhile.
    fn take<E: Send + 'static>(
        &self,
        shared: &Arc<Shared>,
        outbox: &Outbox<E>,
    ) -> Option<InFlight> {
        let mut taken = self.tokens.taken.lock();
        if *taken >= self.max && !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!(
                "rpc: {} has {} calls in flight, the limit (ServerBuilder::max_in_flight_per_conn): \
                 no more of its requests are read until one answers. Calls that call this server \
                 back over the same connection wait here for ever once they fill it",
                outbox.peer(),
                *taken
            );
        }
        while *taken >= self.max {
            if outbox.is_closed() {
                return None;
            }
            self.tokens.freed.wait_for(&mut taken, CLOSED_POLL);
        }
        *taken += 1;
        drop(taken);
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(InFlight {
            shared: Arc::clone(shared),
            tokens: Arc::clone(&self.tokens),
        })
    }

    fn in_flight(&self) -> usize {
        *self.tokens.taken.lock()
    }

    fn answered(&self) -> u64 {
        self.tokens.answered.load(Ordering::Acquire)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.tokens.answered.fetch_add(1, Ordering::AcqRel);
        *self.tokens.taken.lock() -= 1;
        self.tokens.freed.notify_one();
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Removes what [`Shared::track`] registered when it drops.
pub(crate) struct OpenGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.shared.open.lock().remove(&self.id);
    }
}
