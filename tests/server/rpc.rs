//! Calls end to end over TCP: the intent of Go's server_test.go and client_test.go.

use crate::common;

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{start, start_with, Args, Quotient, WAIT};
use crossbeam_channel::bounded;
use netrpc::{Completed, Error, RegisterError, Server, Service};
use serde::{Deserialize, Serialize};

#[test]
fn round_trips_and_method_errors() {
    let h = start();
    let client = h.client();
    let product: i64 = client.call("Arith.Multiply", &Args { a: 7, b: 8 }).unwrap();
    assert_eq!(product, 56);
    let q: Quotient = client.call("Arith.Divide", &Args { a: 15, b: 4 }).unwrap();
    assert_eq!(q, Quotient { quo: 3, rem: 3 });
    match client.call::<_, Quotient>("Arith.Divide", &Args { a: 1, b: 0 }) {
        Err(Error::Server(text)) => assert_eq!(text, "divide by zero"),
        other => panic!("expected a server error, got {other:?}"),
    }
    // The connection is still good after an error.
    let product: i64 = client
        .call("Arith.Multiply", &Args { a: -3, b: 5 })
        .unwrap();
    assert_eq!(product, -15);
}

#[test]
fn unknown_names_get_gos_errors() {
    let h = start();
    let client = h.client();
    let cases = [
        ("Nope.Multiply", "rpc: can't find service Nope.Multiply"),
        ("Arith.Nope", "rpc: can't find method Arith.Nope"),
        ("NoDot", "rpc: service/method request ill-formed: NoDot"),
    ];
    for (name, expected) in cases {
        match client.call::<_, i64>(name, &Args { a: 1, b: 2 }) {
            Err(Error::Server(text)) => assert_eq!(text, expected),
            other => panic!("{name}: expected {expected:?}, got {other:?}"),
        }
    }
}

#[test]
fn a_bad_argument_is_an_error_reply_and_the_connection_goes_on() {
    let h = start();
    let client = h.client();
    match client.call::<_, i64>("Arith.Multiply", "not a struct") {
        Err(Error::Server(text)) => assert!(text.starts_with("rpc: reading body"), "{text}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 3 })
            .unwrap(),
        6
    );
}

#[test]
fn a_reply_of_the_wrong_type_is_a_codec_error_and_the_connection_goes_on() {
    let h = start();
    let client = h.client();
    match client.call::<_, String>("Arith.Multiply", &Args { a: 2, b: 3 }) {
        Err(Error::Codec(e)) => assert!(e.is_recoverable(), "{e}"),
        other => panic!("expected a codec error, got {other:?}"),
    }
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 3 })
            .unwrap(),
        6
    );
}

#[test]
fn positional_params_reach_a_tuple_argument() {
    let h = start();
    let client = h.client();
    // netrpc sends [args]; a tuple argument is itself an array.
    assert_eq!(client.call::<_, i64>("Test.Add", &(40, 2)).unwrap(), 42);
    assert!(client.call::<_, ()>("Test.Nothing", &()).is_ok());
}

#[test]
fn panicking_method_becomes_an_error_reply() {
    let h = start();
    let client = h.client();
    match client.call::<_, ()>("Test.Panic", "kaboom") {
        Err(Error::Server(text)) => assert_eq!(text, "rpc: method Test.Panic panicked: kaboom"),
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 4, b: 4 })
            .unwrap(),
        16
    );
}

#[test]
fn concurrent_calls_from_many_threads_on_one_client() {
    let h = start();
    let client = h.client();
    thread::scope(|s| {
        for t in 0..16i64 {
            let client = &client;
            s.spawn(move || {
                for i in 0..200i64 {
                    let got: i64 = client.call("Arith.Multiply", &Args { a: t, b: i }).unwrap();
                    assert_eq!(got, t * i);
                }
            });
        }
    });
}

#[test]
fn many_clients_at_once() {
    let h = start();
    thread::scope(|s| {
        for t in 0..20i64 {
            let h = &h;
            s.spawn(move || {
                let client = h.client();
                for i in 0..50i64 {
                    let q: Quotient = client
                        .call(
                            "Arith.Divide",
                            &Args {
                                a: t * 100 + i,
                                b: 7,
                            },
                        )
                        .unwrap();
                    assert_eq!(
                        q,
                        Quotient {
                            quo: (t * 100 + i) / 7,
                            rem: (t * 100 + i) % 7
                        }
                    );
                }
            });
        }
    });
}

