//! What a client serves to its peer. MessagePack-RPC is symmetric: the server (Neovim, say)
//! may call methods the client registered, and send it notifications, over the same
//! connection. The reader thread reads them with the responses; the methods run on a worker
//! pool of the client's own, never on the reader, and their replies leave through the client's
//! writer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::Mutex;
use serde::de::{
    self, value::SeqAccessDeserializer, value::UnitDeserializer, DeserializeSeed, Deserializer,
    SeqAccess, Visitor,
};

use crate::codec::{ClientCodec, Failure, Request};
use crate::error::{CodecError, RegisterError};
use crate::service::pool::{Pool, PoolConfig, KEEP_ALIVE, TIME_SLICE};
use crate::service::{Arg, Caller, Context, Method, Registry, Service};
use crate::wire::Wire;

/// Notifications kept for [`Client::notifications`](crate::Client::notifications) before
/// more are dropped.
const NOTIFICATIONS_KEPT: usize = 1024;

/// The memory (as decoded) that notifications waiting unread may hold before more are
/// dropped; one arriving when none waits is kept, whatever its size.
const NOTIFICATION_BYTES_KEPT: usize = 64 << 20;

/// A notification from the peer that no method the client registered takes: its method name
/// and its `params` as they came.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The method named, e.g. `"nvim_error_event"` or an `rpcnotify` event name.
    pub method: String,
    /// The argument list, usually an array.
    pub params: rmpv::Value,
}

/// Sends the answer to one of the peer's requests.
pub(crate) trait Answer: Send + Sync + 'static {
    /// Answers request `seq` with `reply`, or with the error.
    fn answer(&self, seq: u64, reply: Result<&dyn erased_serde::Serialize, Failure>);
}

/// The services a client offers its peer, the pool they run on, and where notifications go.
pub(crate) struct Peer {
    services: Registry,
    pool: Pool,
    /// The peer, as the contexts of its calls see it.
    caller: Arc<Caller>,
    /// The peer's calls handed to the pool and not yet finished: at most [`MAX_IN_FLIGHT`].
    in_flight: Arc<AtomicUsize>,
    notifications: Mutex<Option<Notifications>>,
}

/// The most of its peer's calls a client runs at once; past it, a call is answered that the
/// client is busy (the reader never waits: behind it wait the replies to the client's own
/// calls).
const MAX_IN_FLIGHT: usize = 1024;

/// The channel of [`Client::notifications`](crate::Client::notifications), and the memory
/// held by what waits in it.
struct Notifications {
    tx: Sender<Notification>,
    rx: Receiver<Notification>,
    /// The sizes of the notifications sent and perhaps unread, oldest first, and their sum.
    /// Only the reader sends, and the channel is first in, first out: those the user has
    /// taken since are the oldest.
    sizes: VecDeque<usize>,
    bytes: usize,
}

impl Notifications {
    fn new() -> Self {
        let (tx, rx) = bounded(NOTIFICATIONS_KEPT);
        Notifications {
            tx,
            rx,
            sizes: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Sends `notification` on unless those waiting unread are too many or hold too much;
    /// returns it if not.
    fn send(&mut self, notification: Notification) -> Result<(), Notification> {
        let unread = self.tx.len();
        while self.sizes.len() > unread {
            self.bytes -= self.sizes.pop_front().unwrap_or(0);
        }
        let size = footprint(&notification.params) + notification.method.len();
        if unread > 0 && self.bytes + size > NOTIFICATION_BYTES_KEPT {
            return Err(notification);
        }
        match self.tx.try_send(notification) {
            Ok(()) => {
                self.sizes.push_back(size);
                self.bytes += size;
                Ok(())
            }
            Err(TrySendError::Full(n) | TrySendError::Disconnected(n)) => Err(n),
        }
    }
}

/// The memory a decoded value holds, about.
fn footprint(value: &rmpv::Value) -> usize {
    let mut bytes = 0;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        bytes += std::mem::size_of::<rmpv::Value>();
        match value {
            rmpv::Value::String(s) => bytes += s.as_bytes().len(),
            rmpv::Value::Binary(b) | rmpv::Value::Ext(_, b) => bytes += b.len(),
            rmpv::Value::Array(items) => stack.extend(items),
            rmpv::Value::Map(entries) => stack.extend(entries.iter().flat_map(|(k, v)| [k, v])),
            _ => {}
        }
    }
    bytes
}

impl Peer {
    /// What a client on a connection to `peer`, speaking `wire`, serves it.
    pub(crate) fn new(peer: &str, wire: Option<Wire>) -> Peer {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Peer {
            services: Registry::default(),
            // No thread starts before the peer's first request.
            pool: Pool::new(PoolConfig {
                core: cores,
                keep_alive: KEEP_ALIVE,
                stack_size: 2 << 20,
                time_slice: TIME_SLICE,
            }),
            in_flight: Arc::new(AtomicUsize::new(0)),
            caller: Caller::new(peer, wire),
            notifications: Mutex::new(None),
        }
    }

    /// The peer, as the contexts of its calls see it.
    pub(crate) fn caller(&self) -> Arc<Caller> {
        Arc::clone(&self.caller)
    }

    pub(crate) fn register<T: Send + Sync + 'static>(
        &self,
        name: &str,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        self.services.register(name, service)
    }

