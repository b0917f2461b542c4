//! Transports: the byte streams under a codec, and the listeners that accept them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// A connection that one thread can read while another writes.
///
/// Implemented for [`TcpStream`] and [`UnixStream`]. To serve another stream (a TLS session,
/// say), implement it for a handle that reads and writes the same session from two threads.
pub trait Conn: Read + Write + Send + Sized + 'static {
    /// Returns a second handle to the same connection.
    fn try_clone(&self) -> io::Result<Self>;

    /// Shuts the connection down in both directions; a thread blocked reading it wakes up.
    fn shutdown(&self) -> io::Result<()>;

    /// A name for the peer, for thread names and logs.
    fn peer(&self) -> String;

    /// Bounds each blocking read; `None` waits forever. Transports without timeouts may keep
    /// this default, which does nothing.
    fn set_read_timeout(&self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// Bounds each blocking write; `None` waits forever. Transports without timeouts may keep
    /// this default, which does nothing.
    fn set_write_timeout(&self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// The write timeout set, if any. Codecs also bound a whole message's writing by it, so that
    /// a peer that reads a trickle cannot keep a writer for long. The default: none.
    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(None)
    }
}

impl Conn for TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }

    fn shutdown(&self) -> io::Result<()> {
        ignore_not_connected(TcpStream::shutdown(self, Shutdown::Both))
    }

    fn peer(&self) -> String {
        self.peer_addr()
            .map_or_else(|_| "tcp".to_owned(), |a| a.to_string())
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::write_timeout(self)
    }
}

#[cfg(unix)]
impl Conn for UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        UnixStream::try_clone(self)
    }

    fn shutdown(&self) -> io::Result<()> {
        ignore_not_connected(UnixStream::shutdown(self, Shutdown::Both))
    }

    fn peer(&self) -> String {
        match self.peer_addr() {
            Ok(addr) => match addr.as_pathname() {
                Some(path) => path.display().to_string(),
                None => "unix".to_owned(),
            },
            Err(_) => "unix".to_owned(),
        }
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        UnixStream::write_timeout(self)
    }
}

/// A stream whose reading and writing halves share one socket through an `Arc`, so a
/// connection costs one file descriptor instead of the two `try_clone` takes. Accepted TCP
/// and Unix connections are served this way, and clients dial this way.
#[derive(Debug)]
pub struct Shared<S>(Arc<S>);

impl<S> Shared<S> {
    /// Wraps `stream`.
    pub fn new(stream: S) -> Self {
        Shared(Arc::new(stream))
    }
}

impl<S> Read for Shared<S>
where
    for<'a> &'a S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl<S> Write for Shared<S>
where
    for<'a> &'a S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

impl<S: Conn + Sync> Conn for Shared<S>
where
    for<'a> &'a S: Read + Write,
{
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Shared(Arc::clone(&self.0)))
    }

    fn shutdown(&self) -> io::Result<()> {
        self.0.shutdown()
    }

    fn peer(&self) -> String {
        self.0.peer()
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_write_timeout(timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.0.write_timeout()
    }
}

/// A connection that is already shut down has nothing left to shut.
fn ignore_not_connected(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// A listener whose connections a server can accept.
pub trait Listener {
    /// The connections it yields.
    type Conn: Conn;

    /// Waits for the next connection.
    fn accept_conn(&self) -> io::Result<Self::Conn>;

    /// Readies an accepted connection for RPC traffic (socket options).
    fn prepare(&self, conn: &Self::Conn, options: &SocketOptions) -> io::Result<()>;

    /// Makes [`Listener::accept_conn`] give up with `WouldBlock` or `TimedOut` after
    /// `timeout`, so that the accept loop can notice [`Server::shutdown`](crate::Server::shutdown).
    /// Without it, a shut-down server's accept loop returns only after one more connection.
    fn set_accept_timeout(&self, _timeout: Option<Duration>) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no accept timeout",
        ))
    }
}

impl Listener for TcpListener {
    type Conn = Shared<TcpStream>;

    fn accept_conn(&self) -> io::Result<Shared<TcpStream>> {
        self.accept().map(|(stream, _)| Shared::new(stream))
    }

    fn prepare(&self, conn: &Shared<TcpStream>, options: &SocketOptions) -> io::Result<()> {
        options.apply_tcp(&conn.0)
    }

    fn set_accept_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        // SO_RCVTIMEO bounds accept(2) too.
        SockRef::from(self).set_read_timeout(timeout)
    }
}

#[cfg(unix)]
impl Listener for UnixListener {
    type Conn = Shared<UnixStream>;

    fn accept_conn(&self) -> io::Result<Shared<UnixStream>> {
        self.accept().map(|(stream, _)| Shared::new(stream))
    }

    fn prepare(&self, _conn: &Shared<UnixStream>, _options: &SocketOptions) -> io::Result<()> {
        Ok(())
    }

    fn set_accept_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        SockRef::from(self).set_read_timeout(timeout)
    }
}

/// TCP socket options applied to every connection a server accepts or a client dials.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SocketOptions {
    /// TCP keepalive: idle time before the first probe; `None` leaves keepalive off.
    pub keepalive: Option<Duration>,
}

impl SocketOptions {
    /// Turns `TCP_NODELAY` on (requests are small and latency matters) and sets keepalive.
    pub(crate) fn apply_tcp(&self, stream: &TcpStream) -> io::Result<()> {
        let sock = SockRef::from(stream);
        sock.set_tcp_nodelay(true)?;
        if let Some(idle) = self.keepalive {
            sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle))?;
        }
        Ok(())
    }
}
