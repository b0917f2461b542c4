//! MessagePack-RPC in both directions, byte by byte: argument lists, requests and
//! notifications arriving at a client, and errors that are no strings.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use crate::common::{start, WAIT};
use netrpc::rmpv::{decode::read_value, encode::write_value, Value};
use netrpc::{Client, Error, Params, Service};

fn array(items: Vec<Value>) -> Value {
    Value::Array(items)
}

fn send(conn: &mut TcpStream, value: &Value) {
    let mut bytes = Vec::new();
    write_value(&mut bytes, value).unwrap();
    conn.write_all(&bytes).unwrap();
}

fn receive(conn: &mut TcpStream) -> Value {
    read_value(conn).expect("a MessagePack value")
}

/// A raw peer the client under test dials, and the client.
fn raw_peer() -> (TcpStream, Client) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::builder()
        .timeout(Some(WAIT))
        .dial(listener.local_addr().unwrap())
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    (conn, client)
}

#[test]
fn the_server_takes_empty_and_long_argument_lists() {
    let h = start();
    let mut conn = h.raw();
    let request = |seq: i64, method: &str, params: Vec<Value>| {
        array(vec![0.into(), seq.into(), method.into(), array(params)])
    };
    send(&mut conn, &request(1, "Test.Nothing", vec![]));
    assert_eq!(
        receive(&mut conn),
        array(vec![1.into(), 1.into(), Value::Nil, Value::Nil])
    );
    let three = vec![1.into(), "two".into(), 3.5.into()];
    send(&mut conn, &request(2, "Echo.Echo", three.clone()));
    assert_eq!(
        receive(&mut conn),
        array(vec![1.into(), 2.into(), Value::Nil, array(three)])
    );
    send(&mut conn, &request(3, "Test.Add", vec![2.into(), 3.into()]));
    assert_eq!(
        receive(&mut conn),
        array(vec![1.into(), 3.into(), Value::Nil, 5.into()])
    );
}

#[test]
fn the_client_sends_argument_lists_as_given() {
    let (mut peer, client) = raw_peer();
    let expect = |peer: &mut TcpStream, params: Value| {
        let request = receive(peer);
        let parts = request.as_array().unwrap();
        assert_eq!(parts[0], Value::from(0));
        assert_eq!(parts[2], Value::from("M"));
        assert_eq!(parts[3], params);
        let reply = array(vec![1.into(), parts[1].clone(), Value::Nil, Value::Nil]);
        send(peer, &reply);
    };
    thread::scope(|s| {
        s.spawn(|| {
            let netrpc::Ignore = client.call("M", &Params(())).unwrap();
            let netrpc::Ignore = client.call("M", &Params((1, "two", 3))).unwrap();
            let netrpc::Ignore = client.call("M", &(1, "two", 3)).unwrap();
        });
        expect(&mut peer, array(vec![]));
        expect(&mut peer, array(vec![1.into(), "two".into(), 3.into()]));
        // Any other argument is the one element of the list, as Go's servers expect.
        expect(
            &mut peer,
            array(vec![array(vec![1.into(), "two".into(), 3.into()])]),
        );
    });
}

struct Calc;

impl Calc {
    fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
        Ok(a + b)
    }
}

#[test]
fn a_client_answers_its_peers_requests_and_takes_its_notifications() {
    let (mut peer, client) = raw_peer();
    client
        .register_methods(Service::new(Calc).method("Add", Calc::add))
        .unwrap();
    client
        .register_name("Calc", Service::new(Calc).method("Add", Calc::add))
        .unwrap();
    let events = client.notifications();
    // The client's own call is out while its peer calls it.
    let call = client.go::<_, String>("Remote.Work", &1);
    let request = receive(&mut peer);
    let msgid = request.as_array().unwrap()[1].clone();

    send(
        &mut peer,
        &array(vec![2.into(), "Event".into(), array(vec![1.into()])]),
    );
    send(
        &mut peer,
        &array(vec![
            0.into(),
            7.into(),
            "Add".into(),
            array(vec![2.into(), 3.into()]),
        ]),
    );
    send(
        &mut peer,
        &array(vec![0.into(), 8.into(), "Nope".into(), array(vec![])]),
    );
    send(
        &mut peer,
        &array(vec![
            0.into(),
            9.into(),
            "Calc.Add".into(),
            array(vec![4.into(), 5.into()]),
        ]),
    );
    let mut answers: Vec<Value> = (0..3).map(|_| receive(&mut peer)).collect();
    answers.sort_by_key(|a| a.as_array().unwrap()[1].as_i64());
    assert_eq!(
        answers,
        [
            array(vec![1.into(), 7.into(), Value::Nil, 5.into()]),
            array(vec![
                1.into(),
                8.into(),
                "rpc: service/method request ill-formed: Nope".into(),
                Value::Nil
            ]),
            array(vec![1.into(), 9.into(), Value::Nil, 9.into()]),
        ]
    );
    let event = events.recv_timeout(WAIT).unwrap();
    assert_eq!(event.method, "Event");
    assert_eq!(event.params, array(vec![1.into()]));

    send(
        &mut peer,
        &array(vec![1.into(), msgid, Value::Nil, "done".into()]),
    );
    assert_eq!(
        call.done.recv_timeout(WAIT).unwrap().result.unwrap(),
        "done"
    );
}