    pub(crate) fn register_root<T: Send + Sync + 'static>(
        &self,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        self.services.register_root(service)
    }

    /// The channel of notifications no registered method takes; made on first use.
    pub(crate) fn notifications(&self) -> Receiver<Notification> {
        let mut channel = self.notifications.lock();
        channel.get_or_insert_with(Notifications::new).rx.clone()
    }

    /// Serves the request the codec has just read: decodes its argument for the method it
    /// names and runs it on the pool, answering through `answer`; a notification no method
    /// takes goes to the notification channel. Only an error that breaks the stream is
    /// returned.
    pub(crate) fn serve<C: ClientCodec>(
        &self,
        codec: &mut C,
        request: Request,
        answer: Arc<dyn Answer>,
    ) -> Result<(), CodecError> {
        let Request {
            seq,
            service_method,
            notification,
            ..
        } = request;
        let method = match self.services.lookup(&service_method) {
            Ok(method) => method,
            Err(_) if notification => return self.deliver(codec, service_method),
            Err(error) => {
                codec.read_response_body(None)?;
                answer.answer(seq, Err(error.into()));
                return Ok(());
            }
        };
        let mut arg = None;
        let decoded = codec.read_response_body(Some(&mut |de| {
            arg = Some(ArgumentOf(&method).deserialize(de)?);
            Ok(())
        }));
        let arg = match (decoded, arg) {
            (Ok(()), Some(arg)) => arg,
            (Err(e), _) if !e.is_recoverable() => return Err(e),
            (result, _) => {
                let error = result.err().map_or_else(
                    || "rpc: reading body: the codec produced no argument".to_owned(),
                    |e| e.to_string(),
                );
                if !notification {
                    answer.answer(seq, Err(error.into()));
                }
                return Ok(());
            }
        };
        let hint = Arc::clone(&method.hint);
        let answering = Arc::clone(&answer);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            let busy = format!(
                "rpc: the client is busy: {MAX_IN_FLIGHT} of its peer's calls are running; \
                 refusing {}",
                method.name
            );
            tracing::warn!("{busy}");
            if !notification {
                answer.answer(seq, Err(busy.into()));
            }
            return Ok(());
        }
        let in_flight = Arc::clone(&self.in_flight);
        let ctx = Context::new(&self.caller, method, seq);
        self.pool.execute(hint, move || {
            // Counted out however the call ends, a panic included.
            let _running = Finished(in_flight);
            let result = ctx.method().invoke(&ctx, arg);
            if !notification {
                match result {
                    Ok(reply) => answering.answer(seq, Ok(&*reply)),
                    Err(error) => answering.answer(seq, Err(error)),
                }
            }
        });
        Ok(())
    }

    /// Hands a notification to the channel, if anyone took it; otherwise drops it with a log
    /// line. The reader never waits for the channel.
    fn deliver<C: ClientCodec>(&self, codec: &mut C, method: String) -> Result<(), CodecError> {
        if self.notifications.lock().is_none() {
            codec.read_response_body(None)?;
            tracing::info!("rpc: dropping the peer's notification {method}: nothing takes it");
            return Ok(());
        }
        let mut params = None;
        let decoded = codec.read_response_body(Some(&mut |de| {
            params = Some(erased_serde::deserialize::<rmpv::Value>(de)?);
            Ok(())
        }));
        match (decoded, params) {
            (Ok(()), Some(params)) => {
                let mut channel = self.notifications.lock();
                let Some(channel) = channel.as_mut() else {
                    return Ok(()); // Made before, so never gone.
                };
                if let Err(dropped) = channel.send(Notification { method, params }) {
                    tracing::warn!(
                        "rpc: dropping the peer's notification {}: {} wait unread, holding {} bytes",
                        dropped.method,
                        channel.tx.len(),
                        channel.bytes
                    );
                }
                Ok(())
            }
            (Err(e), _) if !e.is_recoverable() => Err(e),
            (result, _) => {
                tracing::warn!("rpc: dropping the peer's notification {method}: {result:?}");
                Ok(())
            }
        }
    }
}

/// Decodes a method's argument from the whole argument list, as the server does: the one
/// element of a one-element list, nil for an empty one, and any other list whole.
struct ArgumentOf<'m>(&'m Method);

impl<'de> DeserializeSeed<'de> for ArgumentOf<'_> {
    type Value = Arg;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Arg, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArgumentOf<'_> {
    type Value = Arg;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an argument list")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Arg, S::Error> {
        let method = self.0;
        match seq.size_hint() {
            Some(0) => decode(method, UnitDeserializer::new()),
            Some(1) => seq
                .next_element_seed(Whole(method))?
                .ok_or_else(|| de::Error::invalid_length(0, &"one argument")),
            _ => decode(method, SeqAccessDeserializer::new(seq)),
        }
    }
}

/// Decodes a method's argument from a deserializer of exactly it.
struct Whole<'m>(&'m Method);

impl<'de> DeserializeSeed<'de> for Whole<'_> {
    type Value = Arg;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Arg, D::Error> {
        decode(self.0, deserializer)
    }
}

fn decode<'de, D: Deserializer<'de>>(method: &Method, deserializer: D) -> Result<Arg, D::Error> {
    method
        .decode(&mut <dyn erased_serde::Deserializer<'_>>::erase(
            deserializer,
        ))
        .map_err(de::Error::custom)
}

/// Counts a call of the peer's out of [`Peer::in_flight`] when it drops.
struct Finished(Arc<AtomicUsize>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
