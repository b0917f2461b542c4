//! One writer per connection, shared by everyone who sends on it.
//!
//! A sender (a worker answering a call, a caller sending a request) encodes its message into
//! the connection's queue under a short lock. If no write is in progress it becomes the writer
//! and writes until the queue is empty; otherwise it returns at once and the writer in progress
//! carries its bytes too. Senders already in line for the lock leave the writing to the last
//! of them, who finds their messages queued. Nobody waits for another's write, nothing is held
//! back for messages not yet ready, and what was ready together leaves in one syscall.
//!
//! No sender ever waits for the peer. The writer writes without blocking where the transport
//! allows it; when the peer stops taking bytes, or the transport can only write blocking, the
//! rest is handed to a `netrpc-writer` thread of the connection's own, which waits for the peer
//! for at most the write timeout per batch; so a peer that does not read pins one thread, and
//! only for that long. On a transport that can only write blocking that thread stays a while
//! for the next batch rather than being started for each. What waits for the peer is bounded
//! by [`Limits::max_unsent`]: past it the connection is closed. [`Outbox::close`] shuts the
//! socket through a handle of its own, outside every lock, so it never waits behind a writer.
//!
//! A client's requests carry their call ([`Ticket`]): one whose call ended (timed out) before
//! any of it was written is dropped unsent, so that a server never runs a call nobody awaits.

use std::io;
use std::mem;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::CodecError;
use crate::panic::panic_message;
use crate::transport::{thread_name, Conn};

/// A buffer grown past this (a burst of messages, or one large one) is given back once it has
/// been written, so that an idle connection holds little.
const KEEP_BUFFER: usize = 256 * 1024;

/// Queued bytes past which a sender writes even if others are in line to send.
const WRITE_NOW: usize = 64 * 1024;

/// How long the writer thread of a transport that can only write blocking waits for the next
/// batch before it ends: long enough to serve a busy connection with one thread, short enough
/// that the connection, which that thread keeps open, closes soon after its last handle drops.
const LINGER: Duration = Duration::from_millis(20);

/// The writing half of a connection, handed by a codec to the library's writer
/// (see [`ServerCodec::writer`](crate::codec::ServerCodec::writer)).
pub struct Output {
    sink: Box<dyn Sink>,
    closer: Box<dyn Sink>,
    write_timeout: Option<Duration>,
    peer: String,
}

impl Output {
    /// The writing half of `conn`: two handles of it, one that writes and one that only shuts
    /// it down. Writes are bounded by the connection's write timeout.
    pub fn new<C: Conn>(conn: &C) -> io::Result<Output> {
        Ok(Output {
            sink: Box::new(conn.try_clone()?),
            closer: Box::new(conn.try_clone()?),
            write_timeout: conn.write_timeout()?,
            peer: conn.peer(),
        })
    }
}

impl Output {
    /// The peer's name, as the connection gave it.
    pub fn peer(&self) -> &str {
        &self.peer
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").field("peer", &self.peer).finish()
    }
}

/// What the writer needs of a connection.
trait Sink: Send {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    fn write_nonblocking(&mut self, buf: &[u8]) -> Option<io::Result<usize>>;
    fn flush(&mut self) -> io::Result<()>;
    fn shutdown(&self) -> io::Result<()>;
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl<C: Conn> Sink for C {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(self, buf)
    }

    fn write_nonblocking(&mut self, buf: &[u8]) -> Option<io::Result<usize>> {
        Conn::write_nonblocking(self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::Write::flush(self)
    }

    fn shutdown(&self) -> io::Result<()> {
        Conn::shutdown(self)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Conn::set_read_timeout(self, timeout)
    }
}

/// The bounds of an [`Outbox`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest message that may be queued.
    pub(crate) max_message: usize,
    /// The most bytes that may queue while the writer thread waits for a peer slow to read;
    /// past it a reply closes the connection and a request is refused ([`Outgoing`]).
    pub(crate) max_unsent: usize,
}

/// What a message sent through an [`Outbox`] is, which decides what becomes of one that the
/// limits refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outgoing {
    /// A request, whose caller can be told at once: made while more than the bytes that may
    /// wait for the peer ([`Limits::max_unsent`]) wait, it is not sent, and the connection,
    /// which may only be slow to read (a server at its limit of calls in flight), goes on.
    /// With a [`Ticket`], it is dropped unsent if its call ends before it is written.
    Request(Option<Ticket>),
    /// A reply, whose caller would wait for ever if it were dropped: past that limit the
    /// connection closes.
    Reply,
}

