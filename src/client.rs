//! The client: calls sent from any thread, replies routed by one reader thread.
//!
//! A caller registers its call under a fresh sequence number, then writes the request itself
//! under the send lock. The reader thread reads responses, finds each call by its sequence
//! number, decodes the reply into the caller's type and completes the call through its done
//! channel. When the connection ends, every pending call completes with an error.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::msgpack::{MsgpackClientCodec, DEFAULT_MAX_MESSAGE_SIZE};
use crate::codec::{ClientCodec, Request, RequestWriter};
use crate::error::{CodecError, Error};
use crate::http::DEFAULT_RPC_PATH;
use crate::pending::{replicate, Calls, Deliver, Pending, PendingCall, Waiter};
use crate::timer::{self, Expire};
use crate::transport::{Conn, Shared, SocketOptions};

/// An RPC client on one connection.
///
/// `Client` is `Send + Sync` and a cheap handle (an `Arc` inside): clone it, or share a
/// reference, across threads; their calls are multiplexed over the one connection. The
/// connection closes when [`Client::close`] is called or the last handle is dropped.
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

struct ClientInner {
    calls: Arc<Calls>,
    sender: Mutex<SendState>,
    /// Callers waiting for the send lock; the last one flushes for all.
    waiting: AtomicUsize,
    timeout: Option<Duration>,
}

struct SendState {
    writer: Box<dyn RequestWriter>,
    /// Reused for every request, so that sending allocates nothing of its own.
    header: Request,
}

/// A call started with [`Client::go`]: it completes through `done`.
#[derive(Debug)]
pub struct Call<R> {
    /// The call's sequence number, as in its [`Completed`].
    pub seq: u64,
    /// The method called.
    pub service_method: String,
    /// Yields the completed call exactly once.
    pub done: Receiver<Completed<R>>,
}

impl<R> Call<R> {
    /// Waits for the call to complete and returns its reply.
    pub fn wait(self) -> Result<R, Error> {
        self.done.recv().map_or(Err(Error::Shutdown), |c| c.result)
    }
}

/// A completed call, as delivered on a done channel.
#[derive(Debug)]
pub struct Completed<R> {
    /// The sequence number [`Client::go`] or [`Client::go_with`] returned for it.
    pub seq: u64,
    /// The method called.
    pub service_method: String,
    /// The reply, or why there is none.
    pub result: Result<R, Error>,
}

impl Client {
    /// Connects to a server at `addr` over TCP, with `TCP_NODELAY` on.
    pub fn dial(addr: impl ToSocketAddrs) -> io::Result<Client> {
        Client::builder().dial(addr)
    }

    /// Connects to a server on the Unix domain socket at `path`.
    #[cfg(unix)]
    pub fn dial_unix(path: impl AsRef<Path>) -> io::Result<Client> {
        Client::builder().dial_unix(path)
    }

    /// Connects to an RPC server over HTTP at [`DEFAULT_RPC_PATH`] (Go's `DialHTTP`).
    pub fn dial_http(addr: impl ToSocketAddrs) -> io::Result<Client> {
        Client::builder().dial_http(addr, DEFAULT_RPC_PATH)
    }

    /// Connects to an RPC server over HTTP at `path` (Go's `DialHTTPPath`).
    pub fn dial_http_path(addr: impl ToSocketAddrs, path: &str) -> io::Result<Client> {
        Client::builder().dial_http(addr, path)
    }

    /// A client on a connection already open, speaking MessagePack-RPC.
    pub fn new<C: Conn>(conn: C) -> io::Result<Client> {
        Client::builder().connect(conn)
    }

    /// A client speaking through `codec`.
    pub fn with_codec<C: ClientCodec>(codec: C) -> io::Result<Client> {
        Client::builder().codec(codec)
    }

