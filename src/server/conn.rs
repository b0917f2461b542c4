//! A connection's life on the server: the reader loop, the replies, and the accounting of
//! the calls in flight.
//!
//! The connection's thread reads requests and hands each call to the worker pool; the worker
//! runs the method and sends the reply through the connection's [`Outbox`] the moment the
//! method returns, so replies may leave out of order, as in Go. The connection closes when its
//! reader has stopped and the last call in flight has answered (the last handle to the outbox
//! is dropped), or at once when the server shuts down.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::state::State;
use super::state::{Close, OpenGuard, RUNNING_FOR};
use crate::codec::{Failure, Request, Response, ResponseEncoder, ServerCodec};
use crate::error::CodecError;
use crate::service::{Arg, Caller, Context, HangUp, Method, Reply};
use crate::telemetry::{self, Counted, MethodHandles};
use crate::transport::outbox::{self, Outbox};
use crate::wire::Wire;

/// How often a reader waiting for room for another call looks whether its connection was closed.
const CLOSED_POLL: Duration = Duration::from_millis(100);

impl State {
    /// Serves one connection with `codec`, speaking `wire` if it is a built-in one, until the
    /// peer hangs up, the connection fails or the server shuts down.
    pub(crate) fn serve<C: ServerCodec>(self: &Arc<Self>, codec: &mut C, wire: Option<Wire>) {
        // Every connection's thread keeps the stack its deepest moment touched, so the loop
        // keeps its own frame small: what is rare, or deep, happens in functions of its own.
        let Some(open) = self.open(codec, wire) else {
            return;
        };
        let Opened {
            outbox,
            caller,
            limit,
            ..
        } = &open;
        // Whether the read timeout was cut short to end an idle spell on time.
        let mut cut_short = false;
        loop {
            let read = self.read_request(codec);
            if cut_short && matches!(read, Ok(Some(_))) {
                cut_short = false;
                self.restore_read_timeout(outbox);
            }
            match read {
                Ok(Some(Incoming::Call {
                    request,
                    method,
                    arg,
                })) => {
                    let Some(call) = limit.take(self, outbox) else {
                        break;
                    };
                    self.dispatch(outbox, caller, wire, call, request, method, arg);
                }
                Ok(Some(Incoming::Rejected {
                    request,
                    method,
                    error,
                })) => refuse(outbox, &request, method.as_deref(), error, wire),
                Ok(None) => break,
                Err(e) => match self.after_read_error(e, outbox, limit, wire) {
                    AfterError::Retry { cut_short: cut } => cut_short |= cut,
                    AfterError::Close => break,
                },
            }
        }
    }

