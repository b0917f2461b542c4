//! The MessagePack-RPC wire, byte for byte, against hand-built messages and hostile input.

use crate::common;

use std::io::Write;
use std::net::Shutdown;

use crate::common::{exchange, expect_closed, start, start_with, Args};
use netrpc::{Error, Server};

/// `[0, msgid, method, params]`, built with `rmp` primitives, not the crate's encoder.
fn request(msgid: u32, method: &str, params: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut buf = Vec::new();
    rmp::encode::write_array_len(&mut buf, 4).unwrap();
    rmp::encode::write_uint(&mut buf, 0).unwrap();
    rmp::encode::write_uint(&mut buf, u64::from(msgid)).unwrap();
    rmp::encode::write_str(&mut buf, method).unwrap();
    params(&mut buf);
    buf
}

/// `[{"A": a, "B": b}]`
fn args_params(a: i64, b: i64) -> impl FnOnce(&mut Vec<u8>) {
    move |buf| {
        rmp::encode::write_array_len(buf, 1).unwrap();
        rmp::encode::write_map_len(buf, 2).unwrap();
        rmp::encode::write_str(buf, "A").unwrap();
        rmp::encode::write_sint(buf, a).unwrap();
        rmp::encode::write_str(buf, "B").unwrap();
        rmp::encode::write_sint(buf, b).unwrap();
    }
}

#[test]
fn a_hand_built_request_gets_the_exact_response_bytes() {
    let h = start();
    let mut conn = h.raw();
    let reply = exchange(
        &mut conn,
        &request(1, "Arith.Multiply", args_params(7, 8)),
        5,
    );
    // [1, 1, nil, 56]
    assert_eq!(reply, [0x94, 0x01, 0x01, 0xc0, 0x38]);
}

#[test]
fn an_error_response_carries_the_text_and_no_result() {
    let h = start();
    let mut conn = h.raw();
    let reply = exchange(
        &mut conn,
        &request(2, "Arith.Divide", args_params(1, 0)),
        19,
    );
    let mut expected = vec![0x94, 0x01, 0x02];
    rmp::encode::write_str(&mut expected, "divide by zero").unwrap();
    expected.push(0xc0);
    assert_eq!(reply, expected);
}

#[test]
fn positional_params_from_a_foreign_client() {
    let h = start();
    let mut conn = h.raw();
    // [0, 9, "Test.Add", [7, 8]]: two params are taken whole, as the tuple (7, 8).
    let bytes = request(9, "Test.Add", |buf| {
        rmp::encode::write_array_len(buf, 2).unwrap();
        rmp::encode::write_sint(buf, 7).unwrap();
        rmp::encode::write_sint(buf, 8).unwrap();
    });
    assert_eq!(exchange(&mut conn, &bytes, 5), [0x94, 0x01, 0x09, 0xc0, 15]);
    // [0, 10, "Test.Nothing", []]: no params decode as nil, here into ().
    let bytes = request(10, "Test.Nothing", |buf| buf.push(0x90));
    assert_eq!(
        exchange(&mut conn, &bytes, 5),
        [0x94, 0x01, 0x0a, 0xc0, 0xc0]
    );
}

#[test]
fn struct_arguments_may_come_as_arrays() {
    let h = start();
    let mut conn = h.raw();
    // [0, 3, "Arith.Multiply", [[6, 7]]]: the struct Args as a positional array.
    let bytes = request(3, "Arith.Multiply", |buf| {
        buf.extend_from_slice(&[0x91, 0x92, 6, 7]);
    });
    assert_eq!(exchange(&mut conn, &bytes, 5), [0x94, 0x01, 0x03, 0xc0, 42]);
}

#[test]
fn a_notification_runs_and_gets_no_reply() {
    let h = start();
    let mut conn = h.raw();
    // [2, "Test.Bump", [4]] then a request: the first bytes back answer the request.
    let mut bytes = vec![0x93, 0x02];
    rmp::encode::write_str(&mut bytes, "Test.Bump").unwrap();
    bytes.extend_from_slice(&[0x91, 4]);
    conn.write_all(&bytes).unwrap();
    common::eventually("the notification to run", || {
        h.notified.load(std::sync::atomic::Ordering::SeqCst) == 4
    });
    let reply = exchange(
        &mut conn,
        &request(5, "Test.Bump", |b| b.extend_from_slice(&[0x91, 1])),
        5,
    );
    assert_eq!(reply, [0x94, 0x01, 0x05, 0xc0, 5]);
}

