//! The client: calls sent from any thread, replies routed by one reader thread.
//!
//! A caller registers its call under a fresh sequence number, then queues the request on the
//! connection's outbox, never waiting for the server to read it. The reader thread reads
//! responses, finds each call by its sequence number, decodes the reply into the caller's type
//! and completes the call through its done channel. When the connection ends, or the client is
//! closed, every pending call completes with an error.

mod builder;
pub(crate) mod call;
mod peer;
mod pending;
mod reader;
mod timer;

pub use builder::ClientBuilder;
pub use call::{Call, Completed, Ignore, Params};
pub use peer::Notification;

use std::io;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{ClientCodec, Request, RequestEncoder};
use crate::error::{CodecError, Error, RegisterError};
use crate::service::Service;
use crate::telemetry::ClientMetrics;
use crate::transport::http::DEFAULT_RPC_PATH;
use crate::transport::outbox::{self, Abandoned, Outbox, Outgoing, Ticket};
use crate::transport::{thread_name, READER_STACK_SIZE};
use crate::wire::Wire;
use call::Argument;
use peer::Peer;
use pending::{Calls, Deliver, Observe, Pending, PendingCall, Waiter};
use reader::Reader;
use timer::{Expire, Key};

/// How long a call past its deadline still waits for a reply that was already being decoded.
const DELIVERY_GRACE: Duration = Duration::from_millis(10);

/// An RPC client on one connection.
///
/// `Client` is `Send + Sync` and a cheap handle (an `Arc` inside): clone it, or share a
/// reference, across threads; their calls are multiplexed over the one connection. The
/// connection closes when [`Client::close`] is called or the last handle is dropped; a pending
/// [`Call`] counts as a handle until it completes.
///
/// ```no_run
/// # #[derive(serde::Serialize)] struct Args { a: i64, b: i64 }
/// let client = netrpc::Client::dial("127.0.0.1:1234")?;
/// let product: i64 = client.call("Arith.Multiply", &Args { a: 7, b: 8 })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

// A panic in a caller's code (an argument's `Serialize`, say) is caught where it happens, and
// the client's locks do not poison: a client used across `catch_unwind` is as it was.
impl std::panic::UnwindSafe for Client {}
impl std::panic::RefUnwindSafe for Client {}

struct ClientInner {
    calls: Arc<Calls>,
    outbox: Arc<Outbox<Encoder>>,
    /// What the client serves to its peer.
    peer: Arc<Peer>,
    /// The deadline of every call that waits on a reply, unless the call names its own.
    timeout: Option<Duration>,
    /// Set by the first [`Client::close`]: a second one returns [`Error::Shutdown`].
    closed: AtomicBool,
    metrics: Arc<ClientMetrics>,
}

/// The codec's encoder, with a request header reused for every request, so that sending
/// allocates nothing of its own.
struct Encoder {
    codec: Box<dyn RequestEncoder>,
    header: Request,
}

/// A handle to a [`Client`] that does not keep its connection open: for a service the client
/// serves to its peer that calls the peer back ([`Client::register`]), which would otherwise
/// hold the client, and so the connection, open forever.
#[derive(Clone)]
pub struct WeakClient {
    inner: Weak<ClientInner>,
}

impl WeakClient {
    /// The client, if any of its [`Client`] handles is still alive.
    pub fn upgrade(&self) -> Option<Client> {
        self.inner.upgrade().map(|inner| Client { inner })
    }
}

