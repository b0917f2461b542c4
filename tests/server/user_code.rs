//! User code that blocks, spins, panics in odd places or calls back: found by a review that
//! tried to break the library as a new user would. Each test failed on the code it was
//! written against; every wait is bounded.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use netrpc::channel::{unbounded, Receiver};
use netrpc::rmpv::Value;
use netrpc::{Client, Error, Server, Service};

fn write_value(stream: &mut impl Write, value: &Value) {
    let mut buf = Vec::new();
    netrpc::rmpv::encode::write_value(&mut buf, value).unwrap();
    stream.write_all(&buf).unwrap();
}

fn read_value(stream: &mut impl Read) -> Value {
    netrpc::rmpv::decode::read_value(stream).unwrap()
}

/// A peer for the client under test to dial: it waits for the client's first call, sends it
/// `requests` requests of `Block`, a client method that blocks, then `reply` to the call if
/// given, and keeps the connection open for 10 s.
fn flooding_peer(
    listener: TcpListener,
    requests: u64,
    reply: Option<Value>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let call = read_value(&mut stream);
        let seq = call.as_array().unwrap()[1].clone();
        let mut flood = Vec::new();
        for i in 0..requests {
            let request = Value::Array(vec![
                Value::from(0),
                Value::from(i + 1),
                Value::from("Block"),
                Value::Array(vec![]),
            ]);
            netrpc::rmpv::encode::write_value(&mut flood, &request).unwrap();
        }
        stream.write_all(&flood).unwrap();
        if let Some(reply) = reply {
            write_value(
                &mut stream,
                &Value::Array(vec![1.into(), seq, Value::Nil, reply]),
            );
        }
        let mut sink = [0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// 1. A peer that calls a client method which blocks stalls the client's reader thread:
//    the client's own replies are never read.

struct Blocker {
    release: Receiver<()>,
    entered: Arc<AtomicUsize>,
}

impl Blocker {
    fn block(&self, (): ()) -> Result<u64, String> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let _ = self.release.recv_timeout(Duration::from_secs(8));
        Ok(1)
    }
}

#[test]
fn peer_requests_to_a_blocking_client_method_do_not_stall_the_clients_own_replies() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The peer: waits for the client's call, sends it 3,000 requests of a method that
    // blocks, then the reply to the client's call.
    let peer = flooding_peer(listener, 3000, Some(Value::from(42)));
    let (release_tx, release_rx) = unbounded::<()>();
    let entered = Arc::new(AtomicUsize::new(0));
    let client = Client::dial(addr).unwrap();
    client
        .register_methods(
            Service::new(Blocker {
                release: release_rx,
                entered: Arc::clone(&entered),
            })
            .method("Block", Blocker::block),
        )
        .unwrap();
    let started = Instant::now();
    let result: Result<u64, Error> =
        client.call_timeout("Peer.Answer", &(), Duration::from_secs(3));
    let took = started.elapsed();
    eprintln!(
        "entered {} result {result:?} took {took:?}",
        entered.load(Ordering::SeqCst)
    );
    drop(release_tx);
    drop(client);
    let _ = peer.join();
    assert!(
        matches!(result, Ok(42)),
        "the client's call got {result:?} after {took:?}, though its reply was on the wire"
    );
}

// ---------------------------------------------------------------------------------------
// 2. A method seen blocking once was taken to block forever while its calls took more than
//    200 µs of CPU: CPU-bound calls then ran on a thread each, far more than the cores.

