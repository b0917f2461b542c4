//! Deadlines, graceful shutdown, limits and timeouts, under real sockets and threads.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{expect_closed, start_with, Args, WAIT};
use crossbeam_channel::{bounded, Receiver};
use netrpc::{Client, Error, Server};

/// A server accepting on an ephemeral port; the receiver yields what `accept` returned.
fn serve(server: &Server) -> (SocketAddr, Receiver<std::io::Result<()>>) {
    common::register_all(server);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = bounded(1);
    let accepting = server.clone();
    thread::spawn(move || tx.send(accepting.accept(&listener)));
    (addr, rx)
}

fn client(addr: SocketAddr) -> Client {
    Client::builder().timeout(Some(WAIT)).dial(addr).unwrap()
}

fn multiply(client: &Client) -> Result<i64, Error> {
    client.call("Arith.Multiply", &Args { a: 6, b: 7 })
}

#[test]
fn shutdown_lets_calls_in_flight_finish_and_refuses_new_ones() {
    let server = Server::new();
    let (addr, accepted) = serve(&server);
    let busy = client(addr);
    let other = client(addr);
    assert_eq!(multiply(&other).unwrap(), 42);

    let in_flight = busy.go::<_, u64>("Test.Sleep", &400u64);
    thread::sleep(Duration::from_millis(50));
    let stopping = server.clone();
    let shutdown = thread::spawn(move || stopping.shutdown(Duration::from_secs(5)));
    thread::sleep(Duration::from_millis(50));

    match multiply(&other) {
        Err(Error::Server(text)) => assert_eq!(text, "rpc: server is shutting down"),
        other => panic!("expected the shutdown error, got {other:?}"),
    }
    let done = in_flight
        .done
        .recv_timeout(WAIT)
        .expect("the call in flight completes");
    assert_eq!(done.result.unwrap(), 400);
    shutdown.join().unwrap();
    assert!(
        matches!(accepted.recv_timeout(WAIT), Ok(Ok(()))),
        "accept returns Ok"
    );
    // The connections are closed now.
    assert!(multiply(&busy).is_err());
}

#[test]
fn shutdown_closes_connections_when_the_grace_period_ends() {
    let server = Server::new();
    let (addr, _accepted) = serve(&server);
    let c = client(addr);
    let slow = c.go::<_, u64>("Test.Sleep", &3000u64);
    thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    server.shutdown(Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(2));
    let done = slow
        .done
        .recv_timeout(WAIT)
        .expect("the pending call completes");
    assert!(done.result.is_err(), "{:?}", done.result);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait for the slow method"
    );
}

#[test]
fn connections_over_the_limit_are_closed_at_once() {
    let server = Server::builder().max_connections(2).build();
    let (addr, _accepted) = serve(&server);
    let first = client(addr);
    let second = client(addr);
    assert_eq!(multiply(&first).unwrap(), 42);
    assert_eq!(multiply(&second).unwrap(), 42);
    let mut third = std::net::TcpStream::connect(addr).unwrap();
    third.set_read_timeout(Some(WAIT)).unwrap();
    expect_closed(&mut third);
    assert_eq!(multiply(&first).unwrap(), 42);
    // A slot frees when a connection ends.
    drop(first);
    common::eventually("a fourth connection to be served", || {
        Client::builder()
            .timeout(Some(Duration::from_secs(1)))
            .dial(addr)
            .is_ok_and(|c| multiply(&c).is_ok())
    });
}

