//! The client never hangs, never leaks, never crosses a reply, and says what went wrong.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{start, Args, WAIT};
use netrpc::codec::{ClientCodec, DecodeBody, Output, Response};
use netrpc::wire::msgpack::{MsgpackClientCodec, MsgpackEncoder};
use netrpc::{Client, CodecError, Error, Ignore, Server, Service};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A server that accepts connections and never reads from them; keeps them open.
fn deaf_server() -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = thread::spawn(move || {
        let mut conns = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + WAIT;
        while Instant::now() < until {
            if let Ok((conn, _)) = listener.accept() {
                conns.push(conn);
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    (addr, held)
}

/// More than the kernel's buffers on both sides hold.
fn big_argument() -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(vec![1u8; 32 << 20])
}

#[test]
fn a_server_that_stops_reading_times_calls_out_and_close_returns_at_once() {
    let (addr, _held) = deaf_server();
    let client = Client::dial(addr).unwrap();
    let started = Instant::now();
    let result =
        client.call_timeout::<_, Ignore>("Echo.Echo", &big_argument(), Duration::from_millis(200));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "call_timeout took {took:?}");
    // The request is still being written, to a server that takes nothing.
    let stuck = client.go::<_, Ignore>("Echo.Echo", &big_argument());
    let started = Instant::now();
    client.close().unwrap();
    assert!(started.elapsed() < Duration::from_millis(200));
    let done = stuck.done.recv_timeout(WAIT).expect("a pending call hung");
    assert!(aborted(&done.result), "{:?}", done.result);
}

/// Whether `result` is the error of a call pending when its client was closed.
fn aborted<T>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionAborted)
}

#[test]
fn the_write_timeout_fails_a_call_to_a_server_that_stops_reading() {
    let (addr, _held) = deaf_server();
    let client = Client::builder()
        .write_timeout(Some(Duration::from_millis(200)))
        .dial(addr)
        .unwrap();
    let started = Instant::now();
    let call = client.go::<_, Ignore>("Echo.Echo", &big_argument());
    let done = call.done.recv_timeout(WAIT).expect("the call hung");
    match done.result {
        Err(Error::Io(e)) => assert!(
            e.to_string().contains("write timeout") || e.kind() == std::io::ErrorKind::WouldBlock,
            "{e}"
        ),
        other => panic!("expected the write to time out, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // And the client is done for.
    assert!(matches!(
        client.call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 }),
        Err(Error::Shutdown)
    ));
}

#[test]
fn requests_past_the_unsent_limit_fail_alone_and_the_connection_goes_on() {
    let (addr, _held) = deaf_server();
    let client = Client::builder()
        .max_message_size(1 << 20)
        .max_unsent_bytes(4 << 20)
        .dial(addr)
        .unwrap();
    let argument = serde_bytes::ByteBuf::from(vec![1u8; 1000 << 10]);
    let mut sent = Vec::new();
    let refused = loop {
        assert!(sent.len() < 1000, "no call was refused");
        let call = client.go::<_, Ignore>("Echo.Echo", &argument);
        match call.done.try_recv() {
            Ok(done) => break done.result,
            Err(_) => sent.push(call),
        }
    };
    match refused {
        Err(Error::Codec(CodecError::Encode(text))) => {
            assert!(text.contains("max_unsent_bytes"), "{text}")
        }
        other => panic!("expected the call to be refused, got {other:?}"),
    }
    // The calls before it still wait for their replies: the connection was not closed.
    thread::sleep(Duration::from_millis(100));
    for call in &sent {
        assert!(call.done.try_recv().is_err(), "an earlier call ended");
    }
    // While the bytes wait, a small call is refused too, and the connection stays open.
    let small = client.go::<_, i64>("Arith.Multiply", &Args { a: 2, b: 3 });
    let done = small
        .done
        .try_recv()
        .expect("a call was queued past the limit");
    assert!(
        matches!(done.result, Err(Error::Codec(_))),
        "{:?}",
        done.result
    );
    for call in &sent {
        assert!(call.done.try_recv().is_err(), "an earlier call ended");
    }
}