#[test]
fn errors_that_are_maps_or_arrays_stay_readable() {
    let (mut peer, client) = raw_peer();
    let map = Value::Map(vec![
        ("code".into(), 3.into()),
        ("message".into(), "no".into()),
    ]);
    let list = array(vec![1.into(), "bad".into()]);
    for error in [map, list] {
        let call = client.go::<_, i64>("M", &());
        let request = receive(&mut peer);
        let msgid = request.as_array().unwrap()[1].clone();
        send(
            &mut peer,
            &array(vec![1.into(), msgid, error.clone(), Value::Nil]),
        );
        match call.done.recv_timeout(WAIT).unwrap().result {
            Err(Error::ServerValue { text, value }) => {
                assert_eq!(value, error);
                assert_eq!(text, error.to_string());
            }
            other => panic!("expected the error value, got {other:?}"),
        }
    }
    // A string error is text, as ever.
    let call = client.go::<_, i64>("M", &());
    let msgid = receive(&mut peer).as_array().unwrap()[1].clone();
    send(
        &mut peer,
        &array(vec![1.into(), msgid, "plain".into(), Value::Nil]),
    );
    let result = call.done.recv_timeout(WAIT).unwrap().result;
    assert!(
        matches!(result, Err(Error::Server(ref text)) if text == "plain"),
        "{result:?}"
    );
}

#[test]
fn notifications_waiting_unread_hold_a_bounded_amount_of_memory() {
    let (mut peer, client) = raw_peer();
    let events = client.notifications();
    let call = client.go::<_, String>("Remote.Work", &1);
    let request = receive(&mut peer);
    let msgid = request.as_array().unwrap()[1].clone();
    // 40 notifications of 2 MiB each, none read; then the reply, read after them.
    let big = Value::Binary(vec![7; 2 << 20]);
    let mut bytes = Vec::new();
    write_value(
        &mut bytes,
        &array(vec![2.into(), "Big".into(), array(vec![big])]),
    )
    .unwrap();
    let writer = thread::spawn(move || {
        for _ in 0..40 {
            peer.write_all(&bytes).unwrap();
        }
        send(
            &mut peer,
            &array(vec![1.into(), msgid, Value::Nil, "done".into()]),
        );
        peer
    });
    let done = call.done.recv_timeout(WAIT).unwrap();
    assert_eq!(done.result.unwrap(), "done");
    let kept = events.try_iter().count();
    assert!(
        (1..=32).contains(&kept),
        "{kept} notifications of 2 MiB kept unread, over the 64 MiB bound"
    );
    // Read, they make room again.
    let mut peer = writer.join().unwrap();
    let call = client.go::<_, String>("Remote.Work", &2);
    let request = receive(&mut peer);
    let msgid = request.as_array().unwrap()[1].clone();
    send(
        &mut peer,
        &array(vec![2.into(), "After".into(), array(vec![])]),
    );
    send(
        &mut peer,
        &array(vec![1.into(), msgid, Value::Nil, "done".into()]),
    );
    assert!(call.done.recv_timeout(WAIT).unwrap().result.is_ok());
    assert_eq!(events.try_recv().unwrap().method, "After");
}

#[test]
fn an_error_value_too_deep_to_read_fails_its_call_only() {
    let (mut peer, client) = raw_peer();
    let deep = client.go::<_, String>("Remote.Deep", &1);
    let other = client.go::<_, String>("Remote.Other", &2);
    let first = receive(&mut peer).as_array().unwrap()[1].clone();
    let second = receive(&mut peer).as_array().unwrap()[1].clone();
    let mut error = Value::Nil;
    for _ in 0..300 {
        error = array(vec![error]);
    }
    let mut bytes = Vec::new();
    // rmpv's own writer has no depth limit; the client's reader does.
    write_value(&mut bytes, &array(vec![1.into(), first, error, Value::Nil])).unwrap();
    peer.write_all(&bytes).unwrap();
    send(
        &mut peer,
        &array(vec![1.into(), second, Value::Nil, "fine".into()]),
    );
    match deep.done.recv_timeout(WAIT).unwrap().result {
        Err(Error::Server(text)) => assert!(text.contains("cannot be read"), "{text}"),
        other => panic!("expected the unreadable error, got {other:?}"),
    }
    assert_eq!(
        other.done.recv_timeout(WAIT).unwrap().result.unwrap(),
        "fine"
    );
}