    /// Opens the connection's books: its outbox, its caller, its count of calls in flight.
    /// `None` if it cannot be written to, or the server is shutting down.
    #[inline(never)]
    fn open<C: ServerCodec>(
        self: &Arc<Self>,
        codec: &mut C,
        wire: Option<Wire>,
    ) -> Option<Opened<'_, C::Encoder>> {
        let outbox = match codec.writer() {
            Ok((encoder, output)) => Outbox::new(encoder, output, self.outbox_limits()),
            Err(e) => {
                tracing::error!("rpc: cannot write to the connection: {e}");
                return None;
            }
        };
        let Some(open) = self.track(Arc::clone(&outbox) as Arc<dyn Close>) else {
            outbox.close();
            return None;
        };
        let caller = Caller::new(outbox.peer(), wire);
        tracing::debug!(peer = outbox.peer(), ?wire, "rpc: connection opened");
        Some(Opened {
            limit: CallLimit::new(self.limits.max_in_flight),
            _counted: Counted::new(&self.gauges.connections),
            // However reading ends, the calls still running learn that their caller is gone.
            _hang_up: HangUp(Arc::clone(&caller)),
            caller,
            _open: open,
            outbox,
        })
    }

    /// Hands a call to the worker pool, which runs it and answers through `outbox`.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn dispatch<E: ResponseEncoder>(
        self: &Arc<Self>,
        outbox: &Arc<Outbox<E>>,
        caller: &Arc<Caller>,
        wire: Option<Wire>,
        call: InFlight,
        request: Request,
        method: Arc<Method>,
        arg: Arg,
    ) {
        let outbox = Arc::clone(outbox);
        let hint = Arc::clone(&method.hint);
        method.metrics.on(wire).request_size(request.size);
        let ctx = Context::new(caller, method, request.seq);
        // The task takes only what it needs, and what it can find again (the server from
        // `call`, the wire from `ctx`) it finds: at most 120 bytes, glibc recycles its box
        // from a fast bin, and a few bytes more cost every call a trip through its sorting.
        let task = move || {
            let method = ctx.method();
            let result = RUNNING_FOR.with(|running| {
                running.set(Arc::as_ptr(&call.state) as usize);
                let result = method.invoke(&ctx, arg);
                running.set(0);
                result
            });
            answer(&outbox, &request, result, method.metrics.on(ctx.wire()));
            drop(call);
        };
        debug_assert!(
            std::mem::size_of_val(&task) <= 120,
            "a call's task outgrew a fast bin"
        );
        self.pool.execute(hint, task);
    }

    /// Puts the read timeout back after a spell cut short.
    #[cold]
    fn restore_read_timeout<E: Send + 'static>(&self, outbox: &Outbox<E>) {
        if let Err(e) = outbox.set_read_timeout(self.limits.read_timeout) {
            tracing::warn!("rpc: setting the read timeout on {}: {e}", outbox.peer());
        }
    }

    /// What the reader does after reading failed with `e`: reads on after a timeout while the
    /// connection is not idle (or waits out the rest of an idle spell), else closes it.
    #[cold]
    #[inline(never)]
    fn after_read_error<E: ResponseEncoder>(
        &self,
        e: CodecError,
        outbox: &Arc<Outbox<E>>,
        limit: &CallLimit,
        wire: Option<Wire>,
    ) -> AfterError {
        match e {
            CodecError::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // A peer waiting for our replies is not idle. The codecs frame whole
                // messages before parsing, so reading can simply go on.
                if limit.in_flight() > 0 {
                    return AfterError::Retry { cut_short: false };
                }
                // Idle since the last reply left, if that was during this read: the rest
                // of the spell is waited out, not a whole read timeout more.
                let left = match (self.limits.read_timeout, limit.last_answer()) {
                    (Some(timeout), Some(answered)) => timeout.saturating_sub(answered.elapsed()),
                    _ => Duration::ZERO,
                };
                if left >= Duration::from_millis(1) && outbox.set_read_timeout(Some(left)).is_ok() {
                    return AfterError::Retry { cut_short: true };
                }
                tracing::info!(
                    "rpc: nothing read from {} within the read timeout; closing the connection",
                    outbox.peer()
                );
                AfterError::Close
            }
            e => {
                if !outbox.is_closed() {
                    tracing::warn!("rpc: {}: {e}; closing the connection", outbox.peer());
                }
                if let CodecError::RequestTooLarge { seq, .. } = e {
                    // Tell the caller why, before the connection closes.
                    telemetry::unknown_method().on(wire).refused();
                    respond(outbox, seq, Err(&e.to_string().into()));
                }
                AfterError::Close
            }
        }
    }

    /// Reads one request, runs it on this thread and sends its reply through `outbox`.
    /// `Ok(false)` when the peer closed the connection cleanly.
    pub(crate) fn serve_one<C: ServerCodec>(
        &self,
        codec: &mut C,
        outbox: &Arc<Outbox<C::Encoder>>,
        caller: &Arc<Caller>,
    ) -> Result<bool, CodecError> {
        match self.read_request(codec)? {
            None => return Ok(false),
            Some(Incoming::Call {
                request,
                method,
                arg,
            }) => {
                method.metrics.on(None).request_size(request.size);
                let ctx = Context::new(caller, method, request.seq);
                let result = ctx.method().invoke(&ctx, arg);
                answer(outbox, &request, result, ctx.method().metrics.on(None));
            }
            Some(Incoming::Rejected {
                request,
                method,
                error,
            }) => refuse(outbox, &request, method.as_deref(), error, None),
        }
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
        let method = match self.registry.lookup(&request.service_method) {
            Ok(method) => method,
            Err(error) => {
                codec.read_request_body(None)?;
                return Ok(Some(Incoming::Rejected {
                    request,
                    method: None,
                    error,
                }));
            }
        };
        if self.is_shutting_down() {
            codec.read_request_body(None)?;
            return Ok(Some(Incoming::Rejected {
                request,
                method: Some(method),
                error: "rpc: server is shutting down".to_owned(),
            }));
        }
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
                method: Some(method),
                error: "rpc: reading body: the codec produced no argument".to_owned(),
            })),
            (Err(e), _) if e.is_recoverable() => Ok(Some(Incoming::Rejected {
                request,
                method: Some(method),
                error: e.to_string(),
            })),
            (Err(e), _) => Err(e),
        }
    }
}

/// A connection being served, as its reader holds it; dropping it closes the books, in the
/// order of the fields.
struct Opened<'a, E> {
    limit: CallLimit,
    _counted: Counted<'a>,
    _hang_up: HangUp,
    caller: Arc<Caller>,
    _open: OpenGuard,
    outbox: Arc<Outbox<E>>,
}

/// What the reader does after a failed read.
enum AfterError {
    /// Read on; `cut_short`: the read timeout was shortened to end an idle spell on time.
    Retry { cut_short: bool },
    /// Close the connection.
    Close,
}

