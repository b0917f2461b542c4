//! The calls a client is waiting on: a table sharded by sequence number, and how each call
//! is completed, through its done channel or by waking the thread blocked in `call`.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::Instant;

use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use serde::de::{DeserializeOwned, Error as _};

use crate::client::call::Completed;
use crate::client::timer::{self, Expire, Key};
use crate::error::{CodecError, Error};
use crate::hash::FastMap;
use crate::panic::panic_message;
use crate::telemetry::{self, ClientMetrics, Outcome};
use crate::transport::outbox::Abandoned;

/// A call waiting for its response, with its reply type erased.
pub(crate) trait Pending: Send {
    /// Decodes the reply body into the call's reply type and keeps it.
    fn decode(
        &mut self,
        de: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<(), erased_serde::Error>;

    /// Completes the call: with the reply decoded before, or with `error`.
    fn finish(self: Box<Self>, error: Option<Error>);

    /// Forgets the call without completing it; its waiter gave up.
    fn cancel(self: Box<Self>);

    /// The call's deadline on the timer thread, if it has one.
    fn deadline(&self) -> Option<Key>;
}

pub(crate) struct PendingCall<R> {
    seq: u64,
    service_method: String,
    reply: Option<R>,
    /// `None` once completed or cancelled.
    deliver: Option<Deliver<R>>,
    deadline: Option<Key>,
    /// `None` once the call's end was reported.
    observe: Option<Observe>,
}

/// Where a completed call goes.
pub(crate) enum Deliver<R> {
    /// A done channel (`go`, `go_with`).
    Channel(Sender<Completed<R>>),
    /// A thread blocked in `call`: parking needs no channel and does not spin.
    Waiter(Arc<Waiter<R>>),
}

/// The meeting point of a blocking call and the reader thread that completes it.
pub(crate) struct Waiter<R> {
    result: Mutex<Option<Result<R, Error>>>,
    thread: Thread,
}

impl<R> Waiter<R> {
    pub(crate) fn new() -> Self {
        Waiter {
            result: Mutex::new(None),
            thread: thread::current(),
        }
    }

    fn put(&self, result: Result<R, Error>) {
        *self.result.lock() = Some(result);
        self.thread.unpark();
    }