#[test]
fn large_calls_made_together_to_a_server_that_reads_are_all_answered() {
    // Two 40 MB requests queued at once, and their two 40 MB replies: more than the unsent
    // limit together, but nothing waits for a peer slow to read. One was refused, and then
    // left the other unwritten; the server closed the connection over the replies.
    let h = start();
    let client = h.client();
    let argument = serde_bytes::ByteBuf::from(vec![7u8; 40_000_000]);
    thread::scope(|s| {
        let calls: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    client.call_timeout::<_, serde_bytes::ByteBuf>("Echo.Echo", &argument, WAIT)
                })
            })
            .collect();
        for call in calls {
            let echoed = call.join().unwrap().expect("a large call failed");
            assert_eq!(echoed.len(), argument.len());
        }
    });
}

/// A TCP connection that cannot write without blocking (`Conn::write_nonblocking` left to
/// its default, as a TLS session's), and whose writes panic once `panics` is set.
struct BlockingConn {
    tcp: TcpStream,
    panics: Arc<AtomicBool>,
}

impl Read for BlockingConn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for BlockingConn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        assert!(
            !self.panics.load(Ordering::SeqCst),
            "this transport's write panics"
        );
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl netrpc::Conn for BlockingConn {
    fn try_clone(&self) -> std::io::Result<Self> {
        Ok(BlockingConn {
            tcp: self.tcp.try_clone()?,
            panics: Arc::clone(&self.panics),
        })
    }
    fn shutdown(&self) -> std::io::Result<()> {
        self.tcp.shutdown(std::net::Shutdown::Both)
    }
    fn peer(&self) -> String {
        "blocking".to_owned()
    }
}

#[test]
fn the_unsent_limit_holds_on_a_transport_that_only_writes_blocking() {
    let (addr, _held) = deaf_server();
    let conn = BlockingConn {
        tcp: TcpStream::connect(addr).unwrap(),
        panics: Arc::default(),
    };
    let client = Client::builder()
        .max_message_size(4 << 20)
        .max_unsent_bytes(4 << 20)
        .connect(conn)
        .unwrap();
    let (blocked, small) = (vec![1u8; 4_000_000], vec![1u8; 64 << 10]);
    let (blocked, small) = (
        serde_bytes::ByteBuf::from(blocked),
        serde_bytes::ByteBuf::from(small),
    );
    thread::scope(|s| {
        // A sender writes until the kernel's buffers are full, and then waits in the write.
        s.spawn(|| {
            for _ in 0..10 {
                client.go::<_, Ignore>("Echo.Echo", &blocked);
            }
        });
        thread::sleep(Duration::from_millis(500));
        // What queues behind it is bounded: 64 calls fill the limit, the rest are refused.
        let calls: Vec<_> = (0..100)
            .map(|_| client.go::<_, Ignore>("Echo.Echo", &small))
            .collect();
        let refused = calls.iter().filter(|c| c.done.try_recv().is_ok()).count();
        client.close().unwrap();
        assert!(refused >= 30, "{refused} of 100 refused past a limit of 64");
    });
}

#[test]
fn a_transport_whose_write_panics_fails_its_calls_and_closes() {
    let h = start();
    let panics = Arc::new(AtomicBool::new(false));
    let conn = BlockingConn {
        tcp: TcpStream::connect(h.addr).unwrap(),
        panics: Arc::clone(&panics),
    };
    let client = Client::builder().timeout(Some(WAIT)).connect(conn).unwrap();
    let product: i64 = client.call("Arith.Multiply", &Args { a: 6, b: 7 }).unwrap();
    assert_eq!(product, 42);
    panics.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let failed = client.call::<_, i64>("Arith.Multiply", &Args { a: 6, b: 7 });
    assert!(failed.is_err(), "{failed:?}");
    // The connection is closed, not left with its writer taken: later calls fail at once.
    let later = client.call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 });
    assert!(later.is_err(), "{later:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn senders_that_keep_coming_do_not_hold_every_message_back() {
    // Each sender leaves writing to the last in line; with senders always in line, there
    // was none, and nothing was written while they went on.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = Arc::clone(&received);
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            counting.fetch_add(n, Ordering::SeqCst);
        }
    });
    let client = Client::dial(addr).unwrap();
    // Far longer than writing a MiB takes; the senders were held back for seconds.
    let deadline = Instant::now() + Duration::from_secs(2);
    let payload = "y".repeat(100);
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while received.load(Ordering::SeqCst) < 1 << 20 && Instant::now() < deadline {
                    client.notify("S.M", &payload).unwrap();
                }
            });
        }
    });
    let got = received.load(Ordering::SeqCst);
    assert!(
        got >= 1 << 20,
        "the server got {got} bytes while they were sent"
    );
}

/// A reply type whose `Deserialize` panics.
#[derive(Debug)]
struct Explosive;