/// What the reader thread made of one request.
enum Incoming {
    /// A call to run.
    Call {
        request: Request,
        method: Arc<Method>,
        arg: Arg,
    },
    /// A request answered with an error without running anything; of `method`, if there
    /// is one by its name.
    Rejected {
        request: Request,
        method: Option<Arc<Method>>,
        error: String,
    },
}

/// Answers `request`, to `method` if one has its name, with `error` before running anything,
/// and counts it refused.
fn refuse<E: ResponseEncoder>(
    outbox: &Arc<Outbox<E>>,
    request: &Request,
    method: Option<&Method>,
    error: String,
    wire: Option<Wire>,
) {
    let metrics = method.map_or(telemetry::unknown_method(), |m| &m.metrics);
    let handles = metrics.on(wire);
    handles.refused();
    handles.request_size(request.size);
    answer(outbox, request, Err(error.into()), handles);
}

/// Answers `request` with `result`; a notification, which has no answer, has its error
/// logged instead (an unknown method, say), so that it is not lost without a word.
fn answer<E: ResponseEncoder>(
    outbox: &Arc<Outbox<E>>,
    request: &Request,
    result: Result<Reply, Failure>,
    metrics: &MethodHandles,
) {
    if !request.notification {
        let size = respond(
            outbox,
            request.seq,
            result.as_deref().map(|reply| reply as _),
        );
        metrics.response_size(size);
    } else if let Err(error) = result {
        tracing::debug!(
            "rpc: notification {} from {}: {}",
            request.service_method,
            outbox.peer(),
            error.text
        );
    }
}

/// Sends the response to call `seq`; returns its size as encoded.
fn respond<E: ResponseEncoder>(
    outbox: &Arc<Outbox<E>>,
    seq: u64,
    result: Result<&dyn erased_serde::Serialize, &Failure>,
) -> usize {
    let size = Cell::new(0);
    let failure = result.err();
    let result = result.map_err(|failure| failure.text.as_str());
    outbox.reply(seq, result, |encoder, buf, result| {
        let start = buf.len();
        let (response, body) = Response::answering(seq, result, failure);
        let encoded = encoder.encode_response(buf, &response, body);
        size.set(buf.len().saturating_sub(start));
        encoded
    });
    size.get()
}

/// A connection's calls in flight, bounded: a count of them, so the reader stops reading at
/// the limit. (A count, not a channel of tokens: room for 4,096 tokens would cost every
/// connection 32 KiB.)
struct CallLimit {
    tokens: Arc<Tokens>,
    max: usize,
    /// Whether the connection has been at its limit, which is logged once.
    warned: AtomicBool,
}

#[derive(Default)]
struct Tokens {
    books: Mutex<Books>,
    /// Signalled when a call gives its token back.
    freed: Condvar,
}

#[derive(Default)]
struct Books {
    /// Calls in flight.
    taken: usize,
    /// When the last call in flight answered.
    last_answer: Option<Instant>,
}

/// One call in flight; dropping it, however the call ends, gives everything back.
struct InFlight {
    state: Arc<State>,
    tokens: Arc<Tokens>,
}

impl CallLimit {
    fn new(max: usize) -> CallLimit {
        CallLimit {
            tokens: Arc::default(),
            max: max.max(1),
            warned: AtomicBool::new(false),
        }
    }

    /// Takes a token for one more call, waiting while the connection is at its limit; `None`
    /// if the connection was closed meanwhile.
    fn take<E: Send + 'static>(&self, state: &Arc<State>, outbox: &Outbox<E>) -> Option<InFlight> {
        let mut books = self.tokens.books.lock();
        if books.taken >= self.max && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "rpc: {} has {} calls in flight, the limit (ServerBuilder::max_in_flight_per_conn): \
                 no more of its requests are read until one answers. Calls that call this server \
                 back over the same connection wait here for ever once they fill it",
                outbox.peer(),
                books.taken
            );
        }
        while books.taken >= self.max {
            if outbox.is_closed() {
                return None;
            }
            self.tokens.freed.wait_for(&mut books, CLOSED_POLL);
        }
        books.taken += 1;
        drop(books);
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.gauges.in_flight.increment(1.0);
        Some(InFlight {
            state: Arc::clone(state),
            tokens: Arc::clone(&self.tokens),
        })
    }

    fn in_flight(&self) -> usize {
        self.tokens.books.lock().taken
    }

    /// When the last call answered, if any has.
    fn last_answer(&self) -> Option<Instant> {
        self.tokens.books.lock().last_answer
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut books = self.tokens.books.lock();
        books.taken -= 1;
        if self.state.limits.read_timeout.is_some() {
            // Only a read timeout asks when: a clock read saved per call otherwise.
            books.last_answer = Some(Instant::now());
        }
        drop(books);
        self.tokens.freed.notify_one();
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.state.gauges.in_flight.decrement(1.0);
    }
}