impl std::fmt::Debug for WeakClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakClient")
            .field("alive", &(self.inner.strong_count() > 0))
            .finish()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.inner.outbox.peer())
            .field("open", &self.inner.calls.is_open())
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to a server at `addr` over TCP, with `TCP_NODELAY` on.
    pub fn dial(addr: impl ToSocketAddrs) -> io::Result<Client> {
        Client::builder().dial(addr)
    }

    /// Connects to an RPC server over HTTP at [`DEFAULT_RPC_PATH`] (Go's `DialHTTP`).
    pub fn dial_http(addr: impl ToSocketAddrs) -> io::Result<Client> {
        Client::builder().http(DEFAULT_RPC_PATH).dial(addr)
    }

    /// Starts a client on `codec`, which speaks `wire` if it is a built-in one: its outbox
    /// and its reader thread.
    fn start<C: ClientCodec>(
        mut codec: C,
        config: &ClientBuilder,
        wire: Option<Wire>,
    ) -> Result<Client, CodecError> {
        let (encoder, output) = codec.writer()?;
        let peer_name = output.peer().to_owned();
        let calls = Arc::new(Calls::new());
        // A timed-out call's request still queued is dropped, where that spoils no other.
        let abandoned = encoder
            .requests_stand_alone()
            .then(|| Arc::clone(&calls) as Arc<dyn Abandoned>);
        let outbox = Outbox::dropping_abandoned(
            Encoder {
                codec: Box::new(encoder),
                header: Request::default(),
            },
            output,
            outbox::Limits {
                max_message: config.max_message_size,
                max_unsent: config.max_unsent.max(config.max_message_size),
            },
            abandoned,
        );
        let peer = Arc::new(Peer::new(&peer_name, wire));
        let reader = Reader {
            calls: Arc::clone(&calls),
            outbox: Arc::downgrade(&outbox),
            peer: Arc::clone(&peer),
        };
        let spawned = thread::Builder::new()
            .name(thread_name("netrpc-client", &peer_name))
            .stack_size(READER_STACK_SIZE)
            .spawn(move || reader.run(codec));
        if let Err(e) = spawned {
            outbox.close();
            return Err(e.into());
        }
        Ok(Client {
            inner: Arc::new(ClientInner {
                calls,
                outbox,
                peer,
                timeout: config.timeout,
                closed: AtomicBool::new(false),
                metrics: Arc::new(ClientMetrics::new(wire)),
            }),
        })
    }

    /// Configures a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Calls `service_method` with `args` and waits for the reply, for at most the client's
    /// default timeout, if it has one. The timeout bounds the whole call: the wait for other
    /// callers' requests to encode before this one, and for the reply; the call never waits
    /// for the server to read its request.
    ///
    /// `args` is serialized once, as it is sent; with gob twice, the first time to derive
    /// its type, so there its `Serialize` must give the same value each time.
    pub fn call<A, R>(&self, service_method: &str, args: &A) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        self.call_inner(service_method, args, self.inner.timeout)
    }

    /// Calls `service_method` with `args` and waits at most `timeout` for the reply. On
    /// expiry the call is forgotten (a late reply is discarded) and [`Error::Timeout`] returned.
    pub fn call_timeout<A, R>(
        &self,
        service_method: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        self.call_inner(service_method, args, Some(timeout))
    }

    fn call_inner<A, R>(
        &self,
        service_method: &str,
        args: &A,
        timeout: Option<Duration>,
    ) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let deadline = deadline_after(timeout);
        let waiter = Arc::new(Waiter::new());
        let seq = self.send(
            service_method,
            Argument::new(&args),
            deadline,
            None,
            |seq| {
                PendingCall::boxed(
                    seq,
                    String::new(),
                    Deliver::Waiter(Arc::clone(&waiter)),
                    None,
                    Observe::start(service_method, &self.inner.metrics),
                )
            },
        );
        if let Some(result) = waiter.wait(deadline) {
            return result;
        }
        match self.inner.calls.abandon(seq) {
            Some(pending) => {
                pending.cancel();
                Err(Error::Timeout)
            }
            // The reply won the race and is being decoded: wait for it a moment, but not for
            // a decoding that takes long (a slow `Deserialize`), which the deadline bounds.
            None => waiter
                .wait(deadline_after(Some(DELIVERY_GRACE)))
                .unwrap_or(Err(Error::Timeout)),
        }
    }

    /// Starts a call and returns at once; the call completes through [`Call::done`]. The
    /// client's default timeout, if it has one, bounds the wait for the reply.
    pub fn go<A, R>(&self, service_method: &str, args: &A) -> Call<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        self.go_inner(service_method, args, self.inner.timeout)
    }

    /// Starts a call with a deadline: if no reply has come within `timeout`, the call
    /// completes through [`Call::done`] with [`Error::Timeout`], and a late reply is discarded.
    pub fn go_timeout<A, R>(&self, service_method: &str, args: &A, timeout: Duration) -> Call<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        self.go_inner(service_method, args, Some(timeout))
    }

    fn go_inner<A, R>(&self, service_method: &str, args: &A, timeout: Option<Duration>) -> Call<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let (tx, rx) = bounded(1);
        let deadline = deadline_after(timeout);
        let key = deadline.map(Key::new);
        let seq = self.send(service_method, Argument::new(&args), deadline, key, |seq| {
            PendingCall::boxed(
                seq,
                service_method.to_owned(),
                Deliver::Channel(tx),
                key,
                Observe::start(service_method, &self.inner.metrics),
            )
        });
        Call {
            seq,
            service_method: service_method.to_owned(),
            done: rx,
            _connection: self.clone(),
        }
    }

    /// Starts a call that completes into `done`, which many calls may share (Go's `done`
    /// argument). Returns the call's sequence number, found again in its [`Completed`]. The
    /// client's default timeout, if it has one, bounds the wait for the reply.
    ///
    /// The reader thread never blocks on `done`: if it is full when the call completes, the
    /// completion is dropped and a warning logged, as in Go. An unbuffered channel is refused.
    ///
    /// Such a call has no handle of its own, so unlike a [`Call`] it does not keep the
    /// connection open: keep a `Client` while waiting on `done`, or the call fails as the last
    /// one is dropped.
    pub fn go_with<A, R>(
        &self,
        service_method: &str,
        args: &A,
        done: &Sender<Completed<R>>,
    ) -> Result<u64, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        if done.capacity() == Some(0) {
            return Err(Error::UnbufferedDone);
        }
        let done = done.clone();
        let deadline = deadline_after(self.inner.timeout);
        let key = deadline.map(Key::new);
        Ok(
            self.send(service_method, Argument::new(&args), deadline, key, |seq| {
                PendingCall::boxed(
                    seq,
                    service_method.to_owned(),
                    Deliver::Channel(done),
                    key,
                    Observe::start(service_method, &self.inner.metrics),
                )
            }),
        )
    }

    /// Sends a notification: the server runs `service_method` and sends nothing back.
    /// Go's JSON-RPC has no notifications: its codec refuses them.
    pub fn notify<A: Serialize + ?Sized>(
        &self,
        service_method: &str,
        args: &A,
    ) -> Result<(), Error> {
        if !self.inner.calls.is_open() {
            return Err(Error::Shutdown);
        }
        self.write(0, service_method, true, Argument::new(&args), None, None)
    }

    /// Closes the connection. Every pending call has completed by the time it returns, with
    /// an [`Error::Io`] of kind `ConnectionAborted` (it may have run), and later calls fail
    /// with [`Error::Shutdown`]. As in Go, closing a client whose connection the server ended
    /// is fine, and closing it a second time returns [`Error::Shutdown`]. Never waits for a
    /// write in progress.
    pub fn close(&self) -> Result<(), Error> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::Shutdown);
        }
        self.inner.close();
        Ok(())
    }

    /// Registers `service` for the peer to call over this connection, under the name of its
    /// type (see [`Service::name`]): MessagePack-RPC is symmetric, so a server such as Neovim
    /// may call the client. Its methods run on a worker pool of the client's own, never on
    /// the reader thread, and their replies go out through the client's writer. An unknown
    /// method gets Go's error text back; a request that finds 1,024 of the peer's calls
    /// waiting for a worker is answered `rpc: the client is busy: ...`.
    ///
    /// A service that calls the peer back holds a [`WeakClient`] ([`Client::downgrade`]): a
    /// `Client` it held would keep the connection open after every other handle is dropped.
    pub fn register<T: Send + Sync + 'static>(
        &self,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        let name = service.name();
        self.inner.peer.register(name, service)
    }

    /// Registers `service` for the peer to call as `"name.Method"` (see [`Client::register`]).
    pub fn register_name<T: Send + Sync + 'static>(
        &self,
        name: &str,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        self.inner.peer.register(name, service)
    }

    /// Registers the methods of `service` for the peer to call by their bare names, as
    /// Neovim's `rpcrequest(chan, "Add", 2, 3)` does (see [`Client::register`]). A
    /// notification for one of them runs it. It may be called again with more methods; a
    /// name registered already is an error.
    ///
    /// ```no_run
    /// struct Handler;
    /// impl Handler {
    ///     fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
    ///         Ok(a + b)
    ///     }
    /// }
    ///
    /// let nvim = netrpc::Client::dial("127.0.0.1:6666")?;
    /// nvim.register_methods(netrpc::Service::new(Handler).method("Add", Handler::add))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_methods<T: Send + Sync + 'static>(
        &self,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        self.inner.peer.register_root(service)
    }

    /// A handle that does not keep the connection open (see [`WeakClient`]).
    pub fn downgrade(&self) -> WeakClient {
        WeakClient {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The notifications the peer sends that no registered method takes, such as Neovim's
    /// `rpcnotify` events and its `nvim_error_event`. Notifications arriving before the first
    /// call of this are dropped with a log line, as are those arriving while 1,024, or 64 MiB
    /// of them (as decoded), wait unread; the reader never waits for this channel. Every call
    /// returns the same channel.
    pub fn notifications(&self) -> Receiver<Notification> {
        self.inner.peer.notifications()
    }

    /// Registers a call, schedules its deadline `key` on the timer thread, queues its request
    /// without waiting past `deadline`, and returns its sequence number. A call that cannot be
    /// sent is completed with the reason at once.
    fn send(
        &self,
        service_method: &str,
        args: Argument<'_>,
        deadline: Option<Instant>,
        key: Option<Key>,
        pending: impl FnOnce(u64) -> Box<dyn Pending>,
    ) -> u64 {
        let calls = &self.inner.calls;
        // Read before the call exists: any call that ends after it counts.
        let generation = calls.generation();
        let seq = match calls.register(pending) {
            Ok(seq) => seq,
            Err((seq, pending)) => {
                pending.finish(Some(Error::Shutdown));
                return seq;
            }
        };
        if let Some(key) = key {
            // Before the request leaves, so that no reply can beat it and leave it behind.
            let expire: Weak<dyn Expire> = Arc::downgrade(calls) as Weak<dyn Expire>;
            timer::schedule(key, seq, expire);
            // The connection may have ended, and failed the call, before it was scheduled.
            if !calls.contains(seq) {
                timer::cancel(key);
            }
        }
        let ticket = Ticket { seq, generation };
        if let Err(e) = self.write(seq, service_method, false, args, Some(ticket), deadline) {
            // The reader may have failed the call already if the connection died.
            if let Some(pending) = calls.remove(seq) {
                pending.finish(Some(e));
            }
        }
        seq
    }

    /// Queues one request on the connection's writer, waiting for others' requests to encode
    /// until `deadline` at most. Only this request's queueing can fail here; a connection that
    /// fails later fails its calls through the reader.
    fn write(
        &self,
        seq: u64,
        service_method: &str,
        notification: bool,
        args: Argument<'_>,
        ticket: Option<Ticket>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let request = Outgoing::Request(ticket);
        let sent = self.inner.outbox.send(request, deadline, |encoder, buf| {
            let Encoder { codec, header } = encoder;
            header.seq = seq;
            header.service_method.clear();
            header.service_method.push_str(service_method);
            header.notification = notification;
            header.argument_list = args.is_list;
            codec.encode_request(buf, header, args.value)
        });
        match sent {
            Ok(()) => Ok(()),
            Err(e) if e.is_recoverable() => Err(Error::Codec(e)),
            Err(CodecError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => Err(Error::Timeout),
            Err(_) => Err(Error::Shutdown),
        }
    }
}

/// The instant `timeout` from now; `None` for no timeout, or one too far off to tell.
fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|timeout| Instant::now().checked_add(timeout))
}

