//! Connections opening and closing: close semantics, dead servers, listeners, Unix sockets.

use crate::common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{start, Args, WAIT};
use netrpc::wire::msgpack::MsgpackServerCodec;
use netrpc::{Client, Conn, Error, Server, Service};

#[test]
fn calls_after_close_fail_with_shutdown() {
    let h = start();
    let client = h.client();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 2 })
            .unwrap(),
        4
    );
    client.close().unwrap();
    assert!(matches!(
        client.call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 2 }),
        Err(Error::Shutdown)
    ));
    let call = client.go::<_, i64>("Arith.Multiply", &Args { a: 2, b: 2 });
    assert!(matches!(call.wait(), Err(Error::Shutdown)));
    assert!(matches!(
        client.notify("Test.Bump", &1u64),
        Err(Error::Shutdown)
    ));
    assert!(
        matches!(client.close(), Err(Error::Shutdown)),
        "closing twice"
    );
}

#[test]
fn close_fails_pending_calls_as_aborted() {
    let h = start();
    let client = h.client();
    let pending = client.go::<_, u64>("Test.Sleep", &2000u64);
    thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    client.close().unwrap();
    let done = pending.done.recv_timeout(WAIT).expect("completion");
    // Sent, so perhaps run: not `Shutdown`, which says the call was not sent.
    assert!(
        matches!(&done.result, Err(Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionAborted),
        "{:?}",
        done.result
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A server that accepts one connection, reads a little, and hangs up.
fn hang_up_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = conn.read(&mut buf);
        thread::sleep(Duration::from_millis(50));
    });
    addr
}

#[test]
fn pending_calls_fail_promptly_when_the_server_hangs_up() {
    let client = Client::builder()
        .timeout(Some(WAIT))
        .dial(hang_up_server())
        .unwrap();
    let calls: Vec<_> = (0..5)
        .map(|i| client.go::<_, i64>("Arith.Multiply", &Args { a: i, b: i }))
        .collect();
    let started = Instant::now();
    for call in calls {
        match call.done.recv_timeout(WAIT).expect("completion").result {
            // A hang-up with unread requests in the server's buffer is a reset, not an EOF.
            Err(Error::Io(e)) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ),
                "{e:?}"
            ),
            other => panic!("expected a connection error, got {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    // And later calls are refused outright.
    assert!(matches!(
        client.call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 }),
        Err(Error::Shutdown)
    ));
}

#[test]
fn dropping_the_last_client_handle_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::dial(listener.local_addr().unwrap()).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let clone = client.clone();
    drop(client);
    drop(clone);
    let mut buf = [0u8; 16];
    assert_eq!(
        conn.read(&mut buf).unwrap(),
        0,
        "the connection should be closed"
    );
}

#[test]
fn accept_returns_when_the_listener_is_shut_down() {
    let server = Server::new();
    common::register_all(&server);
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let accepting = Arc::clone(&listener);
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || tx.send(server.accept(&*accepting)));
    let client = Client::dial(listener.local_addr().unwrap()).unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 3, b: 4 })
            .unwrap(),
        12
    );
    socket2::SockRef::from(&*listener)
        .shutdown(std::net::Shutdown::Both)
        .unwrap();
    let result = rx.recv_timeout(WAIT).expect("accept should return");
    assert!(result.is_err());
    // Connections already accepted keep working.
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 5, b: 4 })
            .unwrap(),
        20
    );
}

#[test]
fn serve_request_answers_one_request_at_a_time() {
    let server = Server::new();
    common::register_all(&server);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(4);
    thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut codec = server.request_codec(MsgpackServerCodec::new(conn)).unwrap();
        loop {
            let served = server.serve_request(&mut codec);
            let more = matches!(served, Ok(true));
            tx.send(served.map_err(|e| e.to_string())).unwrap();
            if !more {
                break;
            }
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 6, b: 6 })
            .unwrap(),
        36
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(true));
    assert!(matches!(
        client.call::<_, i64>("Arith.Nope", &Args { a: 6, b: 6 }),
        Err(Error::Server(_))
    ));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(true));
    client.close().unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Ok(false),
        "clean end of stream"
    );
}