struct Cruncher {
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Cruncher {
    fn crunch(&self, sleep_ms: u64) -> Result<u64, String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        if sleep_ms > 0 {
            thread::sleep(Duration::from_millis(sleep_ms));
        } else {
            // 3 ms of CPU, no sleeping.
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(3) {
                std::hint::spin_loop();
            }
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(sleep_ms)
    }
}

#[test]
fn a_cpu_bound_method_that_blocked_once_runs_on_no_more_threads_than_cores() {
    let cruncher = Arc::new(Cruncher {
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let server = Server::builder().build();
    struct Handle(Arc<Cruncher>);
    impl Handle {
        fn crunch(&self, ms: u64) -> Result<u64, String> {
            self.0.crunch(ms)
        }
    }
    server
        .register_name(
            "Work",
            Service::new(Handle(Arc::clone(&cruncher))).method("Crunch", Handle::crunch),
        )
        .unwrap();
    let addr = common::serve(&server);
    let client = Client::builder()
        .timeout(Some(Duration::from_secs(20)))
        .dial(addr)
        .unwrap();
    // Its first calls wait on a cold cache (say): 8 at once, each sleeping 30 ms.
    let warm: Vec<_> = (0..8)
        .map(|_| client.go::<_, u64>("Work.Crunch", &30u64))
        .collect();
    for call in warm {
        call.done
            .recv_timeout(Duration::from_secs(10))
            .unwrap()
            .result
            .unwrap();
    }
    // From now on every call keeps a core busy for 3 ms. The first round of them still runs
    // wide, as the method was last seen blocking; its calls that never slept say otherwise.
    for round in 0..3 {
        if round == 1 {
            cruncher.most.store(0, Ordering::SeqCst);
        }
        let calls: Vec<_> = (0..32)
            .map(|_| client.go::<_, u64>("Work.Crunch", &0u64))
            .collect();
        for call in calls {
            call.done
                .recv_timeout(Duration::from_secs(20))
                .unwrap()
                .result
                .unwrap();
        }
    }
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let most = cruncher.most.load(Ordering::SeqCst);
    // A call preempted past its 10 ms time slice on a busy machine may let one more in; a
    // method still taken to block ran 16-20 at once here.
    assert!(
        most <= 2 * cores + 2,
        "{most} CPU-bound calls ran at once on {cores} cores"
    );
}

// ---------------------------------------------------------------------------------------
// 3. A reply whose Drop panics kills the worker thread, and the pool never counts it gone:
//    after `workers` such replies no call is ever answered again.

struct Bomb;

impl serde::Serialize for Bomb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(1)
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("Bomb dropped");
        }
    }
}

struct Bombs;

impl Bombs {
    fn bomb(&self, (): ()) -> Result<Bomb, String> {
        Ok(Bomb)
    }

    fn ok(&self, n: u64) -> Result<u64, String> {
        Ok(n)
    }
}

#[test]
fn replies_whose_drop_panics_do_not_use_up_the_workers() {
    let server = Server::builder().parallelism(2).build();
    server
        .register(
            Service::new(Bombs)
                .method("Bomb", Bombs::bomb)
                .method("Ok", Bombs::ok),
        )
        .unwrap();
    let addr = common::serve(&server);
    let client = Client::dial(addr).unwrap();
    for _ in 0..2 {
        let r: Result<netrpc::Ignore, Error> =
            client.call_timeout("Bombs.Bomb", &(), Duration::from_secs(3));
        let _ = r;
    }
    let r: Result<u64, Error> = client.call_timeout("Bombs.Ok", &7u64, Duration::from_secs(3));
    assert!(matches!(r, Ok(7)), "after two panicking drops: {r:?}");
}

// ---------------------------------------------------------------------------------------
// 5. A method that shuts its own server down waits the whole grace period for itself.

struct Admin {
    server: std::sync::Mutex<Option<Server>>,
    took: std::sync::Mutex<Option<Duration>>,
}

impl Admin {
    fn stop(&self, (): ()) -> Result<(), String> {
        let server = self.server.lock().unwrap().clone().unwrap();
        let started = Instant::now();
        server.shutdown(Duration::from_secs(3));
        *self.took.lock().unwrap() = Some(started.elapsed());
        Ok(())
    }
}