impl ClientInner {
    /// Refuses later calls, shuts the connection, so that nothing more is written, and fails
    /// the calls pending.
    fn close(&self) {
        self.calls.start_closing();
        self.outbox.close();
        self.calls.fail_all(Error::closed_in_flight);
    }
}

impl Drop for ClientInner {
    /// The last handle closes the connection; the calls pending then, which no [`Call`]
    /// kept open, complete with an [`Error::Io`] of kind `ConnectionAborted`.
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::{Server, Service};

    struct Id;

    impl Id {
        fn id(&self, n: u64) -> Result<u64, String> {
            Ok(n)
        }

        fn bytes(&self, b: serde_bytes::ByteBuf) -> Result<serde_bytes::ByteBuf, String> {
            Ok(b)
        }
    }

    fn serve() -> std::net::SocketAddr {
        let server = Server::new();
        server
            .register(
                Service::new(Id)
                    .method("Id", Id::id)
                    .method("Bytes", Id::bytes),
            )
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || server.accept(&listener));
        addr
    }

    #[test]
    fn an_idle_client_holds_small_buffers_after_large_calls() {
        let client = Client::dial(serve()).unwrap();
        let large = serde_bytes::ByteBuf::from(vec![7u8; 10 << 20]);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let echoed: serde_bytes::ByteBuf = client
                        .call_timeout("Id.Bytes", &large, Duration::from_secs(10))
                        .unwrap();
                    assert_eq!(echoed.len(), large.len());
                });
            }
        });
        // The writer may still be putting its last buffer away.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let held = client.inner.outbox.buffered();
            if held <= 1 << 20 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{held} bytes held by an idle client"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn completed_go_timeout_calls_leave_no_deadline_behind() {
        let client = Client::dial(serve()).unwrap();
        let hour = Duration::from_secs(3600);
        for batch in 0..200u64 {
            let calls: Vec<Call<u64>> = (0..1000)
                .map(|i| client.go_timeout("Id.Id", &(batch * 1000 + i), hour))
                .collect();
            for (i, call) in (0..).zip(calls) {
                let done = call.done.recv_timeout(Duration::from_secs(10)).unwrap();
                assert_eq!(done.result.unwrap(), batch * 1000 + i);
            }
        }
        // This is the only test of the library's own that sets deadlines.
        assert_eq!(timer::scheduled(), 0, "deadlines left behind");
    }
}
