//! Transports: the byte streams under a codec, and the listeners that accept them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::SockRef;

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

    /// The write timeout set, if any. The writer also bounds a whole batch by it, so that a
    /// peer that reads a trickle cannot keep a thread for long. The default: none.
    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(None)
    }

    /// The read timeout set, if any. Codecs also bound a whole message's arrival by it, once
    /// its first byte has come, so that a peer sending a trickle cannot hold a thread. The
    /// default: none.
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(None)
    }

    /// Writes what the connection takes now without waiting for the peer; an error of kind
    /// `WouldBlock` if it takes nothing. `None` if the transport cannot write without
    /// blocking (the default): then the writer writes blocking, bounded by the write timeout.
    ///
    /// With it, a thread that finds the peer slow to read hands the rest to the connection's
    /// writer thread and goes on with its work.
    fn write_nonblocking(&self, _buf: &[u8]) -> Option<io::Result<usize>> {
        None
    }
}

/// `send(2)` with `MSG_DONTWAIT`: the socket stays blocking for everyone else. And, as std's
/// own `TcpStream` writes, with `MSG_NOSIGNAL`: a peer gone is an error, not a `SIGPIPE` that
/// kills a program which has not ignored it. (Apple systems have no such flag; std sets
/// `SO_NOSIGPIPE` on its sockets there instead.)
#[cfg(unix)]
fn send_nonblocking(socket: SockRef<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
    #[cfg(not(target_vendor = "apple"))]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    #[cfg(target_vendor = "apple")]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT;
    Some(socket.send_with_flags(buf, FLAGS))
}

#[cfg(not(unix))]
fn send_nonblocking(_socket: SockRef<'_>, _buf: &[u8]) -> Option<io::Result<usize>> {
    None
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

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }

    fn write_nonblocking(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        send_nonblocking(SockRef::from(self), buf)
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

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        UnixStream::read_timeout(self)
    }

    fn write_nonblocking(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        send_nonblocking(SockRef::from(self), buf)
    }
}

/// A stream whose reading and writing halves share one socket through an `Arc`, so a
/// connection costs one file descriptor instead of the two `try_clone` takes. Accepted TCP
/// and Unix connections are served this way, and clients dial this way.
#[derive(Debug)]
pub struct Shared<S>(pub(crate) Arc<S>);

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

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.0.read_timeout()
    }

    fn write_nonblocking(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        self.0.write_nonblocking(buf)
    }
}

/// The stack of a thread that reads and decodes messages (a server connection's, a client's):
/// enough for values nested to the codecs' depth limits, whose frames take several times more
/// room in a debug build.
pub(crate) const READER_STACK_SIZE: usize = if cfg!(debug_assertions) {
    2 << 20
} else {
    512 << 10
};

/// Shortens `conn`'s read timeout, `set` now, to the time left before `deadline` when that is
/// well short of it, so that no read outlasts the deadline by much. A peer trickling bytes
/// then costs a socket option now and then, not one per read.
pub(crate) fn read_within<C: Conn>(
    conn: &C,
    set: &mut Duration,
    deadline: Instant,
) -> io::Result<()> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    if left < *set * 9 / 10 {
        conn.set_read_timeout(Some(left))?;
        *set = left;
    }
    Ok(())
}

/// A thread name for `peer`: thread names may not contain NUL.
pub(crate) fn thread_name(prefix: &str, peer: &str) -> String {
    format!("{prefix}-{}", peer.replace('\0', "?"))
}

/// A connection that is already shut down has nothing left to shut.
fn ignore_not_connected(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}
