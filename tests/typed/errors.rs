//! Typed errors: a value on MessagePack-RPC, read back as the type the method returned; its
//! text on Go's wires; and `String` errors exactly as before.

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use netrpc::rmpv::{decode::read_value, encode::write_value, Value};
use netrpc::{Client, Error, Server, Service};
use serde::{Deserialize, Serialize};

use crate::arith::{self, Arith, ArithClient, DivideError};
use crate::common::{self, Args, WAIT};

#[test]
fn a_typed_error_round_trips_over_msgpack() {
    let (addr, _) = arith::serve();
    let arith = arith::client(addr);

    // A unit variant is a string...
    let err = arith.divide(&Args { a: 1, b: 0 }).unwrap_err();
    assert!(
        matches!(&err, Error::Server(text) if text == "ByZero"),
        "{err:?}"
    );
    assert_eq!(err.remote::<DivideError>(), Some(DivideError::ByZero));

    // ...and a struct variant a map, whatever the call.
    let overflow = DivideError::Overflow { a: i64::MIN, b: -1 };
    let err = arith.divide(&Args { a: i64::MIN, b: -1 }).unwrap_err();
    let Error::ServerValue { value, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        value,
        &Value::Map(vec![(
            "Overflow".into(),
            Value::Map(vec![
                ("a".into(), i64::MIN.into()),
                ("b".into(), (-1).into())
            ])
        )])
    );
    assert_eq!(err.remote::<DivideError>(), Some(overflow.clone()));
    let err = arith
        .divide_go(&Args { a: i64::MIN, b: -1 })
        .wait()
        .unwrap_err();
    assert_eq!(err.remote::<DivideError>(), Some(overflow));

    // Not every error reads as a DivideError.
    assert_eq!(
        arith
            .add(&i64::MAX, &1)
            .unwrap_err()
            .remote::<DivideError>(),
        None
    );
    assert_eq!(Error::Timeout.remote::<String>(), None);
}

#[test]
fn the_error_value_is_what_the_response_carries() {
    let (addr, _) = arith::serve();
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    // [0, 1, "Arith.Divide", [{"A": 1, "B": 0}]] is answered [1, 1, "ByZero", nil].
    let mut request = vec![0x94, 0x00, 0x01, 0xac];
    request.extend_from_slice(b"Arith.Divide");
    request.extend_from_slice(&[0x91, 0x82, 0xa1, b'A', 0x01, 0xa1, b'B', 0x00]);
    let mut response = vec![0x94, 0x01, 0x01, 0xa6];
    response.extend_from_slice(b"ByZero");
    response.push(0xc0);
    assert_eq!(
        common::exchange(&mut raw, &request, response.len()),
        response
    );
}

/// `Add`'s overflow, as the string API has always sent it.
struct Plain;

impl Plain {
    fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
        a.checked_add(b)
            .ok_or_else(|| "integer overflow".to_owned())
    }
}

#[test]
fn a_string_error_is_sent_byte_for_byte_as_before() {
    let server = Server::new();
    let (calculator, _) = arith::Calculator::new();
    server.register(calculator.into_service()).unwrap();
    server
        .register(Service::new(Plain).method("Add", Plain::add))
        .unwrap();
    let addr = common::serve(&server);
    let answer = |service: &str| {
        let mut raw = TcpStream::connect(addr).unwrap();
        raw.set_read_timeout(Some(WAIT)).unwrap();
        // [0, 1, "<service>.Add", [i64::MAX, 1]]
        let method = format!("{service}.Add");
        let mut request = vec![0x94, 0x00, 0x01, 0xa0 | method.len() as u8];
        request.extend_from_slice(method.as_bytes());
        request.extend_from_slice(&[
            0x92, 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        common::exchange(&mut raw, &request, 21)
    };
    let mut expected = vec![0x94, 0x01, 0x01, 0xb0];
    expected.extend_from_slice(b"integer overflow");
    expected.push(0xc0);
    assert_eq!(answer("Plain"), expected);
    assert_eq!(answer("Arith"), expected);
}

#[test]
fn a_typed_error_arrives_as_its_text_over_gob_and_json() {
    let (addr, _) = arith::serve();
    let clients = [
        ("gob", netrpc::gob::dial(addr).unwrap()),
        ("json", netrpc::jsonrpc::dial(addr).unwrap()),
    ];
    for (wire, client) in clients {
        let arith = ArithClient::new(client).with_timeout(WAIT);
        let err = arith.divide(&Args { a: 1, b: 0 }).unwrap_err();
        assert!(
            matches!(&err, Error::Server(text) if text == "divide by zero"),
            "{wire}: {err:?}"
        );
        assert_eq!(err.remote::<String>().as_deref(), Some("divide by zero"));
        // The text is no DivideError's value.
        assert_eq!(err.remote::<DivideError>(), None, "{wire}");
        let err = arith.divide(&Args { a: i64::MIN, b: -1 }).unwrap_err();
        assert_eq!(err.server_text(), Some("integer overflow"), "{wire}");
    }
}

#[test]
fn a_client_serving_its_peer_sends_typed_errors_as_values() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::builder()
        .timeout(Some(WAIT))
        .dial(listener.local_addr().unwrap())
        .unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let (calculator, _) = arith::Calculator::new();
    client.register(calculator.into_service()).unwrap();
    // The peer calls [0, 9, "Arith.Divide", [{"A": i64::MIN, "B": -1}]].
    let args = Value::Map(vec![
        ("A".into(), i64::MIN.into()),
        ("B".into(), (-1).into()),
    ]);
    let request = Value::Array(vec![
        0.into(),
        9.into(),
        "Arith.Divide".into(),
        Value::Array(vec![args]),
    ]);
    let mut bytes = Vec::new();
    write_value(&mut bytes, &request).unwrap();
    peer.write_all(&bytes).unwrap();
    let overflow = Value::Map(vec![(
        "Overflow".into(),
        Value::Map(vec![
            ("a".into(), i64::MIN.into()),
            ("b".into(), (-1).into()),
        ]),
    )]);
    assert_eq!(
        read_value(&mut peer).unwrap(),
        Value::Array(vec![1.into(), 9.into(), overflow, Value::Nil])
    );
}

/// A unit struct: its value is `[]`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Locked;

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the door is locked")
    }
}

/// An error whose value is nil, which MessagePack-RPC would read as success.
#[derive(Debug)]
struct Jammed;

impl Serialize for Jammed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl std::fmt::Display for Jammed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the door is jammed")
    }
}

#[netrpc::service]
trait Door {
    fn open(&self) -> Result<(), Locked>;
    fn force(&self) -> Result<(), Jammed>;
}

impl Door for Locked {
    fn open(&self) -> Result<(), Locked> {
        Err(Locked)
    }

    fn force(&self) -> Result<(), Jammed> {
        Err(Jammed)
    }
}

#[test]
fn an_error_whose_value_is_nil_travels_as_its_text() {
    let server = Server::new();
    server.register(Locked.into_service()).unwrap();
    let addr = common::serve(&server);
    let door = DoorClient::new(Client::builder().timeout(Some(WAIT)).dial(addr).unwrap());
    let err = door.open().unwrap_err();
    assert!(matches!(&err, Error::ServerValue { value, .. } if value == &Value::Array(vec![])));
    assert_eq!(err.remote::<Locked>(), Some(Locked));
    let err = door.force().unwrap_err();
    assert!(
        matches!(&err, Error::Server(text) if text == "the door is jammed"),
        "{err:?}"
    );
}