#[test]
fn a_method_that_shuts_the_server_down_does_not_wait_for_itself() {
    let admin = Arc::new(Admin {
        server: std::sync::Mutex::new(None),
        took: std::sync::Mutex::new(None),
    });
    struct Handle(Arc<Admin>);
    impl Handle {
        fn stop(&self, (): ()) -> Result<(), String> {
            self.0.stop(())
        }
    }
    let server = Server::new();
    server
        .register_name(
            "Admin",
            Service::new(Handle(Arc::clone(&admin))).method("Stop", Handle::stop),
        )
        .unwrap();
    *admin.server.lock().unwrap() = Some(server.clone());
    let addr = common::serve(&server);
    let client = Client::dial(addr).unwrap();
    let started = Instant::now();
    let r: Result<netrpc::Ignore, Error> =
        client.call_timeout("Admin.Stop", &(), Duration::from_secs(6));
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut took = None;
    while took.is_none() && Instant::now() < deadline {
        took = admin.took.lock().unwrap().take();
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(1)),
        "shutdown(3 s) called by the only call in flight took {took:?} (call: {r:?} after {:?})",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// 6. A service the client serves that holds the client (to call back its peer, as a Neovim
//    handler does) must not keep the connection open after the user drops every handle: it
//    holds a WeakClient.

struct CallsBack {
    #[allow(dead_code)]
    client: netrpc::WeakClient,
}

impl CallsBack {
    fn ping(&self, (): ()) -> Result<u64, String> {
        Ok(1)
    }
}

#[test]
fn dropping_a_client_whose_peer_service_holds_it_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Client::dial(addr).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    client
        .register_methods(
            Service::new(CallsBack {
                client: client.downgrade(),
            })
            .method("Ping", CallsBack::ping),
        )
        .unwrap();
    drop(client);
    peer.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 64];
    let r = peer.read(&mut buf);
    assert!(
        matches!(r, Ok(0)),
        "3 s after the last user handle was dropped the connection is still open: {r:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 7. A peer that asks for the debug page and never reads it holds a thread forever: no write
//    timeout bounds the page's write, and shutdown no longer knows the connection.

struct Many;

impl Many {
    fn m(&self, (): ()) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn a_debug_page_reader_that_never_reads_is_cut_off() {
    use socket2::{Domain, Socket, Type};
    let server = Server::builder()
        .write_timeout(Some(Duration::from_millis(500)))
        .build();
    let mut service = Service::new(Many);
    for i in 0..20_000 {
        service = service.method(&format!("Method{i:0>60}"), Many::m);
    }
    server.register(service).unwrap();
    // Small socket buffers, so that the page does not fit in them.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_send_buffer_size(16 << 10).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(16).unwrap();
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    thread::spawn(move || serving.serve_http(&listener));
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    client.set_recv_buffer_size(4 << 10).unwrap();
    client.connect(&addr.into()).unwrap();
    let mut client: TcpStream = client.into();
    client
        .write_all(b"GET /debug/rpc HTTP/1.0\r\n\r\n")
        .unwrap();
    // Never read: past the write timeout, and then past a shutdown, the server gives up.
    thread::sleep(Duration::from_secs(2));
    server.shutdown(Duration::from_millis(100));
    thread::sleep(Duration::from_millis(500));
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut page = Vec::new();
    let _ = client.read_to_end(&mut page);
    let text = String::from_utf8_lossy(&page[..page.len().min(400)]).into_owned();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.trim().parse().ok())
        .expect("a Content-Length");
    let head = text.find("\r\n\r\n").unwrap() + 4;
    assert!(
        page.len() - head < length,
        "the whole {length}-byte page was still delivered after the write timeout and shutdown"
    );
}

// ---------------------------------------------------------------------------------------
// 8. `Params(T)` where T is no sequence: "T must serialize as a sequence or be ()", yet the
//    client puts `[0, msgid, method, 5]` on the wire, an invalid MessagePack-RPC request,
//    instead of refusing it.

#[test]
fn params_that_are_no_list_are_refused_rather_than_sent_as_params() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Client::dial(addr).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let call = client.go::<_, netrpc::Ignore>("nvim_command", &netrpc::Params(5u8));
    // Either the call fails at once, or what went out must be a valid request.
    if let Ok(done) = call.done.recv_timeout(Duration::from_millis(300)) {
        assert!(done.result.is_err());
        return;
    }
    let request = read_value(&mut peer);
    let params = request.as_array().unwrap()[3].clone();
    assert!(
        params.is_array(),
        "sent the request {request} whose params are no array"
    );
}

// ---------------------------------------------------------------------------------------
// 9. `Client::new(conn)` erases the write timeout the user set on the connection.

#[test]
fn client_new_keeps_the_write_timeout_set_on_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let probe = stream.try_clone().unwrap();
    let _client = Client::builder().connect(stream).unwrap();
    assert_eq!(
        probe.write_timeout().unwrap(),
        Some(Duration::from_secs(5)),
        "the connection's write timeout was reset"
    );
}

// ---------------------------------------------------------------------------------------
// 12. The README gave one text for every panic in user code; it now gives the texts a caller
//     gets for a reply whose Serialize panics and an argument whose Deserialize panics.

struct BadReply;

impl serde::Serialize for BadReply {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("reply boom")
    }
}

struct BadArg;

impl<'de> serde::Deserialize<'de> for BadArg {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("arg boom")
    }
}

struct Panicky;

impl Panicky {
    fn bad_reply(&self, (): ()) -> Result<BadReply, String> {
        Ok(BadReply)
    }

    fn bad_arg(&self, _: BadArg) -> Result<u64, String> {
        Ok(1)
    }
}

