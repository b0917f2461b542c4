//! Where connections come from: `Listener`, and the waker that stops an accept loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use super::{Conn, Shared, SocketOptions};

/// A listener whose connections a server can accept.
pub trait Listener {
    /// The connections it yields.
    type Conn: Conn;

    /// Waits for the next connection.
    fn accept_conn(&self) -> io::Result<Self::Conn>;

    /// Readies an accepted connection for RPC traffic (socket options).
    fn prepare(&self, conn: &Self::Conn, options: &SocketOptions) -> io::Result<()>;

    /// A way to make an [`accept_conn`](Listener::accept_conn) blocked in another thread
    /// return, so that [`Server::shutdown`](crate::Server::shutdown) can stop the accept loop:
    /// usually a connection to the listener itself. `None` (the default): the loop stops at
    /// the next connection after shutdown.
    fn waker(&self) -> Option<Waker> {
        None
    }
}

/// Makes a blocked accept return; see [`Listener::waker`].
pub type Waker = Box<dyn Fn() + Send + Sync>;

impl Listener for TcpListener {
    type Conn = Shared<TcpStream>;

    fn accept_conn(&self) -> io::Result<Shared<TcpStream>> {
        self.accept().map(|(stream, _)| Shared::new(stream))
    }

    fn prepare(&self, conn: &Shared<TcpStream>, options: &SocketOptions) -> io::Result<()> {
        options.apply_tcp(&conn.0)
    }

    fn waker(&self) -> Option<Waker> {
        let mut addr = self.local_addr().ok()?;
        // A listener on every address is reached on the loopback one.
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        Some(Box::new(move || {
            let _ = TcpStream::connect_timeout(&addr, WAKE_TIMEOUT);
        }))
    }
}

/// How long a waker tries to reach its own listener.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

#[cfg(unix)]
impl Listener for UnixListener {
    type Conn = Shared<UnixStream>;

    fn accept_conn(&self) -> io::Result<Shared<UnixStream>> {
        self.accept().map(|(stream, _)| Shared::new(stream))
    }

    fn prepare(&self, _conn: &Shared<UnixStream>, _options: &SocketOptions) -> io::Result<()> {
        Ok(())
    }

    /// Connects to the listener's path, if that still names the listener's socket file: one
    /// removed leaves nothing to connect to, and one bound again by another listener must not
    /// get a stray connection. Then `accept` returns at its next connection.
    fn waker(&self) -> Option<Waker> {
        use std::os::unix::fs::MetadataExt;
        let path = self.local_addr().ok()?.as_pathname()?.to_path_buf();
        let file = |path: &std::path::Path| std::fs::metadata(path).map(|m| (m.dev(), m.ino()));
        let ours = file(&path).ok()?;
        Some(Box::new(move || {
            if file(&path).is_ok_and(|now| now == ours) {
                let _ = UnixStream::connect(&path);
            }
        }))
    }
}