    /// Waits for the result until `deadline`; `None` if it passed first.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<Result<R, Error>> {
        loop {
            if let Some(result) = self.result.lock().take() {
                return Some(result);
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    thread::park_timeout(left);
                }
            }
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> PendingCall<R> {
    pub(crate) fn boxed(
        seq: u64,
        service_method: String,
        deliver: Deliver<R>,
        deadline: Option<Key>,
        observe: Observe,
    ) -> Box<dyn Pending> {
        Box::new(PendingCall {
            seq,
            service_method,
            reply: None,
            deliver: Some(deliver),
            deadline,
            observe: Some(observe),
        })
    }
}

impl<R> PendingCall<R> {
    fn complete(&mut self, result: Result<R, Error>) {
        if let Some(key) = self.deadline.take() {
            timer::cancel(key);
        }
        if let Some(observe) = self.observe.take() {
            observe.ended(outcome(&result));
        }
        match self.deliver.take() {
            None => {}
            Some(Deliver::Waiter(waiter)) => waiter.put(result),
            Some(Deliver::Channel(done)) => {
                let completed = Completed {
                    seq: self.seq,
                    service_method: std::mem::take(&mut self.service_method),
                    result,
                };
                if let Err(TrySendError::Full(_)) = done.try_send(completed) {
                    tracing::warn!(
                        "rpc: discarding Call reply due to insufficient Done chan capacity"
                    );
                }
            }
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Pending for PendingCall<R> {
    fn decode(
        &mut self,
        de: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<(), erased_serde::Error> {
        // A `Deserialize` that panics fails this call only; the reader goes on.
        let reply = catch_unwind(AssertUnwindSafe(|| erased_serde::deserialize(de)))
            .unwrap_or_else(|payload| {
                Err(erased_serde::Error::custom(format_args!(
                    "the reply's Deserialize panicked: {}",
                    panic_message(&*payload)
                )))
            })?;
        self.reply = Some(reply);
        Ok(())
    }

    fn finish(mut self: Box<Self>, error: Option<Error>) {
        let result = match (error, self.reply.take()) {
            (Some(e), _) => Err(e),
            (None, Some(reply)) => Ok(reply),
            (None, None) => Err(Error::Codec(CodecError::Decode(
                "rpc: reading body: the codec produced no reply".to_owned(),
            ))),
        };
        self.complete(result);
    }

    fn cancel(mut self: Box<Self>) {
        if let Some(observe) = self.observe.take() {
            observe.ended(Outcome::Timeout);
        }
        self.deliver = None;
        if let Some(key) = self.deadline.take() {
            timer::cancel(key);
        }
    }

    fn deadline(&self) -> Option<Key> {
        self.deadline
    }
}

/// What a call reports when it ends: to its span, and to its client's metrics.
pub(crate) struct Observe {
    span: tracing::Span,
    started: Instant,
    metrics: Arc<ClientMetrics>,
}

impl Observe {
    /// Starts reporting a call of `service_method`.
    pub(crate) fn start(service_method: &str, metrics: &Arc<ClientMetrics>) -> Observe {
        metrics.in_flight.increment(1.0);
        Observe {
            span: if telemetry::spans_seen() {
                tracing::debug_span!(
                    "rpc.client.call",
                    rpc.method = service_method,
                    outcome = tracing::field::Empty,
                    duration_us = tracing::field::Empty,
                )
            } else {
                tracing::Span::none()
            },
            started: Instant::now(),
            metrics: Arc::clone(metrics),
        }
    }

    fn ended(self, outcome: Outcome) {
        let took = self.started.elapsed();
        self.metrics.in_flight.decrement(1.0);
        self.metrics.completed(outcome, took);
        telemetry::close_span(&self.span, outcome, took);
    }
}

/// How a call ended, for its metrics.
fn outcome<R>(result: &Result<R, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::Timeout) => Outcome::Timeout,
        Err(e) if !e.may_have_run() => Outcome::Refused,
        Err(_) => Outcome::Error,
    }
}

impl<R> Drop for PendingCall<R> {
    /// A call dropped without completing (a reader thread that panicked) still completes.
    fn drop(&mut self) {
        // Only the error's making costs; most calls have long completed by now.
        if self.deliver.is_some() || self.observe.is_some() || self.deadline.is_some() {
            self.complete(Err(Error::closed_in_flight()));
        }
    }
}

const SHARDS: usize = 16;
const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const BROKEN: u8 = 2;

impl Expire for Calls {
    fn expire(&self, seq: u64, key: Key) {
        let expired = {
            let mut shard = self.shard(seq).lock();
            // Only the call this deadline was set for, not a later one with its number.
            if shard.get(&seq).is_some_and(|p| p.deadline() == Some(key)) {
                shard.remove(&seq)
            } else {
                None
            }
        };
        if let Some(pending) = expired {
            self.abandoned.fetch_add(1, Ordering::AcqRel);
            pending.finish(Some(Error::Timeout));
        }
    }
}

impl Abandoned for Calls {
    fn generation(&self) -> u64 {
        self.abandoned.load(Ordering::Acquire)
    }

    fn ended(&self, seq: u64) -> bool {
        !self.contains(seq)
    }
}

/// The calls of one shard, by sequence number: the client's own, never a peer's choice.
type Shard = FastMap<u64, Box<dyn Pending>>;

/// The pending calls, sharded by sequence number so that callers on many threads and the
/// reader rarely contend for one lock.
pub(crate) struct Calls {
    shards: [Mutex<Shard>; SHARDS],
    next_seq: AtomicU64,
    state: AtomicU8,
    /// How many calls ended without their reply, their requests perhaps still queued.
    abandoned: AtomicU64,
}

impl Calls {
    pub(crate) fn new() -> Calls {
        Calls {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            next_seq: AtomicU64::new(0),
            state: AtomicU8::new(OPEN),
            abandoned: AtomicU64::new(0),
        }
    }

    fn shard(&self, seq: u64) -> &Mutex<Shard> {
        &self.shards[seq as usize % SHARDS]
    }

    pub(crate) fn is_open(&self) -> bool {
        self.state.load(Ordering::Acquire) == OPEN
    }

    /// Moves from open to closing; false if the client was not open.
    pub(crate) fn start_closing(&self) -> bool {
        self.state
            .compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Registers a call under a fresh sequence number. Sequence numbers are 32 bits, as
    /// MessagePack-RPC's msgids, and wrap around; one still in use is skipped, and so is 0,
    /// which a foreign peer's answer to a notification might carry.
    pub(crate) fn register(
        &self,
        pending: impl FnOnce(u64) -> Box<dyn Pending>,
    ) -> Result<u64, (u64, Box<dyn Pending>)> {
        loop {
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) & u64::from(u32::MAX);
            if seq == 0 {
                continue;
            }
            let mut shard = self.shard(seq).lock();
            // Checked under the shard lock: `terminate` sets the state before draining the
            // shards, so a call is either drained or refused here, never stranded.
            if !self.is_open() {
                return Err((seq, pending(seq)));
            }
            if shard.contains_key(&seq) {
                continue;
            }
            shard.insert(seq, pending(seq));
            return Ok(seq);
        }
    }

    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.shard(seq).lock().contains_key(&seq)
    }

    pub(crate) fn remove(&self, seq: u64) -> Option<Box<dyn Pending>> {
        self.shard(seq).lock().remove(&seq)
    }

    /// Removes a call whose caller stopped waiting for it, so that its request, if still
    /// queued, is dropped unsent.
    pub(crate) fn abandon(&self, seq: u64) -> Option<Box<dyn Pending>> {
        let pending = self.remove(seq);
        if pending.is_some() {
            self.abandoned.fetch_add(1, Ordering::AcqRel);
        }
        pending
    }

    /// The connection ended (`end` is `None` for a clean end of stream): fails every pending
    /// call, and every later one, as Go's client does.
    pub(crate) fn terminate(&self, end: Option<CodecError>) {
        let closing = self
            .state
            .compare_exchange(OPEN, BROKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_err();
        if !closing {
            if let Some(e) = &end {
                tracing::warn!("rpc: client protocol error: {e}");
            }
        }
        self.fail_all(|| match &end {
            _ if closing => Error::closed_in_flight(),
            None => Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the reply arrived",
            )),
            Some(e) => replicate(e),
        });
    }