impl<'de> Deserialize<'de> for Explosive {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("this reply cannot be deserialized")
    }
}

/// An argument whose `Serialize` panics.
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("this argument cannot be serialized")
    }
}

#[test]
fn a_reply_whose_deserialize_panics_fails_that_call_and_the_connection_goes_on() {
    let h = start();
    let client = h.client();
    for _ in 0..10 {
        match client.call::<_, Explosive>("Arith.Multiply", &Args { a: 2, b: 3 }) {
            Err(Error::Codec(e)) => {
                assert!(e.to_string().contains("panicked"), "{e}")
            }
            other => panic!("expected the panic as an error, got {other:?}"),
        }
        let product: i64 = client.call("Arith.Multiply", &Args { a: 2, b: 3 }).unwrap();
        assert_eq!(product, 6);
    }
}

/// A reply that takes two seconds to deserialize.
struct Slow;

impl<'de> Deserialize<'de> for Slow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        thread::sleep(Duration::from_secs(2));
        serde::de::IgnoredAny::deserialize(d).map(|_| Slow)
    }
}

#[test]
fn the_timeout_bounds_a_call_whose_reply_is_slow_to_decode() {
    let h = start();
    let client = h.client();
    let started = Instant::now();
    let result = client.call_timeout::<_, Slow>(
        "Arith.Multiply",
        &Args { a: 2, b: 3 },
        Duration::from_millis(200),
    );
    let took = started.elapsed();
    assert!(matches!(result, Err(Error::Timeout)), "{:?}", result.err());
    assert!(took < Duration::from_secs(1), "the call took {took:?}");
}

#[test]
fn an_argument_whose_serialize_panics_fails_that_call_only() {
    let h = start();
    let client = h.client();
    for _ in 0..10 {
        match client.call::<_, i64>("Arith.Multiply", &Unserializable) {
            Err(Error::Codec(CodecError::Encode(text))) => {
                assert!(
                    text.contains("this argument cannot be serialized"),
                    "{text}"
                )
            }
            other => panic!("expected an encode error, got {other:?}"),
        }
        let product: i64 = client.call("Arith.Multiply", &Args { a: 4, b: 5 }).unwrap();
        assert_eq!(product, 20);
    }
}

/// The MessagePack client codec, made to panic once armed.
struct PanickyCodec {
    inner: MsgpackClientCodec<netrpc::Shared<TcpStream>>,
    armed: Arc<AtomicBool>,
}

impl ClientCodec for PanickyCodec {
    type Encoder = MsgpackEncoder;

    fn writer(&mut self) -> Result<(MsgpackEncoder, Output), CodecError> {
        self.inner.writer()
    }

    fn read_response_header(&mut self) -> Result<Option<Response>, CodecError> {
        assert!(!self.armed.load(Ordering::SeqCst), "a bug in the codec");
        self.inner.read_response_header()
    }

    fn read_response_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        self.inner.read_response_body(body)
    }
}

#[test]
fn a_panicking_codec_fails_every_pending_and_later_call() {
    let h = start();
    let armed = Arc::new(AtomicBool::new(false));
    let codec = PanickyCodec {
        inner: MsgpackClientCodec::new(netrpc::Shared::new(TcpStream::connect(h.addr).unwrap())),
        armed: Arc::clone(&armed),
    };
    let client = Client::builder().codec(codec).unwrap();
    thread::sleep(Duration::from_millis(50)); // The reader waits inside the codec, unarmed.
    armed.store(true, Ordering::SeqCst);
    let quick = client.go::<_, u64>("Test.Sleep", &10u64);
    let slow = client.go::<_, u64>("Test.Sleep", &300u64);
    // The quick reply completes its call; the codec panics on the next header.
    assert_eq!(quick.done.recv_timeout(WAIT).unwrap().result.unwrap(), 10);
    let done = slow.done.recv_timeout(WAIT).expect("a pending call hung");
    match done.result {
        Err(Error::Codec(e)) => assert!(e.to_string().contains("a bug in the codec"), "{e}"),
        other => panic!("expected the codec's panic, got {other:?}"),
    }
    let later = client.call_timeout::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 }, WAIT);
    assert!(matches!(later, Err(Error::Shutdown)), "{later:?}");
}

/// A server that answers every connection's first read with bytes that are no response.
fn garbling_server() -> (SocketAddr, crossbeam_channel::Receiver<Duration>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        conn.write_all(&[0x93, 0x07, 0x07, 0x07]).unwrap();
        // The client must hang up.
        let started = Instant::now();
        while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(started.elapsed());
    });
    (addr, rx)
}