#[test]
fn large_payloads_round_trip() {
    let h = start();
    let client = h.client();
    let payload: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
    let echoed: serde_bytes::ByteBuf = client
        .call("Echo.Echo", &serde_bytes::Bytes::new(&payload))
        .unwrap();
    assert_eq!(echoed.as_slice(), payload.as_slice());
    let big: serde_bytes::ByteBuf = client.call("Test.Repeat", &(2usize << 20)).unwrap();
    assert_eq!(big.len(), 2 << 20);
}

#[test]
fn echo_returns_any_value_unchanged() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Nested {
        name: String,
        tags: Vec<String>,
        score: Option<f64>,
    }
    let h = start();
    let client = h.client();
    let value = Nested {
        name: "x".into(),
        tags: vec!["a".into(), "b".into()],
        score: Some(0.5),
    };
    let echoed: Nested = client.call("Echo.Echo", &value).unwrap();
    assert_eq!(echoed, value);
}

#[test]
fn go_calls_complete_through_their_done_channels() {
    let h = start();
    let client = h.client();
    let calls: Vec<_> = (0..50i64)
        .map(|i| client.go::<_, i64>("Arith.Multiply", &Args { a: i, b: 2 }))
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let done = call.done.recv_timeout(WAIT).expect("completion");
        assert_eq!(done.service_method, "Arith.Multiply");
        assert_eq!(done.seq, call.seq);
        assert_eq!(done.result.unwrap(), i as i64 * 2);
    }
}

#[test]
fn responses_complete_out_of_order() {
    let h = start();
    let client = h.client();
    let slow = client.go::<_, u64>("Test.Sleep", &300u64);
    let fast = client.go::<_, u64>("Test.Sleep", &0u64);
    let first = crossbeam_channel::select! {
        recv(slow.done) -> c => c.unwrap().result.unwrap(),
        recv(fast.done) -> c => c.unwrap().result.unwrap(),
        default(WAIT) => panic!("no call completed"),
    };
    assert_eq!(
        first, 0,
        "the fast call should not wait behind the slow one"
    );
    assert_eq!(slow.done.recv_timeout(WAIT).unwrap().result.unwrap(), 300);
}

#[test]
fn replies_held_back_for_batching_leave_before_a_slow_call_runs() {
    // One call at a time: while the first call runs, the next two queue up behind it, so the first
    // two replies are held back for the third call to flush when it starts.
    let h = start_with(Server::builder().parallelism(1).build());
    let client = h.client();
    let sent = Instant::now();
    let first = client.go::<_, u64>("Test.Sleep", &50u64);
    let fast = client.go::<_, u64>("Test.Sleep", &0u64);
    let slow = client.go::<_, u64>("Test.Sleep", &1500u64);
    assert_eq!(first.done.recv_timeout(WAIT).unwrap().result.unwrap(), 50);
    assert_eq!(fast.done.recv_timeout(WAIT).unwrap().result.unwrap(), 0);
    assert!(
        sent.elapsed() < Duration::from_millis(1000),
        "the fast reply waited for the slow method: {:?}",
        sent.elapsed()
    );
    assert_eq!(slow.done.recv_timeout(WAIT).unwrap().result.unwrap(), 1500);
}

#[test]
fn many_calls_can_share_one_done_channel() {
    let h = start();
    let client = h.client();
    let (tx, rx) = bounded::<Completed<i64>>(10);
    let mut seqs = Vec::new();
    for i in 0..10i64 {
        seqs.push((
            client
                .go_with("Arith.Multiply", &Args { a: i, b: 10 }, &tx)
                .unwrap(),
            i,
        ));
    }
    let mut got: Vec<_> = (0..10)
        .map(|_| rx.recv_timeout(WAIT).expect("completion"))
        .map(|c| (c.seq, c.result.unwrap()))
        .collect();
    got.sort();
    seqs.sort();
    assert_eq!(
        got,
        seqs.into_iter()
            .map(|(s, i)| (s, i * 10))
            .collect::<Vec<_>>()
    );
}

#[test]
fn an_unbuffered_done_channel_is_refused() {
    let h = start();
    let client = h.client();
    let (tx, _rx) = bounded::<Completed<i64>>(0);
    assert!(matches!(
        client.go_with("Arith.Multiply", &Args { a: 1, b: 1 }, &tx),
        Err(Error::UnbufferedDone)
    ));
}