impl Outgoing {
    fn name(self) -> &'static str {
        match self {
            Outgoing::Request(_) => "request",
            Outgoing::Reply => "reply",
        }
    }
}

/// The call a request is for, so that the writer can tell whether it still has to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The call's sequence number.
    pub(crate) seq: u64,
    /// [`Abandoned::generation`] before the call was registered.
    pub(crate) generation: u64,
}

/// The calls whose requests an [`Outbox`] may drop: a client's pending calls.
pub(crate) trait Abandoned: Send + Sync {
    /// A count of the calls that ended without their reply (timed out); while it stays the
    /// same, no request queued since it was read has been abandoned.
    fn generation(&self) -> u64;

    /// Whether call `seq` has ended.
    fn ended(&self, seq: u64) -> bool;
}

/// A connection's queue of encoded messages and its one writer.
pub(crate) struct Outbox<E> {
    state: Mutex<State<E>>,
    /// Wakes a writer thread that waits for the next batch ([`State::lingering`]).
    work: Condvar,
    /// Senders between wanting the state lock and having queued their message.
    in_line: AtomicUsize,
    /// Held by the one writer only, so never contended.
    sink: Mutex<Box<dyn Sink>>,
    /// Held only to shut the connection down.
    closer: Mutex<Box<dyn Sink>>,
    /// Set by [`Outbox::close`] without the state lock, which a sender holds while its
    /// message (a user's `Serialize`) encodes.
    closed: AtomicBool,
    /// Set once the transport is found to write only blocking: every batch then goes to the
    /// writer thread.
    writes_blocking: AtomicBool,
    /// The calls whose requests may be dropped unsent once they have ended.
    abandoned: Option<Arc<dyn Abandoned>>,
    write_timeout: Option<Duration>,
    peer: String,
    limits: Limits,
}

struct State<E> {
    encoder: E,
    /// Encoded messages not yet taken by a writer.
    queue: Messages,
    /// A buffer written out before, kept to swap with the queue.
    spare: Messages,
    /// Whether a writer is at work; it takes whatever is queued before it stops.
    writing: bool,
    /// Whether that writer may be waiting for a peer slow to read (the connection's writer
    /// thread): only then do queued bytes wait for the peer, rather than for a writer in
    /// passing.
    stalled: bool,
    /// Whether that writer is a writer thread waiting for the next batch, to be woken
    /// through [`Outbox::work`].
    lingering: bool,
    /// Why writing failed, if it did.
    failure: Option<(io::ErrorKind, String)>,
}

/// Encoded messages, and where among them lie the requests that may be dropped unsent.
struct Messages {
    bytes: Vec<u8>,
    /// The bytes of each request with a [`Ticket`], and its call's sequence number, in order.
    calls: Vec<(Range<usize>, u64)>,
    /// The lowest [`Ticket::generation`] among `calls`: no call of theirs can have ended
    /// while [`Abandoned::generation`] still says this.
    since: u64,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            bytes: Vec::new(),
            calls: Vec::new(),
            since: u64::MAX,
        }
    }
}

impl Messages {
    fn clear(&mut self) {
        self.bytes.clear();
        self.calls.clear();
        self.since = u64::MAX;
    }

    /// Whether the buffers were grown past what an idle connection keeps.
    fn oversized(&self) -> bool {
        self.bytes.capacity() > KEEP_BUFFER
            || self.calls.capacity() * mem::size_of::<(Range<usize>, u64)>() > KEEP_BUFFER
    }

    /// Cuts out, moving the bytes after each down, the requests that lie wholly at or after
    /// `from` and whose calls have ended.
    fn drop_ended(&mut self, from: usize, ended: impl Fn(u64) -> bool) {
        let Messages { bytes, calls, .. } = self;
        // Bytes before `read` are in place, `removed` bytes lower than they were.
        let (mut read, mut removed) = (from, 0);
        calls.retain_mut(|(range, seq)| {
            if range.start >= from && ended(*seq) {
                bytes.copy_within(read..range.start, read - removed);
                removed += range.len();
                read = range.end;
                return false;
            }
            range.start -= removed;
            range.end -= removed;
            true
        });
        if removed > 0 {
            let len = bytes.len();
            bytes.copy_within(read..len, read - removed);
            bytes.truncate(len - removed);
        }
    }
}