#[test]
fn many_requests_in_one_write_all_get_answers() {
    let h = start();
    let mut conn = h.raw();
    let mut bytes = Vec::new();
    for id in 0..100u32 {
        bytes.extend(request(id, "Arith.Multiply", args_params(i64::from(id), 2)));
    }
    conn.write_all(&bytes).unwrap();
    let mut seen = [false; 100];
    for _ in 0..100 {
        let value = rmpv::decode::read_value(&mut conn).expect("response");
        let items = value.as_array().expect("array").clone();
        let id = items[1].as_u64().unwrap() as usize;
        assert_eq!(items[3].as_i64().unwrap(), id as i64 * 2);
        seen[id] = true;
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn a_bad_request_header_closes_that_connection_only() {
    let h = start();
    let client = h.client();
    let mut bad = h.raw();
    // [5, 1, 2] is no MessagePack-RPC message.
    bad.write_all(&[0x93, 0x05, 0x01, 0x02]).unwrap();
    expect_closed(&mut bad);
    let mut not_an_array = h.raw();
    not_an_array.write_all(&[0xa3, b'a', b'b', b'c']).unwrap();
    expect_closed(&mut not_an_array);
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 2 })
            .unwrap(),
        4
    );
}

#[test]
fn an_oversize_message_is_refused_before_it_arrives() {
    let h = start_with(Server::builder().max_message_size(1024).build());
    let client = h.client();
    let mut hostile = h.raw();
    // A request whose method name claims 4 GiB: refused on the header alone.
    hostile
        .write_all(&[0x94, 0x00, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff])
        .unwrap();
    expect_closed(&mut hostile);
    // A real request just over the limit is refused too.
    let mut big = h.raw();
    let bytes = request(1, "Echo.Echo", |buf| {
        rmp::encode::write_array_len(buf, 1).unwrap();
        rmp::encode::write_bin(buf, &[0u8; 1100]).unwrap();
    });
    let _ = big.write_all(&bytes);
    expect_closed(&mut big);
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 3, b: 2 })
            .unwrap(),
        6
    );
}

#[test]
fn a_truncated_message_closes_that_connection_only() {
    let h = start();
    let client = h.client();
    let mut conn = h.raw();
    let bytes = request(1, "Arith.Multiply", args_params(7, 8));
    conn.write_all(&bytes[..bytes.len() - 3]).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut conn);
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 3, b: 3 })
            .unwrap(),
        9
    );
}

#[test]
fn the_client_refuses_oversize_messages_with_a_clear_error() {
    let h = start();
    let client = netrpc::Client::builder()
        .max_message_size(1024)
        .timeout(Some(common::WAIT))
        .dial(h.addr)
        .unwrap();
    // Too large to send: refused before sending, and the client goes on.
    match client.call::<_, serde_bytes::ByteBuf>("Echo.Echo", &serde_bytes::Bytes::new(&[1; 2000]))
    {
        Err(Error::Codec(e)) => assert!(e.to_string().contains("exceeds the limit"), "{e}"),
        other => panic!("expected a size error, got {other:?}"),
    }
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 2 })
            .unwrap(),
        2
    );
    // Too large to receive: the call fails with the reason, its reply skipped, and the
    // client goes on.
    match client.call::<_, serde_bytes::ByteBuf>("Test.Repeat", &4096usize) {
        Err(Error::Codec(e)) => {
            assert!(e.to_string().contains("exceeds the client's limit"), "{e}")
        }
        other => panic!("expected a size error, got {other:?}"),
    }
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 2 })
            .unwrap(),
        2
    );
}

#[test]
fn a_reply_too_large_to_send_is_answered_with_an_error() {
    let h = start_with(Server::builder().max_message_size(1024).build());
    let client = h.client();
    match client.call::<_, serde_bytes::ByteBuf>("Test.Repeat", &4096usize) {
        Err(Error::Server(text)) => assert!(text.contains("exceeds the limit"), "{text}"),
        other => panic!("expected a server error, got {other:?}"),
    }
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 5 })
            .unwrap(),
        10
    );
}

#[test]
fn a_method_name_sent_as_binary_is_read_as_its_text() {
    // msgpack-python with use_bin_type=True sends a bytes method name as bin.
    let h = start();
    let mut conn = h.raw();
    let mut as_bin = Vec::new();
    rmp::encode::write_array_len(&mut as_bin, 4).unwrap();
    rmp::encode::write_uint(&mut as_bin, 0).unwrap();
    rmp::encode::write_uint(&mut as_bin, 1).unwrap();
    rmp::encode::write_bin(&mut as_bin, b"Arith.Multiply").unwrap();
    args_params(7, 8)(&mut as_bin);
    let as_str = request(1, "Arith.Multiply", args_params(7, 8));
    let expected = exchange(&mut h.raw(), &as_str, 5);
    assert_eq!(exchange(&mut conn, &as_bin, 5), expected);
}
