//! Methods that block, as real services' do: replies leave when ready, blocked methods get
//! threads, a peer that does not read holds up nobody, panicking user code costs nothing, and
//! shutdown leaves nothing open.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{expect_closed, Args, WAIT};
use netrpc::{Client, Error, Server, Service};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Methods that block, count how many run at once, or call back into their own server.
struct Work {
    running: AtomicUsize,
    most: AtomicUsize,
    /// A client of this same server, for nested calls.
    back: parking_lot::Mutex<Option<Client>>,
}

impl Work {
    fn sleep(&self, micros: u64) -> Result<u64, String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        thread::sleep(Duration::from_micros(micros));
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(micros)
    }

    fn forever(&self, (): ()) -> Result<(), String> {
        thread::sleep(WAIT * 3);
        Ok(())
    }

    fn nested(&self, n: i64) -> Result<i64, String> {
        let client = self.back.lock().clone().ok_or("no client back")?;
        thread::sleep(Duration::from_millis(1));
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: n, b: 2 })
            .map_err(|e| e.to_string())
    }

    fn bad_reply(&self, (): ()) -> Result<Unserializable, String> {
        Ok(Unserializable)
    }

    fn bad_arg(&self, _: Undeserializable) -> Result<(), String> {
        Ok(())
    }
}

/// A reply whose `Serialize` panics.
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("this reply cannot be serialized")
    }
}

/// An argument whose `Deserialize` panics.
struct Undeserializable;

impl<'de> Deserialize<'de> for Undeserializable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("this argument cannot be deserialized")
    }
}

struct Harness {
    addr: std::net::SocketAddr,
    server: Server,
    work: Arc<Work>,
}

fn start_with(server: Server) -> Harness {
    common::register_all(&server);
    let work = Arc::new(Work {
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        back: parking_lot::Mutex::new(None),
    });
    server
        .register_name(
            "Slow",
            Service::new(Arc::clone(&work))
                .method("Sleep", |w: &Arc<Work>, us| w.sleep(us))
                .method("Forever", |w: &Arc<Work>, a| w.forever(a))
                .method("Nested", |w: &Arc<Work>, n| w.nested(n))
                .method("BadReply", |w: &Arc<Work>, a| w.bad_reply(a))
                .method("BadArg", |w: &Arc<Work>, a| w.bad_arg(a)),
        )
        .unwrap();
    let addr = common::serve(&server);
    Harness { addr, server, work }
}

fn start() -> Harness {
    start_with(Server::new())
}

impl Harness {
    fn client(&self) -> Client {
        Client::builder()
            .timeout(Some(WAIT))
            .dial(self.addr)
            .unwrap()
    }
}

#[test]
fn sixty_four_callers_of_a_blocking_method_run_at_once() {
    let h = start();
    let client = h.client();
    thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| {
                for _ in 0..20 {
                    let slept: u64 = client.call("Slow.Sleep", &1000u64).unwrap();
                    assert_eq!(slept, 1000);
                }
            });
        }
    });
    let most = h.work.most.load(Ordering::SeqCst);
    assert!(
        most >= 32,
        "at most {most} of 64 blocking methods ran at once"
    );
}

/// Makes `n` calls of `Slow.Nested` through `client`, each calling the server back through
/// `back`, and checks that every one completes.
fn nested_calls_complete(h: &Harness, client: &Client, back: Client, n: i64) {
    *h.work.back.lock() = Some(back);
    let calls: Vec<_> = (0..n)
        .map(|n| client.go::<_, i64>("Slow.Nested", &n))
        .collect();
    for (n, call) in (0..).zip(calls) {
        let done = call.done.recv_timeout(WAIT).expect("a nested call hung");
        assert_eq!(done.result.unwrap(), n * 2);
    }
    *h.work.back.lock() = None;
}

#[test]
fn sixty_four_nested_calls_into_the_same_server_complete() {
    let h = start();
    nested_calls_complete(&h, &h.client(), h.client(), 64);
}