/// How a writer waits for a peer that is slow to read.
#[derive(Clone, Copy, PartialEq)]
enum Waiting {
    /// A sender writing in passing: hands the rest to a writer thread instead of waiting.
    HandOff,
    /// The connection's writer thread: waits, for at most the write timeout per batch.
    Wait,
}

impl<E: Send + 'static> Outbox<E> {
    pub(crate) fn new(encoder: E, output: Output, limits: Limits) -> Arc<Self> {
        Outbox::dropping_abandoned(encoder, output, limits, None)
    }

    /// An outbox that drops, unsent, the requests of the calls in `abandoned` that ended
    /// before they were written. Only for a wire whose requests stand alone: one left out
    /// must spoil none after it.
    pub(crate) fn dropping_abandoned(
        encoder: E,
        output: Output,
        limits: Limits,
        abandoned: Option<Arc<dyn Abandoned>>,
    ) -> Arc<Self> {
        Arc::new(Outbox {
            in_line: AtomicUsize::new(0),
            state: Mutex::new(State {
                encoder,
                queue: Messages::default(),
                spare: Messages::default(),
                writing: false,
                stalled: false,
                lingering: false,
                failure: None,
            }),
            work: Condvar::new(),
            sink: Mutex::new(output.sink),
            closer: Mutex::new(output.closer),
            closed: AtomicBool::new(false),
            writes_blocking: AtomicBool::new(false),
            abandoned,
            write_timeout: output.write_timeout,
            peer: output.peer,
            limits,
        })
    }

    /// The peer's name, for logs.
    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    /// Queues one message, which `encode` appends to the buffer it is given, and sees it
    /// written. An `encode` that fails or panics, or a message over the size limit, leaves
    /// nothing behind and is a [`CodecError::Encode`]; the connection goes on. A closed
    /// connection is a [`CodecError::Io`] of kind `NotConnected`. What the message is decides
    /// what becomes of one over a limit ([`Outgoing`]).
    ///
    /// The sender never waits for the peer; it waits for another sender's message to encode
    /// (a user's `Serialize`) only until `deadline`, past which nothing is queued and the
    /// error is a [`CodecError::Io`] of kind `TimedOut`.
    pub(crate) fn send(
        self: &Arc<Self>,
        message: Outgoing,
        deadline: Option<Instant>,
        encode: impl FnOnce(&mut E, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        self.in_line.fetch_add(1, Ordering::AcqRel);
        let state = match deadline {
            None => Some(self.state.lock()),
            Some(deadline) => self.state.try_lock_until(deadline),
        };
        let Some(mut state) = state else {
            self.leave_line();
            return Err(CodecError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the deadline passed while another message was being encoded",
            )));
        };
        // A request is refused before it is encoded, so that nothing of it is sent, or
        // remembered as sent (a gob type definition); the queue may so pass the limit by one
        // message. The sender still writes for those in line, below.
        let queued = match self.unsent_past_limit(&state, 0) {
            Some(waiting) if message != Outgoing::Reply => Err(CodecError::Encode(format!(
                "rpc: not sent: {waiting} (ClientBuilder::max_unsent_bytes)"
            ))),
            _ => self.queue(&mut state, message, encode),
        };
        // Senders already in line for the lock have their messages ready: the last of them
        // writes for all, so that messages ready together leave together. Decided under the
        // lock, so the last one finds every message of those before it queued. Senders that
        // keep coming may leave no last one: past `WRITE_NOW` queued bytes, any sender writes.
        let last = self.in_line.fetch_sub(1, Ordering::AcqRel) == 1
            || state.queue.bytes.len() >= WRITE_NOW;
        if self.is_closed() {
            // Perhaps closed while the message encoded: nothing will write it.
            state.queue = Messages::default();
            return Err(closed());
        }
        if message == Outgoing::Reply {
            // Past the requests' bound by more than the one message a request may add.
            if let Some(waiting) = self.unsent_past_limit(&state, self.limits.max_message) {
                let reason = format!("{waiting}; the connection was closed");
                tracing::warn!("rpc: {reason}");
                state
                    .failure
                    .get_or_insert((io::ErrorKind::WriteZero, reason));
                drop(state);
                self.close();
                return Err(closed());
            }
        }
        if last {
            self.write_queued(state);
        }
        queued
    }

    /// Leaves the line of senders without a message, the lock not taken in time. The senders
    /// before may have left the writing to this one: if it was the last in line, it writes
    /// what they queued, unless a sender still in line will.
    fn leave_line(self: &Arc<Self>) {
        if self.in_line.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        loop {
            if let Some(state) = self.state.try_lock() {
                if !self.is_closed() {
                    self.write_queued(state);
                }
                return;
            }
            // Whoever holds the lock now either came after, and so decides for all, or has
            // decided already and lets it go at once.
            if self.in_line.load(Ordering::Acquire) > 0 {
                return;
            }
            thread::yield_now();
        }
    }

    /// Sees what is queued written: wakes the writer thread waiting for it, or, if no writer
    /// is at work, becomes the writer.
    fn write_queued(self: &Arc<Self>, mut state: MutexGuard<'_, State<E>>) {
        if state.queue.bytes.is_empty() {
            return;
        }
        if state.writing {
            if state.lingering {
                self.work.notify_one();
            }
            return;
        }
        state.writing = true;
        let batch = take_queue(&mut state);
        drop(state);
        self.write_out(batch, 0, Waiting::HandOff);
    }

    /// What waits for a peer slow to read, if it is past the limit: the bytes queued while a
    /// writer thread may be waiting for the peer. While a sender writes in passing without
    /// blocking, the peer reads, and the queue holds only what arrived meanwhile.
    fn unsent_past_limit(&self, state: &State<E>, slack: usize) -> Option<String> {
        let limit = self.limits.max_unsent.saturating_add(slack);
        let queued = state.queue.bytes.len();
        (state.stalled && queued > limit).then(|| {
            format!(
                "{queued} bytes wait for {} to read, more than the limit of {}",
                self.peer, self.limits.max_unsent
            )
        })
    }

    /// Appends one message, which `encode` writes, to the queue; see [`Outbox::send`].
    fn queue(
        &self,
        state: &mut State<E>,
        message: Outgoing,
        encode: impl FnOnce(&mut E, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        if self.is_closed() {
            return Err(closed());
        }
        let State { encoder, queue, .. } = state;
        let mark = queue.bytes.len();
        let encoded = catch_unwind(AssertUnwindSafe(|| encode(encoder, &mut queue.bytes)))
            .unwrap_or_else(|panic| {
                Err(CodecError::Encode(format!(
                    "rpc: encoding panicked: {}",
                    panic_message(&*panic)
                )))
            })
            .and_then(|()| {
                let size = queue.bytes.len() - mark;
                if size > self.limits.max_message {
                    return Err(CodecError::unsendable(
                        message.name(),
                        size,
                        self.limits.max_message,
                    ));
                }
                Ok(())
            });
        if encoded.is_err() {
            queue.bytes.truncate(mark);
            if queue.oversized() && mark <= KEEP_BUFFER {
                queue.bytes.shrink_to(KEEP_BUFFER);
            }
            return encoded;
        }
        if let (Outgoing::Request(Some(ticket)), Some(_)) = (message, &self.abandoned) {
            queue.calls.push((mark..queue.bytes.len(), ticket.seq));
            queue.since = queue.since.min(ticket.generation);
        }
        Ok(())
    }

    /// Sends the answer to call `seq`: `result`'s value, or its error text, as `encode` puts
    /// either into a message. A value that cannot be encoded is answered with the reason
    /// instead; where not even that can be sent (an error reply over the size limit), the
    /// connection is closed, so that the caller learns of it rather than waits.
    pub(crate) fn reply(
        self: &Arc<Self>,
        seq: u64,
        result: Result<&dyn erased_serde::Serialize, &str>,
        encode: impl Fn(
            &mut E,
            &mut Vec<u8>,
            Result<&dyn erased_serde::Serialize, &str>,
        ) -> Result<(), CodecError>,
    ) {
        let sent = self.send(Outgoing::Reply, None, |encoder, buf| {
            encode(encoder, buf, result)
        });
        let Err(e) = sent else {
            return;
        };
        if !e.is_recoverable() {
            return; // The connection is closed already.
        }
        let why = e.to_string();
        let again = self.send(Outgoing::Reply, None, |encoder, buf| {
            encode(encoder, buf, Err(&why))
        });
        if let Err(again) = again {
            if again.is_recoverable() {
                tracing::warn!(
                    "rpc: cannot answer call {seq} of {}: {again}; closing the connection",
                    self.peer
                );
                self.close();
            }
        }
    }

    /// Shuts the connection down in both directions; what is queued is dropped. A thread
    /// blocked reading or writing the connection wakes up.
    pub(crate) fn close(&self) {
        let _ = self.closer.lock().shutdown();
        self.closed.store(true, Ordering::Release);
        // A sender holding the lock frees the queue itself when it finds the flag set.
        if let Some(mut state) = self.state.try_lock() {
            state.queue = Messages::default();
        }
        self.work.notify_all();
    }

    /// Why writing to the connection failed, if it did.
    pub(crate) fn failure(&self) -> Option<io::Error> {
        let state = self.state.lock();
        let (kind, text) = state.failure.as_ref()?;
        Some(io::Error::new(*kind, text.clone()))
    }

    /// Sets the read timeout of the connection this writes to (its reader's, too: they are one
    /// socket).
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.closer.lock().set_read_timeout(timeout)
    }

    /// Whether the connection was closed, by [`Outbox::close`] or by a failed write.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The bytes of buffer the outbox holds, queued or kept for reuse.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        let state = self.state.lock();
        state.queue.bytes.capacity() + state.spare.bytes.capacity()
    }

    /// Writes `batch` from `sent` on, then whatever was queued meanwhile, until the queue is
    /// empty; the caller holds the `writing` flag, and this gives it back.
    fn write_out(self: &Arc<Self>, mut batch: Messages, mut sent: usize, waiting: Waiting) {
        let mut sink = self.sink.lock();
        loop {
            // A transport whose write panics fails like one whose write errs.
            let written = catch_unwind(AssertUnwindSafe(|| {
                self.write_batch(&mut **sink, &mut batch, &mut sent, waiting)
            }))
            .unwrap_or_else(|panic| {
                Err(io::Error::other(format!(
                    "the connection's write panicked: {}",
                    panic_message(&*panic)
                )))
            });
            match written {
                Ok(true) => {}
                Ok(false) => {
                    drop(sink);
                    self.hand_off(batch, sent);
                    return;
                }
                Err(e) => {
                    drop(sink);
                    tracing::warn!("rpc: writing to {}: {e}; closing the connection", self.peer);
                    // A write that fails on a connection closed for a reason keeps that reason.
                    (self.state.lock().failure).get_or_insert((e.kind(), e.to_string()));
                    self.close();
                    return;
                }
            }
            let mut state = self.state.lock();
            let next = match waiting {
                Waiting::Wait if self.writes_blocking.load(Ordering::Acquire) => {
                    self.next_batch_within(&mut state, LINGER)
                }
                _ => self.next_batch_within(&mut state, Duration::ZERO),
            };
            recycle(&mut state, batch);
            let Some(next) = next else {
                state.writing = false;
                state.stalled = false;
                return;
            };
            batch = next;
            sent = 0;
        }
    }

    /// The queued messages, waiting for some to be queued for at most `linger`; `None` if
    /// there are none, or the connection is closed.
    fn next_batch_within(
        &self,
        state: &mut MutexGuard<'_, State<E>>,
        linger: Duration,
    ) -> Option<Messages> {
        // The clock is read only to linger: the common case, no linger, is every batch's.
        let mut until = None;
        loop {
            if self.is_closed() {
                state.queue = Messages::default();
                return None;
            }
            if !state.queue.bytes.is_empty() {
                return Some(take_queue(state));
            }
            if linger.is_zero() {
                return None;
            }
            let now = Instant::now();
            let until = *until.get_or_insert(now + linger);
            if now >= until {
                return None;
            }
            state.lingering = true;
            self.work.wait_until(state, until);
            state.lingering = false;
        }
    }

    /// Writes `batch.bytes[*sent..]`, leaving out the requests of calls that ended;
    /// `Ok(false)` if the peer takes no more now, or the transport can only write blocking,
    /// and `waiting` says not to wait for it.
    fn write_batch(
        &self,
        sink: &mut dyn Sink,
        batch: &mut Messages,
        sent: &mut usize,
        waiting: Waiting,
    ) -> io::Result<bool> {
        let deadline = match waiting {
            Waiting::HandOff => None,
            Waiting::Wait => self
                .write_timeout
                .and_then(|timeout| Instant::now().checked_add(timeout)),
        };
        loop {
            self.drop_abandoned(batch, *sent);
            let Some(rest) = batch.bytes.get(*sent..).filter(|rest| !rest.is_empty()) else {
                break;
            };
            let written = match waiting {
                Waiting::HandOff => match sink.write_nonblocking(rest) {
                    Some(written) => written,
                    None => {
                        self.writes_blocking.store(true, Ordering::Release);
                        return Ok(false);
                    }
                },
                Waiting::Wait => sink.write(rest),
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && waiting == Waiting::HandOff => {
                    return Ok(false)
                }
                Err(e) => return Err(e),
            }
            if *sent < batch.bytes.len() && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer took too long to read: nothing more written within the write timeout",
                ));
            }
        }
        sink.flush()?;
        Ok(true)
    }

    /// Leaves out of `batch`, from `sent` on, the requests of calls that ended, if any may
    /// have since the batch was last looked at.
    fn drop_abandoned(&self, batch: &mut Messages, sent: usize) {
        let Some(abandoned) = &self.abandoned else {
            return;
        };
        let generation = abandoned.generation();
        if batch.since >= generation {
            return;
        }
        batch.drop_ended(sent, |seq| abandoned.ended(seq));
        batch.since = generation;
    }

    /// Gives the rest of a batch that the peer is slow to take, or that the transport can
    /// only write blocking, to a writer thread, which waits for the peer; the `writing` flag
    /// goes with it.
    fn hand_off(self: &Arc<Self>, batch: Messages, sent: usize) {
        self.state.lock().stalled = true;
        let outbox = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(thread_name("netrpc-writer", &self.peer))
            .stack_size(64 << 10)
            .spawn(move || outbox.write_out(batch, sent, Waiting::Wait));
        if let Err(e) = spawned {
            tracing::error!(
                "rpc: cannot start a writer thread for {} ({e}); closing the connection",
                self.peer
            );
            self.close();
        }
    }
}