#[test]
fn a_protocol_error_shuts_the_connection_down() {
    let (addr, hung_up) = garbling_server();
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let result = client.call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 });
    assert!(matches!(result, Err(Error::Codec(_))), "{result:?}");
    let took = hung_up
        .recv_timeout(WAIT)
        .expect("the client kept the connection open");
    assert!(took < Duration::from_secs(1));
}

#[test]
fn close_after_the_server_hung_up_succeeds_as_in_go() {
    let h = start();
    let client = h.client();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 2 })
            .unwrap(),
        4
    );
    h.server.shutdown(Duration::from_millis(10));
    let result = client.call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 2 });
    assert!(result.is_err());
    assert!(client.close().is_ok(), "cleanup code's close() failed");
    assert!(matches!(client.close(), Err(Error::Shutdown)));
}

#[test]
fn a_json_notification_is_refused_and_no_reply_crosses() {
    let h = common::start_json();
    let client = netrpc::jsonrpc::dial(h.addr).unwrap();
    match client.notify("Test.Bump", &1u64) {
        Err(Error::Codec(CodecError::Encode(text))) => {
            assert!(text.contains("no notifications"), "{text}")
        }
        other => panic!("expected the notification to be refused, got {other:?}"),
    }
    let calls: Vec<_> = (0..50i64)
        .map(|i| client.go::<_, i64>("Arith.Multiply", &Args { a: i, b: 3 }))
        .collect();
    for (i, call) in (0..).zip(calls) {
        let done = call.done.recv_timeout(WAIT).unwrap();
        assert_eq!(done.result.unwrap(), i * 3);
    }
    assert_eq!(h.notified.load(Ordering::SeqCst), 0);
}

#[test]
fn duration_max_is_no_deadline() {
    let h = start();
    let forever = Duration::MAX;
    let client = Client::builder()
        .timeout(Some(forever))
        .dial(h.addr)
        .unwrap();
    let args = Args { a: 3, b: 3 };
    assert_eq!(client.call::<_, i64>("Arith.Multiply", &args).unwrap(), 9);
    assert_eq!(
        client
            .call_timeout::<_, i64>("Arith.Multiply", &args, forever)
            .unwrap(),
        9
    );
    let call = client.go_timeout::<_, i64>("Arith.Multiply", &args, forever);
    assert_eq!(call.done.recv_timeout(WAIT).unwrap().result.unwrap(), 9);
    let call = client.go::<_, i64>("Arith.Multiply", &args);
    assert_eq!(call.done.recv_timeout(WAIT).unwrap().result.unwrap(), 9);

    // An HTTP server whose heads may take forever, and a shutdown with all the time there is.
    let server = Server::builder().http_head_timeout(forever).build();
    common::register_all(&server);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    thread::spawn(move || serving.serve_http(&listener));
    let over_http = Client::dial_http(addr).unwrap();
    assert_eq!(
        over_http.call::<_, i64>("Arith.Multiply", &args).unwrap(),
        9
    );
    let started = Instant::now();
    server.shutdown(forever); // Nothing in flight: returns at once.
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn the_builder_timeout_bounds_go_and_go_with() {
    let h = start();
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(100)))
        .dial(h.addr)
        .unwrap();
    let started = Instant::now();
    let call = client.go::<_, u64>("Test.Sleep", &2000u64);
    let done = call.done.recv_timeout(WAIT).unwrap();
    assert!(
        matches!(done.result, Err(Error::Timeout)),
        "{:?}",
        done.result
    );
    let (tx, rx) = crossbeam_channel::bounded(1);
    client
        .go_with::<_, u64>("Test.Sleep", &2000u64, &tx)
        .unwrap();
    let done = rx.recv_timeout(WAIT).unwrap();
    assert!(
        matches!(done.result, Err(Error::Timeout)),
        "{:?}",
        done.result
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn the_connect_timeout_gives_up_on_a_server_that_never_answers() {
    // A listener that never accepts, its backlog full: further SYNs go unanswered.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(conn) => fillers.push(conn),
            Err(_) => break,
        }
        assert!(fillers.len() < 64, "the backlog never filled");
    }
    let started = Instant::now();
    let result = Client::builder()
        .connect_timeout(Some(Duration::from_millis(300)))
        .dial(addr);
    let err = result.expect_err("connected to a full backlog");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_http_handshake_timeout_says_with_whom() {
    let (addr, _held) = deaf_server();
    let started = Instant::now();
    let err = Client::builder()
        .connect_timeout(Some(Duration::from_millis(300)))
        .http(netrpc::DEFAULT_RPC_PATH)
        .dial(addr)
        .expect_err("a handshake nobody answered");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP handshake") && text.contains(&addr.to_string()),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_reply_can_be_ignored() {
    let h = start();
    let client = h.client();
    let Ignore = client.call("Arith.Multiply", &Args { a: 7, b: 8 }).unwrap();
    let Ignore = client.call("Echo.Echo", &vec!["any", "value"]).unwrap();
    let Ignore = client.call("Test.Nothing", &()).unwrap();
}