#[test]
fn a_full_done_channel_drops_completions_without_blocking_the_reader() {
    // One call at a time: they are answered in order, so all five replies are read before the sixth.
    let h = common::start_with(Server::builder().parallelism(1).build());
    let client = h.client();
    let (tx, rx) = bounded::<Completed<i64>>(1);
    for i in 0..5 {
        client
            .go_with("Arith.Multiply", &Args { a: i, b: 1 }, &tx)
            .unwrap();
    }
    // The reader kept going: a later call on the same client still completes.
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 6, b: 7 })
            .unwrap(),
        42
    );
    assert!(rx.recv_timeout(WAIT).is_ok());
    assert!(
        rx.try_recv().is_err(),
        "only one completion fits the channel"
    );
}

#[test]
fn notifications_run_without_a_reply() {
    let h = start();
    let client = h.client();
    client.notify("Test.Bump", &5u64).unwrap();
    client.notify("Test.Bump", &2u64).unwrap();
    // A call after the notifications: its reply is the next thing on the wire.
    common::eventually("notifications to run", || {
        h.notified.load(Ordering::SeqCst) == 7
    });
    assert_eq!(client.call::<_, u64>("Test.Bump", &1u64).unwrap(), 8);
}

#[test]
fn call_timeout_expires_and_the_client_goes_on() {
    let h = start();
    let client = h.client();
    let result = client.call_timeout::<_, u64>("Test.Sleep", &500u64, Duration::from_millis(50));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    // The late reply is discarded; later calls are unaffected.
    assert_eq!(client.call::<_, u64>("Test.Sleep", &0u64).unwrap(), 0);
    thread::sleep(Duration::from_millis(600));
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 3, b: 3 })
            .unwrap(),
        9
    );
}

#[test]
fn argument_encoding_errors_fail_the_call_only() {
    struct Unencodable;
    impl Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("cannot encode this"))
        }
    }
    let h = start();
    let client = h.client();
    match client.call::<_, i64>("Arith.Multiply", &Unencodable) {
        Err(Error::Codec(e)) => assert!(e.to_string().contains("cannot encode this"), "{e}"),
        other => panic!("expected an encode error, got {other:?}"),
    }
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 5, b: 5 })
            .unwrap(),
        25
    );
}

#[test]
fn registration_errors_are_values_with_gos_texts() {
    struct Empty;
    struct Calc;
    fn one(_: &Calc, x: i64) -> Result<i64, String> {
        Ok(x)
    }
    let server = Server::new();
    server
        .register(Service::new(Calc).method("One", one))
        .unwrap();
    let dup = server
        .register(Service::new(Calc).method("One", one))
        .unwrap_err();
    assert_eq!(dup, RegisterError::Duplicate("Calc".into()));
    assert_eq!(dup.to_string(), "rpc: service already defined: Calc");
    // register_name lets the same type serve twice.
    server
        .register_name("Calc2", Service::new(Calc).method("One", one))
        .unwrap();

    let none = server.register(Service::new(Empty)).unwrap_err();
    assert_eq!(
        none.to_string(),
        "rpc.Register: type Empty has no exported methods of suitable type"
    );
    let unnamed = server
        .register_name("", Service::new(Calc).method("One", one))
        .unwrap_err();
    assert!(matches!(unnamed, RegisterError::NoName(_)), "{unnamed}");
    let dotted = server
        .register_name("C3", Service::new(Calc).method("a.b", one))
        .unwrap_err();
    assert_eq!(dotted, RegisterError::InvalidMethod("C3.a.b".into()));
    let twice = server
        .register_name(
            "C4",
            Service::new(Calc).method("One", one).method("One", one),
        )
        .unwrap_err();
    assert_eq!(twice, RegisterError::DuplicateMethod("C4.One".into()));
}

#[test]
fn methods_can_be_closures_and_services_have_dotted_names() {
    let h = start();
    h.server
        .register_name(
            "math.v2",
            Service::new(10i64).method("AddBase", |base: &i64, x: i64| Ok::<_, String>(base + x)),
        )
        .unwrap();
    let client = h.client();
    assert_eq!(client.call::<_, i64>("math.v2.AddBase", &5).unwrap(), 15);
}