impl<E> Drop for Outbox<E> {
    /// The last handle closes the connection.
    fn drop(&mut self) {
        let _ = self.closer.get_mut().shutdown();
    }
}

/// Takes the queued messages, leaving the spare buffer in their place.
fn take_queue<E>(state: &mut State<E>) -> Messages {
    let spare = mem::take(&mut state.spare);
    mem::replace(&mut state.queue, spare)
}

/// Keeps a written batch to swap with the queue, unless it grew past what is worth keeping.
fn recycle<E>(state: &mut State<E>, mut batch: Messages) {
    if !batch.oversized() {
        batch.clear();
        state.spare = batch;
    }
}

fn closed() -> CodecError {
    CodecError::Io(io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection is closed",
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use super::*;

    const LIMITS: Limits = Limits {
        max_message: 64 << 20,
        max_unsent: 64 << 20,
    };

    /// Queues `len` bytes of `byte`.
    fn send(outbox: &Arc<Outbox<()>>, len: usize, byte: u8) {
        outbox
            .send(Outgoing::Reply, None, |(), buf| {
                buf.resize(buf.len() + len, byte);
                Ok(())
            })
            .unwrap();
    }

    /// Waits until no writer is at work.
    fn drained(outbox: &Outbox<()>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while outbox.state.lock().writing {
            assert!(Instant::now() < deadline, "the writer never finished");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_backlog_written_leaves_small_buffers_behind() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let outbox = Outbox::new((), Output::new(&ours).unwrap(), LIMITS);
        // The peer reads nothing yet: the first message stalls the writer, the rest queue.
        for byte in 1..=3 {
            send(&outbox, 10 << 20, byte);
        }
        let mut received = vec![0u8; 30 << 20];
        theirs.read_exact(&mut received).unwrap();
        drained(&outbox);
        let held = outbox.buffered();
        assert!(
            held <= 2 * KEEP_BUFFER,
            "{held} bytes held after the backlog"
        );
    }

    #[test]
    fn requests_of_ended_calls_are_cut_out_of_a_batch() {
        let mut batch = Messages::default();
        for (seq, text) in [(1, "one"), (0, "note"), (2, "two"), (3, "three")] {
            let start = batch.bytes.len();
            batch.bytes.extend_from_slice(text.as_bytes());
            if seq != 0 {
                batch.calls.push((start..batch.bytes.len(), seq));
            }
        }
        // "one" is being written: it stays whole.
        batch.drop_ended(1, |seq| seq != 3);
        assert_eq!(batch.bytes, b"onenotethree");
        assert_eq!(batch.calls, [(0..3, 1), (7..12, 3)]);
    }
}