#[test]
fn a_wrong_reply_type_says_what_was_expected_and_what_came() {
    let h = start();
    let client = h.client();
    let err = client
        .call::<_, i64>("Echo.Echo", &"a string")
        .expect_err("a string decoded as an integer");
    let text = err.to_string();
    assert!(text.contains("a string, expected a number"), "{text}");
    assert!(!text.contains("marker"), "rmp internals in {text}");
}

#[test]
fn services_in_the_usual_wrappers_are_named_after_the_type_inside() {
    struct Counter(parking_lot::Mutex<u64>);

    impl Counter {
        fn add(&self, n: u64) -> Result<u64, String> {
            let mut count = self.0.lock();
            *count += n;
            Ok(*count)
        }
    }

    let shared = Arc::new(Counter(parking_lot::Mutex::new(0)));
    let service = Service::new(Arc::clone(&shared)).method("Add", |c: &Arc<Counter>, n| c.add(n));
    assert_eq!(service.name(), "Counter");
    assert_eq!(
        Service::new(Box::new(std::sync::Mutex::new(0u8)))
            .method("Get", |_, (): ()| Ok::<_, String>(0))
            .name(),
        "u8"
    );
    let server = Server::new();
    server.register(service).unwrap();
    let addr = common::serve(&server);
    let client = Client::dial(addr).unwrap();
    assert_eq!(client.call::<_, u64>("Counter.Add", &5u64).unwrap(), 5);
    assert_eq!(*shared.0.lock(), 5);
}

#[test]
fn clients_services_servers_and_codecs_show_what_they_are() {
    let h = start();
    let client = h.client();
    let shown = format!("{client:?}");
    assert!(
        shown.starts_with("Client") && shown.contains(&h.addr.to_string()),
        "{shown}"
    );
    let shown = format!("{:?}", h.server);
    assert!(shown.contains("Arith") && shown.contains("Echo"), "{shown}");
    let service = Service::new(common::Test {
        notified: Arc::default(),
    });
    assert!(format!("{service:?}").contains("Test"));
    let codec = MsgpackClientCodec::new(TcpStream::connect(h.addr).unwrap());
    assert!(format!("{codec:?}").contains("MsgpackClientCodec"));
    // The done channel's crate comes with netrpc.
    let (tx, rx) = netrpc::channel::bounded::<netrpc::Completed<i64>>(1);
    client
        .go_with("Arith.Multiply", &Args { a: 2, b: 5 }, &tx)
        .unwrap();
    netrpc::channel::select! {
        recv(rx) -> done => assert_eq!(done.unwrap().result.unwrap(), 10),
        default(WAIT) => panic!("no reply"),
    }
}

#[test]
fn a_json_client_dials_with_the_builders_timeouts() {
    let h = common::start_json();
    let client = netrpc::Client::builder()
        .timeout(Some(Duration::from_millis(100)))
        .wire(netrpc::Wire::Json)
        .dial(h.addr)
        .unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 6, b: 7 })
            .unwrap(),
        42
    );
    let slow = client.call::<_, u64>("Test.Sleep", &2000u64);
    assert!(matches!(slow, Err(Error::Timeout)), "{slow:?}");
}

#[test]
fn a_request_over_the_servers_limit_is_answered_with_why() {
    let h = common::start_with(Server::builder().max_message_size(1024).build());
    let client = h.client();
    let err = client
        .call::<_, Ignore>("Echo.Echo", &"x".repeat(4096))
        .expect_err("a request over the limit");
    match err {
        Error::Server(text) => assert!(
            text.starts_with("rpc: request of ")
                && text.ends_with("exceeds the server's limit of 1024 bytes"),
            "{text}"
        ),
        other => panic!("expected the server's reason, got {other:?}"),
    }
}