#[test]
fn the_default_server_and_free_functions() {
    struct Doubler;
    netrpc::register(
        Service::new(Doubler).method("Double", |_: &Doubler, x: i64| Ok::<_, String>(x * 2)),
    )
    .unwrap();
    netrpc::register_name(
        "Twice",
        Service::new(Doubler).method("Double", |_: &Doubler, x: i64| Ok::<_, String>(x * 2)),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || netrpc::accept(&listener));
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    assert_eq!(client.call::<_, i64>("Doubler.Double", &21).unwrap(), 42);
    assert_eq!(client.call::<_, i64>("Twice.Double", &4).unwrap(), 8);

    // serve_conn on a single connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || netrpc::serve_conn(listener.accept().unwrap().0));
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    assert_eq!(client.call::<_, i64>("Doubler.Double", &5).unwrap(), 10);
}

/// A listener on `rpc.sock` in a fresh folder of the temporary one named `name`: the folder,
/// the path and the listener.
#[cfg(unix)]
fn unix_listener(
    name: &str,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    std::os::unix::net::UnixListener,
) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rpc.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    (dir, path, listener)
}

#[cfg(unix)]
#[test]
fn unix_domain_sockets() {
    let (dir, path, listener) = unix_listener("netrpc-test");
    let server = Server::new();
    common::register_all(&server);
    thread::spawn(move || server.accept(&listener));
    let client = Client::builder().dial_unix(&path).unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 9, b: 9 })
            .unwrap(),
        81
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn shutdown_sends_no_stray_connection_to_a_socket_bound_again_at_the_path() {
    use std::os::unix::net::UnixListener;
    let (dir, path, listener) = unix_listener("netrpc-test-rebound");
    let server = Server::new();
    common::register_all(&server);
    let serving = {
        let server = server.clone();
        thread::spawn(move || server.accept(&listener))
    };
    Client::builder().dial_unix(&path).unwrap(); // accept has started
    std::fs::remove_file(&path).unwrap();
    let other = UnixListener::bind(&path).unwrap();
    server.shutdown(Duration::from_millis(100));
    other.set_nonblocking(true).unwrap();
    assert!(
        matches!(other.accept(), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "the other listener got a connection"
    );
    // The old accept loop ends at its next connection, which can no longer come by path.
    drop(serving);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A connection whose writes fail after `budget` bytes.
struct FailingConn {
    inner: TcpStream,
    budget: Arc<std::sync::atomic::AtomicUsize>,
}

impl Read for FailingConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for FailingConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::sync::atomic::Ordering;
        let left = self.budget.load(Ordering::SeqCst);
        if left < buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "fake write failure",
            ));
        }
        self.budget.fetch_sub(buf.len(), Ordering::SeqCst);
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Conn for FailingConn {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(FailingConn {
            inner: self.inner.try_clone()?,
            budget: Arc::clone(&self.budget),
        })
    }

    fn shutdown(&self) -> io::Result<()> {
        Conn::shutdown(&self.inner)
    }

    fn peer(&self) -> String {
        "failing".to_owned()
    }
}

#[test]
fn a_client_write_error_fails_the_call_and_does_not_hang() {
    let h = start();
    let conn = FailingConn {
        inner: TcpStream::connect(h.addr).unwrap(),
        budget: Arc::new(std::sync::atomic::AtomicUsize::new(64)),
    };
    let client = Client::builder().timeout(Some(WAIT)).connect(conn).unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 2 })
            .unwrap(),
        2
    );
    let big = "x".repeat(100);
    match client.call::<_, String>("Echo.Echo", &big) {
        Err(Error::Io(e)) => assert_eq!(e.to_string(), "fake write failure"),
        other => panic!("expected the write error, got {other:?}"),
    }
    // The connection was shut down after the failed write: nothing half-written follows.
    assert!(client
        .call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 2 })
        .is_err());
}