    /// Configures a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Calls `service_method` with `args` and waits for the reply, for at most the client's
    /// default timeout, if it has one.
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
        let waiter = Arc::new(Waiter::new());
        let seq = self.send(service_method, &args, |seq| {
            PendingCall::boxed(seq, String::new(), Deliver::Waiter(Arc::clone(&waiter)))
        });
        if let Some(result) = waiter.wait(timeout.map(|t| Instant::now() + t)) {
            return result;
        }
        match self.inner.calls.remove(seq) {
            Some(pending) => {
                pending.cancel();
                Err(Error::Timeout)
            }
            // The reply won the race and is being delivered.
            None => waiter.wait(None).unwrap_or(Err(Error::Timeout)),
        }
    }

    /// Starts a call and returns at once; the call completes through [`Call::done`].
    pub fn go<A, R>(&self, service_method: &str, args: &A) -> Call<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let (tx, rx) = bounded(1);
        let seq = self.send(service_method, &args, |seq| {
            PendingCall::boxed(seq, service_method.to_owned(), Deliver::Channel(tx))
        });
        Call {
            seq,
            service_method: service_method.to_owned(),
            done: rx,
        }
    }

    /// Starts a call with a deadline: if no reply has come within `timeout`, the call
    /// completes through [`Call::done`] with [`Error::Timeout`], and a late reply is discarded.
    pub fn go_timeout<A, R>(&self, service_method: &str, args: &A, timeout: Duration) -> Call<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let call = self.go(service_method, args);
        let calls: Weak<dyn Expire> = Arc::downgrade(&self.inner.calls) as Weak<dyn Expire>;
        timer::schedule(Instant::now() + timeout, call.seq, calls);
        call
    }

    /// Starts a call that completes into `done`, which many calls may share (Go's `done`
    /// argument). Returns the call's sequence number, found again in its [`Completed`].
    ///
    /// The reader thread never blocks on `done`: if it is full when the call completes, the
    /// completion is dropped and a warning logged, as in Go. An unbuffered channel is refused.
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
        Ok(self.send(service_method, &args, |seq| {
            PendingCall::boxed(seq, service_method.to_owned(), Deliver::Channel(done))
        }))
    }

    /// Sends a notification: the server runs `service_method` and sends nothing back.
    pub fn notify<A: Serialize + ?Sized>(
        &self,
        service_method: &str,
        args: &A,
    ) -> Result<(), Error> {
        if !self.inner.calls.is_open() {
            return Err(Error::Shutdown);
        }
        self.write(0, service_method, true, &args).map_err(|e| {
            if !e.is_recoverable() {
                self.shut_down_after(&"sending a notification failed");
            }
            e.into()
        })
    }

    /// Closes the connection. Pending calls complete with [`Error::Shutdown`]; so do later
    /// ones. Closing twice returns [`Error::Shutdown`], as in Go.
    pub fn close(&self) -> Result<(), Error> {
        if !self.inner.calls.start_closing() {
            return Err(Error::Shutdown);
        }
        Ok(self.inner.sender.lock().writer.close()?)
    }

    /// Registers a call, writes its request, and returns its sequence number. A call that
    /// cannot be sent is completed with the reason at once.
    fn send(
        &self,
        service_method: &str,
        args: &dyn erased_serde::Serialize,
        pending: impl FnOnce(u64) -> Box<dyn Pending>,
    ) -> u64 {
        let seq = match self.inner.calls.register(pending) {
            Ok(seq) => seq,
            Err((seq, pending)) => {
                pending.finish(Some(Error::Shutdown));
                return seq;
            }
        };
        if let Err(e) = self.write(seq, service_method, false, args) {
            let broken = !e.is_recoverable();
            // The reader may have failed the call already if the connection died.
            if let Some(pending) = self.inner.calls.remove(seq) {
                pending.finish(Some(e.into()));
            }
            if broken {
                self.shut_down_after(&"sending a request failed");
            }
        }
        seq
    }

    /// The stream may hold half a message: shut the connection down, which makes the reader
    /// thread fail the pending calls.
    fn shut_down_after(&self, what: &dyn std::fmt::Display) {
        log::warn!("rpc: {what}; closing the connection");
        let _ = self.inner.sender.lock().writer.close();
    }

    fn write(
        &self,
        seq: u64,
        service_method: &str,
        notification: bool,
        args: &dyn erased_serde::Serialize,
    ) -> Result<(), CodecError> {
        let inner = &self.inner;
        inner.waiting.fetch_add(1, Ordering::AcqRel);
        let mut state = inner.sender.lock();
        let SendState { writer, header } = &mut *state;
        header.seq = seq;
        header.service_method.clear();
        header.service_method.push_str(service_method);
        header.notification = notification;
        let written = writer.write_request(header, args);
        // The last caller in line flushes for everyone before it, whatever became of its own
        // request.
        let flushed = if inner.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            writer.flush()
        } else {
            Ok(())
        };
        written.and(flushed)
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        if self.calls.start_closing() {
            let _ = self.sender.get_mut().writer.close();
        }
    }
}