#[test]
fn a_failed_dial_names_the_address_it_tried() {
    // A port just freed: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for dialed in [
        Client::dial(addr),
        Client::builder()
            .connect_timeout(Some(Duration::from_secs(2)))
            .dial(addr),
    ] {
        let e = dialed.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(
            e.to_string().starts_with(&format!("dial tcp {addr}: ")),
            "{e}"
        );
    }
    #[cfg(unix)]
    {
        let e = Client::builder()
            .dial_unix("/nonexistent/netrpc.sock")
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .starts_with("dial unix /nonexistent/netrpc.sock: "),
            "{e}"
        );
    }
}

#[test]
fn a_client_names_one_wire() {
    let h = common::start();
    for wire in [netrpc::Wire::Detect, netrpc::Wire::Http] {
        let err = Client::builder()
            .wire(wire)
            .dial(h.addr)
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("one wire"), "{err}");
    }
    // Each wire the server detects answers a client built for it.
    let wires = [
        netrpc::Wire::Msgpack,
        #[cfg(feature = "gob")]
        netrpc::Wire::Gob,
        #[cfg(feature = "json")]
        netrpc::Wire::Json,
    ];
    for wire in wires {
        let client = Client::builder()
            .wire(wire)
            .timeout(Some(WAIT))
            .connect(h.raw())
            .unwrap();
        let product: i64 = client
            .call("Arith.Multiply", &common::Args { a: 3, b: 5 })
            .unwrap();
        assert_eq!(product, 15, "{wire:?}");
    }
}

/// Runs `f` on a thread of its own and returns its result and how long it took; fails the
/// test if it takes longer than [`WAIT`].
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> (T, Duration) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let started = Instant::now();
        let result = f();
        let _ = tx.send((result, started.elapsed()));
    });
    rx.recv_timeout(WAIT).expect("still blocked after WAIT")
}

/// Clients of a server that reads nothing, with a size limit of 64 MiB: over TCP, and over a
/// transport that can only write blocking.
fn deaf_clients() -> Vec<Client> {
    let (addr, _held) = deaf_server();
    let builder = Client::builder().max_message_size(64 << 20);
    let blocking = BlockingConn {
        tcp: TcpStream::connect(addr).unwrap(),
        panics: Arc::default(),
    };
    vec![
        builder.dial(addr).unwrap(),
        builder.connect(blocking).unwrap(),
    ]
}

/// More than a server that reads nothing takes, under a client limit of 64 MiB.
fn unsendable() -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(vec![1u8; 48 << 20])
}

/// An argument that says when its request starts to encode: a test that needs a request in
/// progress waits for that, not for a guess at how long a loaded machine takes to get there.
struct Announced<T>(T, crossbeam_channel::Sender<()>);

impl<T: Serialize> Serialize for Announced<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let _ = self.1.try_send(());
        self.0.serialize(serializer)
    }
}

/// `value`, and what says when its request has started to encode.
fn announced<T>(value: T) -> (Announced<T>, crossbeam_channel::Receiver<()>) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    (Announced(value, tx), rx)
}

#[test]
fn a_call_timeout_bounds_the_write_of_its_request() {
    for client in deaf_clients() {
        let argument = unsendable();
        let (result, took) = bounded(move || {
            client.call_timeout::<_, Ignore>("Echo.Echo", &argument, Duration::from_millis(200))
        });
        assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
        assert!(
            took < Duration::from_millis(700),
            "call_timeout took {took:?}"
        );
    }
}

/// An argument that takes `.0` to serialize, as a large or slow `Serialize` may.
struct SlowToSerialize(Duration);

impl Serialize for SlowToSerialize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        thread::sleep(self.0);
        serializer.serialize_u64(1)
    }
}

#[test]
fn a_call_timeout_bounds_its_wait_behind_another_callers_request() {
    let (addr, _held) = deaf_server();
    let client = Client::dial(addr).unwrap();
    let slow = client.clone();
    let (argument, encoding) = announced(SlowToSerialize(WAIT / 2));
    thread::spawn(move || slow.go::<_, Ignore>("Echo.Echo", &argument));
    encoding
        .recv_timeout(WAIT)
        .expect("the slow request never started");
    let (result, took) = bounded(move || {
        client.call_timeout::<_, Ignore>("Echo.Echo", &1, Duration::from_millis(200))
    });
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(
        took < Duration::from_millis(700),
        "call_timeout took {took:?}"
    );
}