    /// Completes every pending call with an `error` of its own, outside the shards' locks.
    pub(crate) fn fail_all(&self, error: impl Fn() -> Error) {
        for shard in &self.shards {
            let drained: Vec<_> = shard.lock().drain().map(|(_, p)| p).collect();
            for pending in drained {
                pending.finish(Some(error()));
            }
        }
    }
}

/// A fresh copy of a connection error, for each call it fails.
pub(crate) fn replicate(e: &CodecError) -> Error {
    match e {
        CodecError::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
        CodecError::TooLarge { size, limit } => Error::Codec(CodecError::TooLarge {
            size: *size,
            limit: *limit,
        }),
        CodecError::RequestTooLarge { seq, size, limit } => {
            Error::Codec(CodecError::RequestTooLarge {
                seq: *seq,
                size: *size,
                limit: *limit,
            })
        }
        CodecError::ReplyTooLarge { seq, size, limit } => Error::Codec(CodecError::ReplyTooLarge {
            seq: *seq,
            size: *size,
            limit: *limit,
        }),
        CodecError::Malformed(s) => Error::Codec(CodecError::Malformed(s.clone())),
        CodecError::Decode(s) => Error::Codec(CodecError::Decode(s.clone())),
        CodecError::Encode(s) => Error::Codec(CodecError::Encode(s.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(
        seq: u64,
        deadline: Option<Key>,
    ) -> (
        Box<dyn Pending>,
        crossbeam_channel::Receiver<Completed<u64>>,
    ) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        (
            PendingCall::<u64>::boxed(
                seq,
                String::new(),
                Deliver::Channel(tx),
                deadline,
                Observe::start("T.M", &Arc::new(ClientMetrics::new(None))),
            ),
            rx,
        )
    }

    #[test]
    fn sequence_numbers_skip_zero_when_they_wrap() {
        let calls = Calls::new();
        calls.next_seq.store(u64::from(u32::MAX), Ordering::Relaxed);
        let mut done = Vec::new();
        let first = calls.register(|seq| {
            let (pending, rx) = call(seq, None);
            done.push(rx);
            pending
        });
        let second = calls.register(|seq| {
            let (pending, rx) = call(seq, None);
            done.push(rx);
            pending
        });
        assert_eq!(first.ok(), Some(u64::from(u32::MAX)));
        assert_eq!(second.ok(), Some(1), "0 is never handed out");
    }

    #[test]
    fn a_stale_deadline_does_not_expire_a_call_that_reuses_its_number() {
        let calls = Calls::new();
        let at = Instant::now() + Duration::from_secs(3600);
        let (stale, new) = (Key::new(at), Key::new(at));
        let mut done = None;
        let seq = calls
            .register(|seq| {
                let (pending, rx) = call(seq, Some(new));
                done = Some(rx);
                pending
            })
            .ok()
            .unwrap();
        // The deadline of an earlier call with this number fires: nothing happens.
        calls.expire(seq, stale);
        let done = done.unwrap();
        assert!(done.try_recv().is_err());
        // Its own deadline expires it.
        calls.expire(seq, new);
        assert!(matches!(
            done.try_recv().unwrap().result,
            Err(Error::Timeout)
        ));
    }
}
