//! The JSON-RPC codec on hostile input: bounded sizes, clean errors, other clients unharmed.

#![cfg(feature = "json")]

use crate::common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use crate::common::{expect_closed, Args, WAIT};
use netrpc::Server;

fn json_server(server: Server) -> SocketAddr {
    common::start_json_with(server).addr
}

fn raw(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    conn
}

#[test]
fn garbage_and_oversize_messages_close_only_their_connection() {
    let addr = json_server(Server::builder().max_message_size(4096).build());
    let client = netrpc::jsonrpc::dial(addr).unwrap();

    let mut garbage = raw(addr);
    garbage.write_all(b"hello there\n").unwrap();
    expect_closed(&mut garbage);

    let mut broken = raw(addr);
    broken.write_all(b"{\"method\": nope}\n").unwrap();
    expect_closed(&mut broken);

    let mut oversize = raw(addr);
    let big = format!(
        "{{\"method\":\"Echo.Echo\",\"params\":[\"{}\"],\"id\":1}}",
        "x".repeat(10_000)
    );
    let _ = oversize.write_all(big.as_bytes());
    expect_closed(&mut oversize);

    let product: i64 = client
        .call_timeout("Arith.Multiply", &Args { a: 6, b: 7 }, WAIT)
        .unwrap();
    assert_eq!(product, 42);
}

#[test]
fn the_start_of_a_request_that_is_not_json_closes_at_once() {
    let addr = json_server(Server::new());
    // Each stops short of its end, as a stalled peer would: the bytes already prove it
    // malformed, so the server need not wait for more (Go's server closes at once too).
    for front in [
        &b"{\"method\":KV.Ping"[..],
        b"{\"method\" \"x\"",
        b"{\"id\":1 \"method\"",
        b"[1 2",
        b"{\"params\":[tru",
        b"{\"params\":[trux",
        b"{1:",
    ] {
        let mut conn = raw(addr);
        conn.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        conn.write_all(front).unwrap();
        if front == b"{\"params\":[tru" {
            // Not malformed yet: the connection waits for more.
            let mut byte = [0u8; 1];
            let err = std::io::Read::read(&mut conn, &mut byte).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
            continue;
        }
        expect_closed(&mut conn);
    }
}

#[test]
fn an_argument_of_the_wrong_shape_is_an_error_reply() {
    let addr = json_server(Server::new());
    let client = netrpc::jsonrpc::dial(addr).unwrap();
    match client.call_timeout::<_, i64>("Arith.Multiply", "not args", WAIT) {
        Err(netrpc::Error::Server(text)) => {
            assert!(text.starts_with("jsonrpc: reading body"), "{text}");
            // serde_json's place would count within params, not the message.
            assert!(!text.contains(" at line "), "{text}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(
        client
            .call_timeout::<_, i64>("Arith.Multiply", &Args { a: 2, b: 2 }, WAIT)
            .unwrap(),
        4
    );
}

#[test]
fn a_reply_too_large_to_send_is_answered_under_its_request_s_id() {
    let addr = json_server(Server::builder().max_message_size(1024).build());
    let mut conn = raw(addr);
    let mut lines = std::io::BufReader::new(conn.try_clone().unwrap());
    let mut exchange = |request: &str| {
        conn.write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut lines, &mut line).unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    let reply = exchange("{\"method\":\"Test.Repeat\",\"params\":[4096],\"id\":7}\n");
    assert_eq!(reply["id"], 7, "{reply}");
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("rpc: reply of "), "{reply}");
    assert!(error.contains("exceeds the limit"), "{reply}");
    let reply =
        exchange("{\"method\":\"Arith.Multiply\",\"params\":[{\"A\":6,\"B\":7}],\"id\":8}\n");
    assert_eq!((&reply["id"], &reply["result"]), (&8.into(), &42.into()));

    // netrpc's own client, past its first call (sequence number 0 would match a null id).
    let client = netrpc::jsonrpc::dial(addr).unwrap();
    let product: i64 = client
        .call_timeout("Arith.Multiply", &Args { a: 2, b: 3 }, WAIT)
        .unwrap();
    assert_eq!(product, 6);
    match client.call_timeout::<_, serde_bytes::ByteBuf>("Test.Repeat", &4096usize, WAIT) {
        Err(netrpc::Error::Server(text)) => assert!(text.contains("exceeds the limit"), "{text}"),
        other => panic!("expected the size error, got {other:?}"),
    }
    let product: i64 = client
        .call_timeout("Arith.Multiply", &Args { a: 4, b: 5 }, WAIT)
        .unwrap();
    assert_eq!(product, 20);
}

#[test]
fn an_empty_argument_list_is_sent_as_an_empty_params() {
    let addr = json_server(Server::new());
    let client = netrpc::jsonrpc::dial(addr).unwrap();
    client
        .call_timeout::<_, ()>("Test.Nothing", &netrpc::Params(()), WAIT)
        .unwrap();
    client
        .call_timeout::<_, ()>("Test.Nothing", &netrpc::Params(None::<(i64,)>), WAIT)
        .unwrap();
}

#[test]
fn text_that_is_not_utf8_reads_as_go_reads_it() {
    // Go's encoding/json reads each byte that is not UTF-8, and each escaped UTF-16 surrogate
    // that is not half of a pair, as U+FFFD; the message is answered, not refused.
    let addr = json_server(Server::new());
    let mut conn = raw(addr);
    let mut lines = std::io::BufReader::new(conn.try_clone().unwrap());
    let cases: [(&[u8], &str); 8] = [
        (b"a\xffb", "a\u{fffd}b"),
        (b"\xe2\x82A", "\u{fffd}\u{fffd}A"),
        (br"\ud800", "\u{fffd}"),
        (br"\ud800\u0041", "\u{fffd}A"),
        (br"\udc00x", "\u{fffd}x"),
        (br"\ud800\ud800\udc00", "\u{fffd}\u{10000}"),
        (br"\ud83d\ude00 \u00e9", "\u{1f600} \u{e9}"),
        (br"\\ud800", r"\ud800"),
    ];
    for (id, (text, expected)) in cases.into_iter().enumerate() {
        let mut request = br#"{"method":"Echo.Echo","params":[""#.to_vec();
        request.extend_from_slice(text);
        request.extend_from_slice(format!("\"],\"id\":{id}}}\n").as_bytes());
        conn.write_all(&request).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut lines, &mut line).unwrap();
        let reply: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("no reply to {text:?} ({e}): {line:?}"));
        assert_eq!(reply["id"], id, "{reply}");
        assert_eq!(reply["result"], expected, "{reply}");
    }
}