#[test]
fn close_completes_a_call_whose_request_is_being_written() {
    for client in deaf_clients() {
        let caller = client.clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (argument, encoding) = announced(unsendable());
        thread::spawn(move || tx.send(caller.go::<_, Ignore>("Echo.Echo", &argument)));
        encoding
            .recv_timeout(WAIT)
            .expect("the request never started");
        // Being encoded, or (after a while) written to a server that takes only part of it.
        thread::sleep(Duration::from_millis(50));
        client.close().unwrap();
        let call = rx
            .recv_timeout(Duration::from_millis(500))
            .expect("close left the caller blocked");
        let done = call
            .done
            .try_recv()
            .expect("close returned with the call pending");
        assert!(aborted(&done.result), "{:?}", done.result);
    }
}

#[test]
fn a_reply_over_the_limit_fails_its_call_only() {
    let h = start();
    let wires = [
        netrpc::Wire::Msgpack,
        #[cfg(feature = "gob")]
        netrpc::Wire::Gob,
    ];
    for wire in wires {
        let client = Client::builder()
            .wire(wire)
            .max_message_size(1 << 20)
            .timeout(Some(WAIT))
            .dial(h.addr)
            .unwrap();
        let small = client.go::<_, serde_bytes::ByteBuf>("Test.Repeat", &100usize);
        match client.call::<_, serde_bytes::ByteBuf>("Test.Repeat", &(10usize << 20)) {
            Err(Error::Codec(e @ CodecError::ReplyTooLarge { .. })) => {
                let text = e.to_string();
                assert!(
                    text.contains("exceeds the client's limit of 1048576 bytes")
                        && text.contains("max_message_size"),
                    "{wire:?}: {text}"
                );
                let CodecError::ReplyTooLarge { size, .. } = e else {
                    unreachable!()
                };
                assert!((10 << 20..(10 << 20) + 100).contains(&size), "{size}");
            }
            other => panic!("{wire:?}: expected the reply to be refused, got {other:?}"),
        }
        assert_eq!(small.wait().unwrap().len(), 100, "{wire:?}");
        // The connection goes on, in step.
        for a in 0..3 {
            let product: i64 = client.call("Arith.Multiply", &Args { a, b: 7 }).unwrap();
            assert_eq!(product, a * 7, "{wire:?}");
        }
    }
}

/// A server that reads nothing until told to, then reads MessagePack-RPC requests until one
/// for `T.Last`, and sends back the methods they called.
fn stalled_server() -> (
    SocketAddr,
    crossbeam_channel::Sender<()>,
    crossbeam_channel::Receiver<Vec<String>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (start, started) = crossbeam_channel::bounded(1);
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        started.recv_timeout(WAIT).unwrap();
        let mut conn = std::io::BufReader::new(conn);
        let mut methods = Vec::new();
        while let Ok(netrpc::rmpv::Value::Array(request)) =
            netrpc::rmpv::decode::read_value(&mut conn)
        {
            let method = request[2].as_str().unwrap_or_default().to_owned();
            methods.push(method.clone());
            if method == "T.Last" {
                break;
            }
        }
        let _ = tx.send(methods);
    });
    (addr, start, rx)
}

#[test]
fn requests_of_calls_that_ended_before_they_were_written_are_not_sent() {
    let (addr, start, received) = stalled_server();
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    // Fills the kernel's buffers: the writer waits for the server with the rest.
    let stalling = client.go::<_, Ignore>("T.Big", &big_argument());
    let short = Duration::from_millis(50);
    for _ in 0..3 {
        let late = client.call_timeout::<_, Ignore>("T.Late", &1, short);
        assert!(matches!(late, Err(Error::Timeout)), "{late:?}");
    }
    let calls: Vec<_> = (0..3)
        .map(|_| client.go_timeout::<_, Ignore>("T.Late", &1, short))
        .collect();
    for call in calls {
        let done = call.done.recv_timeout(WAIT).unwrap();
        assert!(
            matches!(done.result, Err(Error::Timeout)),
            "{:?}",
            done.result
        );
    }
    let _last = client.go::<_, Ignore>("T.Last", &1);
    start.send(()).unwrap();
    let methods = received
        .recv_timeout(WAIT)
        .expect("the server got no T.Last");
    assert_eq!(methods, ["T.Big", "T.Last"]);
    drop(stalling);
}