#[test]
fn the_in_flight_limit_holds_calls_back_instead_of_queueing_them() {
    let server = Server::builder().max_in_flight_per_conn(1).build();
    let (addr, _accepted) = serve(&server);
    let c = client(addr);
    let started = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| c.go::<_, u64>("Test.Sleep", &150u64))
        .collect();
    for call in calls {
        assert_eq!(call.done.recv_timeout(WAIT).unwrap().result.unwrap(), 150);
    }
    // One at a time: the reader did not take the next request before the last answered.
    assert!(
        started.elapsed() >= Duration::from_millis(440),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn methods_that_block_do_not_hold_up_the_queue() {
    // Four blocking calls per core: the pool runs as many workers as cores while they are
    // busy, so only the stall monitor's extra workers let these overlap.
    let n = 4 * thread::available_parallelism().map_or(2, |n| n.get());
    let server = Server::new();
    let (addr, _accepted) = serve(&server);
    let c = client(addr);
    let started = Instant::now();
    let calls: Vec<_> = (0..n)
        .map(|_| c.go::<_, u64>("Test.Sleep", &300u64))
        .collect();
    for call in calls {
        assert_eq!(call.done.recv_timeout(WAIT).unwrap().result.unwrap(), 300);
    }
    // One worker per core would take 4 × 300 ms.
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{n} blocking calls took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_read_timeout_counts_from_the_last_answer_not_from_the_read() {
    let server = Server::builder()
        .read_timeout(Some(Duration::from_millis(400)))
        .build();
    let (addr, _accepted) = serve(&server);
    let c = client(addr);
    // The server's read starts as the call starts and times out at 400 ms; the call was
    // answered at 200 ms, so the connection was not idle for a whole timeout.
    assert_eq!(c.call::<_, u64>("Test.Sleep", &200u64).unwrap(), 200);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(multiply(&c).unwrap(), 42);
}

#[test]
fn an_idle_spell_after_an_answer_ends_one_read_timeout_after_it() {
    let timeout = Duration::from_secs(2);
    let server = Server::builder().read_timeout(Some(timeout)).build();
    let (addr, _accepted) = serve(&server);
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    // [0, 1, "Test.Sleep", [1200]]: answered 1.2 s into the server's read of what follows.
    let mut request = vec![0x94, 0x00, 0x01];
    rmp::encode::write_str(&mut request, "Test.Sleep").unwrap();
    request.extend([0x91, 0xcd, 0x04, 0xb0]);
    let sent = Instant::now();
    conn.write_all(&request).unwrap();
    expect_closed(&mut conn);
    // Idle from 1.2 s on: closed at 3.2 s, not when a second whole read timeout ends (4 s).
    let closed = sent.elapsed();
    assert!(
        closed >= Duration::from_millis(3100) && closed < Duration::from_millis(3700),
        "closed after {closed:?}"
    );
}

#[test]
fn the_read_timeout_closes_idle_and_slowloris_connections() {
    let server = Server::builder()
        .read_timeout(Some(Duration::from_millis(200)))
        .build();
    let (addr, _accepted) = serve(&server);
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(WAIT)).unwrap();
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(WAIT)).unwrap();
    slow.write_all(&[0x94, 0x00, 0x01]).unwrap(); // the start of a request, then nothing
    let started = Instant::now();
    expect_closed(&mut idle);
    expect_closed(&mut slow);
    assert!(started.elapsed() < Duration::from_secs(3));
    // A client that keeps calling is not affected.
    let c = client(addr);
    for _ in 0..3 {
        assert_eq!(multiply(&c).unwrap(), 42);
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_write_timeout_drops_a_client_that_never_reads() {
    let server = Server::builder()
        .write_timeout(Some(Duration::from_millis(300)))
        .build();
    let (addr, _accepted) = serve(&server);
    let good = client(addr);
    let mut flood = std::net::TcpStream::connect(addr).unwrap();
    flood.set_read_timeout(Some(WAIT)).unwrap();
    // 64 requests for 1 MiB each, and no reading: the server's writes block, then time out.
    let mut request = vec![0x94, 0x00, 0x01];
    rmp::encode::write_str(&mut request, "Test.Repeat").unwrap();
    request.push(0x91);
    rmp::encode::write_uint(&mut request, 1 << 20).unwrap();
    for _ in 0..64 {
        flood.write_all(&request).unwrap();
    }
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(multiply(&good).unwrap(), 42);
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match flood.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(
        received < 64 << 20,
        "the server gave up before sending everything ({received} bytes)"
    );
}

#[test]
fn a_go_call_deadline_completes_it_with_timeout() {
    let h = start_with(Server::new());
    let c = h.client();
    let started = Instant::now();
    let call = c.go_timeout::<_, u64>("Test.Sleep", &1000u64, Duration::from_millis(100));
    let done = call.done.recv_timeout(WAIT).unwrap();
    assert!(
        matches!(done.result, Err(Error::Timeout)),
        "{:?}",
        done.result
    );
    assert!(started.elapsed() < Duration::from_millis(900));
    // A deadline that does not pass leaves the call alone.
    let call = c.go_timeout::<_, u64>("Test.Sleep", &10u64, Duration::from_secs(5));
    assert_eq!(call.done.recv_timeout(WAIT).unwrap().result.unwrap(), 10);
    assert_eq!(multiply(&c).unwrap(), 42);
}

#[test]
fn every_reply_reaches_exactly_the_call_that_sent_it() {
    let h = start_with(Server::new());
    let c = h.client();
    thread::scope(|s| {
        for t in 0..8 {
            let c = &c;
            s.spawn(move || {
                let calls: Vec<_> = (0..250)
                    .map(|i| {
                        let payload = format!("thread {t} call {i} {}", "x".repeat(i % 97));
                        (c.go::<_, String>("Echo.Echo", &payload), payload)
                    })
                    .collect();
                for (call, payload) in calls {
                    let done = call.done.recv_timeout(WAIT).expect("completion");
                    assert_eq!(done.seq, call.seq);
                    assert_eq!(done.result.unwrap(), payload);
                    assert!(call.done.try_recv().is_err(), "completed twice");
                }
            });
        }
    });
}

#[test]
fn a_client_vanishing_mid_call_leaves_the_server_serving() {
    let h = start_with(Server::new());
    for _ in 0..5 {
        let mut conn = h.raw();
        let mut request = vec![0x94, 0x00, 0x01];
        rmp::encode::write_str(&mut request, "Test.Sleep").unwrap();
        request.extend_from_slice(&[0x91, 50]);
        conn.write_all(&request).unwrap();
        drop(conn);
    }
    let c = h.client();
    assert_eq!(multiply(&c).unwrap(), 42);
}