/// Configures a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    max_message_size: usize,
    timeout: Option<Duration>,
    socket: SocketOptions,
    reader_stack_size: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            timeout: None,
            socket: SocketOptions::default(),
            reader_stack_size: 512 << 10,
        }
    }
}

impl ClientBuilder {
    /// The largest message sent or accepted, in bytes (default 64 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// A deadline for every [`Client::call`] (default: none; calls wait as long as the
    /// connection lives).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// TCP keepalive: idle time before the first probe (default: off).
    pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
        self.socket.keepalive = idle;
        self
    }

    /// Connects over TCP, with `TCP_NODELAY` on.
    pub fn dial(&self, addr: impl ToSocketAddrs) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        self.socket.apply_tcp(&stream)?;
        self.connect(Shared::new(stream))
    }

    /// Connects over HTTP: sends `CONNECT path`, checks for Go's answer, then speaks RPC.
    /// An unexpected answer is an error carrying its status line.
    pub fn dial_http(&self, addr: impl ToSocketAddrs, path: &str) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        self.socket.apply_tcp(&stream)?;
        self.connect(crate::http::connect(Shared::new(stream), path)?)
    }

    /// Connects over a Unix domain socket.
    #[cfg(unix)]
    pub fn dial_unix(&self, path: impl AsRef<Path>) -> io::Result<Client> {
        self.connect(Shared::new(UnixStream::connect(path)?))
    }

    /// A client on a connection already open, speaking MessagePack-RPC.
    pub fn connect<C: Conn>(&self, conn: C) -> io::Result<Client> {
        let peer = conn.peer();
        let codec = MsgpackClientCodec::with_max_message_size(conn, self.max_message_size);
        self.start(codec, &peer)
    }

    /// A client speaking through `codec`.
    pub fn codec<C: ClientCodec>(&self, codec: C) -> io::Result<Client> {
        self.start(codec, "codec")
    }

    fn start<C: ClientCodec>(&self, mut codec: C, peer: &str) -> io::Result<Client> {
        let mut writer = codec.writer().map_err(into_io)?;
        let calls = Arc::new(Calls::new());
        let reader_calls = Arc::clone(&calls);
        let spawned = thread::Builder::new()
            .name(format!("netrpc-client-{peer}"))
            .stack_size(self.reader_stack_size)
            .spawn(move || read_responses(codec, &reader_calls));
        if let Err(e) = spawned {
            let _ = writer.close();
            return Err(e);
        }
        Ok(Client {
            inner: Arc::new(ClientInner {
                calls,
                sender: Mutex::new(SendState {
                    writer: Box::new(writer),
                    header: Request::default(),
                }),
                waiting: AtomicUsize::new(0),
                timeout: self.timeout,
            }),
        })
    }
}

fn into_io(e: CodecError) -> io::Error {
    match e {
        CodecError::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// The reader thread: completes calls as their responses arrive, then fails the rest.
fn read_responses<C: ClientCodec>(mut codec: C, calls: &Calls) {
    let end = loop {
        match read_response(&mut codec, calls) {
            Ok(true) => {}
            Ok(false) => break None,
            Err(e) => break Some(e),
        }
    };
    calls.terminate(end);
}

/// Reads one response and completes its call; `Ok(false)` at a clean end of stream.
fn read_response<C: ClientCodec>(codec: &mut C, calls: &Calls) -> Result<bool, CodecError> {
    let Some(response) = codec.read_response_header()? else {
        return Ok(false);
    };
    let Some(mut pending) = calls.remove(response.seq) else {
        // No such call: it timed out, or its request failed halfway.
        codec.read_response_body(None)?;
        return Ok(true);
    };
    if let Some(text) = response.error {
        codec.read_response_body(None)?;
        pending.finish(Some(Error::Server(text)));
        return Ok(true);
    }
    match codec.read_response_body(Some(&mut |de| pending.decode(de))) {
        Ok(()) => pending.finish(None),
        Err(e) if e.is_recoverable() => pending.finish(Some(Error::Codec(e))),
        Err(e) => {
            pending.finish(Some(replicate(&e)));
            return Err(e);
        }
    }
    Ok(true)
}