#[test]
fn a_pending_call_keeps_its_connection_open() {
    let h = start();
    let client = h.client();
    let call = client.go::<_, u64>("Test.Sleep", &200u64);
    drop(client);
    let done = call.done.recv_timeout(WAIT).expect("the call hung");
    assert_eq!(done.result.unwrap(), 200);
}

#[test]
fn a_call_dropped_unanswered_keeps_nothing_open() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::dial(listener.local_addr().unwrap()).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let call = client.go::<_, u64>("Test.Sleep", &200u64);
    let (tx, rx) = crossbeam_channel::bounded(1);
    client
        .go_with::<_, u64>("Test.Sleep", &200u64, &tx)
        .unwrap();
    drop(call);
    drop(client);
    common::expect_closed(&mut conn);
    // A call made with go_with has no handle to keep the connection open with.
    let done = rx.recv_timeout(WAIT).expect("the call hung");
    assert!(aborted(&done.result), "{:?}", done.result);
}

#[test]
fn errors_say_whether_the_connection_is_lost_and_whether_the_call_may_have_run() {
    fn says(error: &Error) -> (bool, bool) {
        (error.is_connection_lost(), error.may_have_run())
    }
    const INTACT_RAN: (bool, bool) = (false, true);
    const INTACT_NOT_RUN: (bool, bool) = (false, false);
    const LOST_RAN: (bool, bool) = (true, true);
    const LOST_NOT_RUN: (bool, bool) = (true, false);

    let h = start();
    let client = Client::builder()
        .max_message_size(1024)
        .timeout(Some(WAIT))
        .dial(h.addr)
        .unwrap();
    let timeout = client
        .call_timeout::<_, u64>("Test.Sleep", &2000u64, Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(timeout, Error::Timeout), "{timeout:?}");
    assert_eq!(says(&timeout), INTACT_RAN, "{timeout:?}");
    let server = client
        .call::<_, common::Quotient>("Arith.Divide", &Args { a: 1, b: 0 })
        .unwrap_err();
    assert!(matches!(server, Error::Server(_)), "{server:?}");
    assert_eq!(says(&server), INTACT_RAN, "{server:?}");
    let refused = client
        .call::<_, Ignore>("Echo.Echo", &"x".repeat(2000))
        .unwrap_err();
    assert!(
        matches!(refused, Error::Codec(CodecError::Encode(_))),
        "{refused:?}"
    );
    assert_eq!(says(&refused), INTACT_NOT_RUN, "{refused:?}");
    let unencodable = client
        .call::<_, Ignore>("Echo.Echo", &Unserializable)
        .unwrap_err();
    assert_eq!(says(&unencodable), INTACT_NOT_RUN, "{unencodable:?}");
    let unreadable = client
        .call::<_, Ignore>("Test.Repeat", &2000usize)
        .unwrap_err();
    assert!(
        matches!(unreadable, Error::Codec(CodecError::ReplyTooLarge { .. })),
        "{unreadable:?}"
    );
    assert_eq!(says(&unreadable), INTACT_RAN, "{unreadable:?}");
    let pending = client.go::<_, u64>("Test.Sleep", &2000u64);
    thread::sleep(Duration::from_millis(50));
    client.close().unwrap();
    let closed_in_flight = pending.wait().unwrap_err();
    assert_eq!(says(&closed_in_flight), LOST_RAN, "{closed_in_flight:?}");
    let shutdown = client
        .call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 })
        .unwrap_err();
    assert!(matches!(shutdown, Error::Shutdown), "{shutdown:?}");
    assert_eq!(says(&shutdown), LOST_NOT_RUN, "{shutdown:?}");

    // The connection dies in flight: the server hangs up, or breaks the protocol.
    let (addr, _hung_up) = garbling_server();
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let broken = client
        .call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 })
        .unwrap_err();
    assert!(
        matches!(broken, Error::Codec(CodecError::Malformed(_))),
        "{broken:?}"
    );
    assert_eq!(says(&broken), LOST_RAN, "{broken:?}");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::builder()
        .timeout(Some(WAIT))
        .dial(listener.local_addr().unwrap())
        .unwrap();
    let call = client.go::<_, i64>("Arith.Multiply", &Args { a: 1, b: 1 });
    let (conn, _) = listener.accept().unwrap();
    drop(conn);
    let died = call.wait().unwrap_err();
    assert!(matches!(died, Error::Io(_)), "{died:?}");
    assert_eq!(says(&died), LOST_RAN, "{died:?}");
}