#[test]
fn three_hundred_nested_calls_over_the_callers_own_connection_complete() {
    // Each call holds its place on the connection while its nested call needs one more: past
    // 256 in flight this deadlocked.
    let h = start();
    let client = h.client();
    nested_calls_complete(&h, &client, client.clone(), 300);
}

#[test]
fn a_quick_reply_is_not_held_behind_calls_that_block_forever() {
    let h = start();
    let client = h.client();
    let blocked: Vec<_> = (0..40)
        .map(|_| client.go::<_, ()>("Slow.Forever", &()))
        .collect();
    let started = Instant::now();
    let product: i64 = client
        .call_timeout("Arith.Multiply", &Args { a: 6, b: 7 }, WAIT)
        .unwrap();
    assert_eq!(product, 42);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "the quick reply took {took:?}"
    );
    drop(blocked);
}

#[test]
fn replies_leave_as_their_methods_return() {
    let h = start();
    let client = h.client();
    let excess: Vec<Duration> = thread::scope(|s| {
        let callers: Vec<_> = (0..16u64)
            .map(|i| {
                let client = &client;
                s.spawn(move || {
                    (0..10u64)
                        .map(|j| {
                            let micros = ((i + j) % 10) * 1000;
                            let started = Instant::now();
                            let _: u64 = client.call("Slow.Sleep", &micros).unwrap();
                            started
                                .elapsed()
                                .saturating_sub(Duration::from_micros(micros))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let mut excess = excess;
    excess.sort();
    let median = excess[excess.len() / 2];
    assert!(
        median < Duration::from_millis(5),
        "median latency over the sleep: {median:?}"
    );
}

/// A raw connection that pipelines requests for large replies and never reads one.
fn non_reader(addr: std::net::SocketAddr, calls: usize) -> TcpStream {
    let mut conn = TcpStream::connect(addr).unwrap();
    let mut bytes = Vec::new();
    for seq in 0..calls {
        bytes.extend_from_slice(&[0x94, 0x00]);
        rmp::encode::write_uint(&mut bytes, seq as u64).unwrap();
        rmp::encode::write_str(&mut bytes, "Test.Repeat").unwrap();
        bytes.push(0x91);
        rmp::encode::write_uint(&mut bytes, 1 << 20).unwrap();
    }
    conn.write_all(&bytes).unwrap();
    conn
}

#[test]
fn a_peer_that_never_reads_holds_up_nobody_and_shutdown_is_prompt() {
    let h = start_with(
        Server::builder()
            .parallelism(4)
            .write_timeout(Some(Duration::from_secs(5)))
            .build(),
    );
    let stalled = non_reader(h.addr, 32);
    thread::sleep(Duration::from_millis(300)); // Its replies pile up, its writer stalls.
    let client = h.client();
    let started = Instant::now();
    let product: i64 = client.call("Arith.Multiply", &Args { a: 3, b: 4 }).unwrap();
    assert_eq!(product, 12);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "an unrelated call took {took:?}"
    );

    let started = Instant::now();
    h.server.shutdown(Duration::from_millis(100));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    drop(stalled);
}

#[test]
fn panicking_serialize_and_deserialize_cost_only_their_call() {
    let h = start();
    let client = h.client();
    for _ in 0..100 {
        match client.call::<_, ()>("Slow.BadReply", &()) {
            Err(Error::Server(text)) => assert!(
                text.contains("this reply cannot be serialized"),
                "unexpected error {text:?}"
            ),
            other => panic!("expected the serialize panic as an error, got {other:?}"),
        }
        match client.call::<_, ()>("Slow.BadArg", &()) {
            Err(Error::Server(text)) => assert!(
                text.contains("this argument cannot be deserialized"),
                "unexpected error {text:?}"
            ),
            other => panic!("expected the deserialize panic as an error, got {other:?}"),
        }
    }
    for i in 0..100 {
        let product: i64 = client.call("Arith.Multiply", &Args { a: i, b: 3 }).unwrap();
        assert_eq!(product, i * 3);
    }
    // Nothing is in flight any more: shutdown has nothing to wait for.
    let started = Instant::now();
    h.server.shutdown(Duration::from_secs(5));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
}

#[test]
fn a_connection_made_right_after_shutdown_is_closed() {
    let h = start();
    h.server.shutdown(Duration::from_millis(100));
    // Refused, once the accept loop has returned and dropped its listener, or closed.
    match TcpStream::connect(h.addr) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(mut late) => {
            late.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            expect_closed(&mut late);
        }
    }
}

#[test]
fn shutdown_stops_accept_without_touching_the_listener() {
    let server = Server::new();
    common::register_all(&server);
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let accepting = {
        let (server, listener) = (server.clone(), Arc::clone(&listener));
        thread::spawn(move || server.accept(&*listener))
    };
    thread::sleep(Duration::from_millis(50));
    server.shutdown(Duration::from_millis(10));
    let deadline = Instant::now() + Duration::from_secs(1);
    while !accepting.is_finished() {
        assert!(
            Instant::now() < deadline,
            "accept did not return after shutdown"
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert!(accepting.join().unwrap().is_ok());
    // No accept timeout was left on the user's listener (accepted sockets would inherit it).
    let timeout = socket2::SockRef::from(&*listener).read_timeout().unwrap();
    assert_eq!(timeout, None);
}

#[test]
fn serve_conn_after_shutdown_returns_at_once() {
    let server = Server::new();
    common::register_all(&server);
    server.shutdown(Duration::ZERO);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (conn, _) = listener.accept().unwrap();
    let serving = thread::spawn(move || server.serve_conn(conn));
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    expect_closed(&mut client);
    let deadline = Instant::now() + Duration::from_secs(1);
    while !serving.is_finished() {
        assert!(
            Instant::now() < deadline,
            "serve_conn went on after shutdown"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn shutdown_closes_an_http_connection_still_sending_its_head() {
    let server = Server::new();
    common::register_all(&server);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    thread::spawn(move || serving.serve_http(&listener));
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"CONNECT /_goRPC_ HTTP/1.0\n").unwrap(); // ...and no end to the head.
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    server.shutdown(Duration::from_millis(10));
    conn.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    expect_closed(&mut conn);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_request_trickled_in_is_cut_off_by_the_read_timeout() {
    let h = start_with(
        Server::builder()
            .read_timeout(Some(Duration::from_millis(200)))
            .build(),
    );
    let mut conn = TcpStream::connect(h.addr).unwrap();
    let mut request = vec![0x94, 0x00, 0x01];
    rmp::encode::write_str(&mut request, "Arith.Multiply").unwrap();
    let started = Instant::now();
    // One byte every 150 ms: each read comes in time, the whole request never does.
    let mut closed = false;
    for &byte in request.iter().cycle().take(40) {
        if conn.write_all(&[byte]).is_err() {
            closed = true;
            break;
        }
        thread::sleep(Duration::from_millis(150));
        conn.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let eof = matches!(conn.read(&mut buf), Ok(0));
        conn.set_nonblocking(false).unwrap();
        if eof {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling peer was never cut off");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_trickled_request_gets_the_read_timeout_from_its_first_byte_and_no_more() {
    let h = start_with(
        Server::builder()
            .read_timeout(Some(Duration::from_secs(1)))
            .build(),
    );
    let mut conn = TcpStream::connect(h.addr).unwrap();
    let started = Instant::now();
    conn.write_all(&[0x94]).unwrap();
    thread::sleep(Duration::from_millis(900));
    // In time for a read, not for the request: the read after it must not wait a whole
    // timeout more.
    conn.write_all(&[0x00]).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    expect_closed(&mut conn);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "closed after {took:?}");
}