#[test]
fn panics_in_serde_are_reported_as_the_readme_says() {
    let server = Server::new();
    server
        .register(
            Service::new(Panicky)
                .method("BadReply", Panicky::bad_reply)
                .method("BadArg", Panicky::bad_arg),
        )
        .unwrap();
    let addr = common::serve(&server);
    let client = Client::dial(addr).unwrap();
    let reply: Result<netrpc::Ignore, Error> =
        client.call_timeout("Panicky.BadReply", &(), Duration::from_secs(3));
    let arg: Result<u64, Error> =
        client.call_timeout("Panicky.BadArg", &1u64, Duration::from_secs(3));
    let texts: Vec<String> = [reply.map(|_| ()), arg.map(|_| ())]
        .into_iter()
        .map(|r| match r {
            Err(Error::Server(text)) => text,
            other => format!("{other:?}"),
        })
        .collect();
    assert!(
        texts[0] == "rpc: encoding panicked: reply boom"
            && texts[1] == "rpc: reading body: the argument's Deserialize panicked: arg boom",
        "error texts: {texts:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 13. The same stalled reader (see 1) kept pending calls from completing when the client
//     was closed: "when a connection breaks, every pending call completes with an error".

#[test]
fn closing_a_client_whose_peer_flooded_it_with_calls_completes_pending_calls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = flooding_peer(listener, 3000, None);
    let (release_tx, release_rx) = unbounded::<()>();
    let client = Client::dial(addr).unwrap();
    client
        .register_methods(
            Service::new(Blocker {
                release: release_rx,
                entered: Arc::new(AtomicUsize::new(0)),
            })
            .method("Block", Blocker::block),
        )
        .unwrap();
    let call = client.go::<_, u64>("Peer.Never", &());
    // Let the flood arrive and stall the reader.
    thread::sleep(Duration::from_millis(1500));
    let _ = client.close();
    drop(client);
    let started = Instant::now();
    let done = call.done.recv_timeout(Duration::from_secs(3));
    let took = started.elapsed();
    eprintln!("done {done:?} after {took:?}");
    drop(release_tx);
    let _ = peer.join();
    assert!(
        done.is_ok(),
        "the pending call had not completed {took:?} after close(): {done:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 11. A `Serialize` that takes its time runs while its message is queued, under the
//     connection's writer lock: `close` and `shutdown` waited for it to finish.

/// Serializes as 1 after sleeping for its time, counting the serializations begun.
struct Slow(Duration, Arc<AtomicUsize>);

impl serde::Serialize for Slow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.1.fetch_add(1, Ordering::SeqCst);
        thread::sleep(self.0);
        s.serialize_u64(1)
    }
}

struct SlowReplies(Arc<AtomicUsize>);

impl SlowReplies {
    fn slow(&self, (): ()) -> Result<Slow, String> {
        Ok(Slow(Duration::from_secs(2), Arc::clone(&self.0)))
    }
}

#[test]
fn shutdown_does_not_wait_for_a_reply_s_serialize() {
    let begun = Arc::new(AtomicUsize::new(0));
    let server = Server::new();
    server
        .register(Service::new(SlowReplies(Arc::clone(&begun))).method("Slow", SlowReplies::slow))
        .unwrap();
    let addr = common::serve(&server);
    let slow = Client::dial(addr).unwrap();
    let pending = slow.go::<_, u64>("SlowReplies.Slow", &());
    common::eventually("the reply to serialize", || {
        begun.load(Ordering::SeqCst) > 0
    });
    let started = Instant::now();
    server.shutdown(Duration::from_millis(100));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "shutdown(100 ms) took {took:?}"
    );
    let done = pending.done.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(done.result.is_err(), "{:?}", done.result);
}

#[test]
fn close_does_not_wait_for_an_argument_s_serialize() {
    let addr = common::start().addr;
    let client = Client::dial(addr).unwrap();
    let begun = Arc::new(AtomicUsize::new(0));
    let caller = {
        let client = client.clone();
        let arg = Slow(Duration::from_secs(2), Arc::clone(&begun));
        thread::spawn(move || {
            client.call_timeout::<_, u64>("Test.Bump", &arg, Duration::from_secs(20))
        })
    };
    // The argument is serialized into the connection's queue, under its writer's lock.
    common::eventually("the argument to serialize", || {
        begun.load(Ordering::SeqCst) > 0
    });
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    client.close().unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "close took {took:?}");
    let r = caller.join().unwrap();
    assert!(r.is_err(), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// 12. An argument was serialized once to see whether it was a `Params` list, then again to
//     be sent: a `Serialize` that gives its value only once sent nothing.

/// Serializes as its number the first time, as 0 after that.
struct OneShot(std::cell::Cell<Option<usize>>);

impl serde::Serialize for OneShot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.take().unwrap_or(0) as u64)
    }
}

#[test]
fn an_argument_is_serialized_once() {
    #[allow(unused_mut)]
    let mut clients = vec![Client::dial(common::start().addr).unwrap()];
    #[cfg(feature = "json")]
    clients.push(netrpc::jsonrpc::dial(common::start_json().addr).unwrap());
    for client in clients {
        let reply: serde_bytes::ByteBuf = client
            .call_timeout(
                "Test.Repeat",
                &OneShot(std::cell::Cell::new(Some(5))),
                common::WAIT,
            )
            .unwrap();
        assert_eq!(reply.len(), 5);
    }
}

#[test]
fn clients_and_servers_may_be_used_across_catch_unwind() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<netrpc::Client>();
    unwind_safe::<netrpc::Server>();
}
