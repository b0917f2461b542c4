//! The TCP options set on every connection a server accepts or a client dials: how a peer
//! that vanished without a word is found dead.

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// TCP socket options applied to every connection a server accepts or a client dials.
///
/// The defaults find a vanished peer (its host powered off, its network gone) within 45 s,
/// whether the connection is idle, waits for replies, or has bytes in flight to the peer:
/// keepalive probes the idle ones ([`Keepalive`]), and [`user_timeout`](Self::user_timeout)
/// bounds how long sent bytes may go unacknowledged, which keepalive never probes. (Go's
/// defaults take about 150 s for the first cases and the system's 15 minutes for the last.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// TCP keepalive; `None` leaves it off.
    pub keepalive: Option<Keepalive>,
    /// How long sent bytes may go unacknowledged before the connection is dropped (Linux's
    /// `TCP_USER_TIMEOUT`; default 45 s); `None` leaves the system's (about 15 minutes).
    /// Ignored where the system has no such option.
    pub user_timeout: Option<Duration>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            keepalive: Some(Keepalive::default()),
            user_timeout: Some(Duration::from_secs(45)),
        }
    }
}

/// TCP keepalive: after [`idle`](Self::idle) without traffic the system probes the peer
/// every [`interval`](Self::interval), and drops the connection after
/// [`retries`](Self::retries) unanswered probes. The default, 15 s, 5 s and 6, drops an idle
/// connection to a vanished peer after 45 s. The interval and the count are Linux's options;
/// elsewhere only the idle time is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// Time without traffic before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes after which the connection is dropped.
    pub retries: u32,
}

impl Keepalive {
    /// Probes after `idle` without traffic, then every `interval`; drops the connection after
    /// `retries` unanswered probes.
    pub fn new(idle: Duration, interval: Duration, retries: u32) -> Keepalive {
        Keepalive {
            idle,
            interval,
            retries,
        }
    }
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive::new(Duration::from_secs(15), Duration::from_secs(5), 6)
    }
}

impl SocketOptions {
    /// Turns `TCP_NODELAY` on (requests are small and latency matters) and sets keepalive and
    /// the bound on unacknowledged bytes.
    pub(crate) fn apply_tcp(&self, stream: &TcpStream) -> io::Result<()> {
        let sock = SockRef::from(stream);
        sock.set_tcp_nodelay(true)?;
        if let Some(keepalive) = self.keepalive {
            let params = TcpKeepalive::new().with_time(keepalive.idle);
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let params = params
                .with_interval(keepalive.interval)
                .with_retries(keepalive.retries);
            sock.set_tcp_keepalive(&params)?;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        sock.set_tcp_user_timeout(self.user_timeout)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_reach_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let sock = SockRef::from(&stream);
        SocketOptions::default().apply_tcp(&stream).unwrap();
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(15));
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            assert_eq!(
                sock.tcp_keepalive_interval().unwrap(),
                Duration::from_secs(5)
            );
            assert_eq!(sock.tcp_keepalive_retries().unwrap(), 6);
            assert_eq!(
                sock.tcp_user_timeout().unwrap(),
                Some(Duration::from_secs(45))
            );
        }
        let off = SocketOptions {
            keepalive: None,
            user_timeout: None,
        };
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        off.apply_tcp(&stream).unwrap();
        let sock = SockRef::from(&stream);
        assert!(!sock.keepalive().unwrap());
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(sock.tcp_user_timeout().unwrap(), None);
    }
}
