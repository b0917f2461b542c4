//! RPC over HTTP: Go's handshake byte for byte, and the debug page.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{register_all, Args, WAIT};
use netrpc::{Client, Server};

/// A server with every test service, serving HTTP with Go's paths; `head_timeout` bounds a
/// request head.
fn http_server_with(head_timeout: Duration) -> std::net::SocketAddr {
    let server = Server::builder().http_head_timeout(head_timeout).build();
    register_all(&server);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || server.serve_http(&listener));
    addr
}

fn start_http() -> std::net::SocketAddr {
    http_server_with(Duration::from_millis(300))
}

/// Sends `request` and reads the whole response until the server closes.
fn http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn the_connect_handshake_is_gos_byte_for_byte_and_rpc_follows() {
    let addr = start_http();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    // Exactly what Go's DialHTTP writes.
    conn.write_all(b"CONNECT /_goRPC_ HTTP/1.0\n\n").unwrap();
    let expected = b"HTTP/1.0 200 Connected to Go RPC\n\n";
    let mut reply = vec![0u8; expected.len()];
    conn.read_exact(&mut reply).unwrap();
    assert_eq!(reply, expected);
    // The connection is now a MessagePack-RPC stream: [0, 1, "Arith.Multiply", [[6, 7]]].
    let mut request = vec![0x94, 0x00, 0x01];
    rmp::encode::write_str(&mut request, "Arith.Multiply").unwrap();
    request.extend_from_slice(&[0x91, 0x92, 6, 7]);
    conn.write_all(&request).unwrap();
    let mut response = [0u8; 5];
    conn.read_exact(&mut response).unwrap();
    assert_eq!(response, [0x94, 0x01, 0x01, 0xc0, 42]);
}

#[test]
fn rpc_bytes_sent_right_behind_the_connect_are_not_lost() {
    let addr = start_http();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut bytes = b"CONNECT /_goRPC_ HTTP/1.0\r\n\r\n".to_vec();
    bytes.extend_from_slice(&[0x94, 0x00, 0x02]);
    rmp::encode::write_str(&mut bytes, "Arith.Multiply").unwrap();
    bytes.extend_from_slice(&[0x91, 0x92, 3, 5]);
    conn.write_all(&bytes).unwrap();
    let handshake = b"HTTP/1.0 200 Connected to Go RPC\n\n".len();
    let mut reply = vec![0u8; handshake + 5];
    conn.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[handshake..], [0x94, 0x01, 0x02, 0xc0, 15]);
}

#[test]
fn dial_http_calls_through_the_handshake() {
    let addr = start_http();
    let client = Client::dial_http(addr).unwrap();
    assert_eq!(
        client
            .call::<_, i64>("Arith.Multiply", &Args { a: 7, b: 8 })
            .unwrap(),
        56
    );
}

#[test]
fn dial_http_reports_an_unexpected_status() {
    let addr = start_http();
    let err = match Client::builder().http("/elsewhere").dial(addr) {
        Ok(_) => panic!("dialling a wrong path should fail"),
        Err(e) => e,
    };
    assert_eq!(err.to_string(), "unexpected HTTP response: 404 Not Found");
}

#[test]
fn other_methods_on_the_rpc_path_must_connect() {
    let addr = start_http();
    let response = http(addr, "GET /_goRPC_ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with("\r\n\r\n405 must CONNECT\n"),
        "{response}"
    );
}

#[test]
fn unknown_paths_are_not_found() {
    let addr = start_http();
    let response = http(addr, "GET /nope HTTP/1.1\r\n\r\n");
    assert!(
        response.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{response}"
    );
}

#[test]
fn the_debug_page_lists_services_methods_and_live_counts() {
    let addr = start_http();
    let client = Client::dial_http(addr).unwrap();
    for i in 0..3 {
        let _: i64 = client.call("Arith.Multiply", &Args { a: i, b: 2 }).unwrap();
    }
    let _ = client.call::<_, common::Quotient>("Arith.Divide", &Args { a: 1, b: 0 });

    let html = http(addr, "GET /debug/rpc HTTP/1.1\r\n\r\n");
    assert!(html.starts_with("HTTP/1.1 200 OK\r\n"), "{html}");
    assert!(html.contains("Content-Type: text/html"), "{html}");
    let arith = html.find("Service Arith").expect("Arith listed");
    let echo = html.find("Service Echo").expect("Echo listed");
    let test = html.find("Service Test").expect("Test listed");
    assert!(arith < echo && echo < test, "services sorted by name");
    assert!(
        html.contains("Multiply(")
            && html.contains("Args, i64) error</td>\n<td align=center>3</td>"),
        "{html}"
    );
    // Divide by zero: one call, one error.
    assert!(
        html.contains("Quotient) error</td>\n<td align=center>1</td>\n<td align=center>1</td>"),
        "{html}"
    );
    assert!(
        html.contains("Args, i64) error</td>\n<td align=center>3</td>\n<td align=center>0</td>"),
        "{html}"
    );

    let json = http(addr, "GET /debug/rpc?format=json HTTP/1.1\r\n\r\n");
    assert!(json.contains("Content-Type: application/json"), "{json}");
    let body = &json[json.find("\r\n\r\n").unwrap() + 4..];
    assert!(
        body.starts_with(r#"{"services":[{"name":"Arith","methods":[{"name":"Divide","#),
        "{body}"
    );
    assert!(body.contains(r#""name":"Multiply","arg_type":"#), "{body}");
    assert!(
        body.contains(r#""reply_type":"i64","calls":3,"errors":0,"mean_seconds":"#),
        "{body}"
    );
    assert!(body.contains(r#""calls":1,"errors":1,"#), "{body}");

    let negotiated = http(
        addr,
        "GET /debug/rpc HTTP/1.1\r\nAccept: application/json\r\n\r\n",
    );
    assert!(negotiated.contains(r#"{"services":["#), "{negotiated}");

    // The absolute form, as proxies send it.
    let proxied = http(
        addr,
        "GET http://localhost/debug/rpc?format=json HTTP/1.1\r\n\r\n",
    );
    assert!(proxied.contains(r#"{"services":["#), "{proxied}");

    // HEAD: the same head, with the length of the body it leaves out.
    let head = http(addr, "HEAD /debug/rpc?format=json HTTP/1.1\r\n\r\n");
    let (head, rest) = head.split_once("\r\n\r\n").unwrap();
    assert_eq!(rest, "", "HEAD sends no body");
    let length = http(addr, "GET /debug/rpc?format=json HTTP/1.1\r\n\r\n");
    let length = length.split_once("\r\n\r\n").unwrap().1.len();
    assert!(
        head.contains(&format!("Content-Length: {length}\r\n")),
        "{head}"
    );
}

#[test]
fn a_slow_http_client_is_cut_off() {
    let addr = start_http();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    conn.write_all(b"GET /debug/rpc HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 408 Request Timeout"),
        "{response}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_oversized_http_head_is_refused() {
    let addr = start_http();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let junk = format!(
        "GET /debug/rpc HTTP/1.1\r\nX-Junk: {}\r\n",
        "a".repeat(20_000)
    );
    let _ = conn.write_all(junk.as_bytes());
    let mut response = String::new();
    let _ = conn.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
}

#[test]
fn a_head_with_many_headers_is_taken_as_go_takes_it() {
    let addr = start_http();
    let headers: String = (0..500).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let page = http(addr, &format!("GET /debug/rpc HTTP/1.1\r\n{headers}\r\n"));
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    conn.write_all(format!("CONNECT /_goRPC_ HTTP/1.0\r\n{headers}\r\n").as_bytes())
        .unwrap();
    let mut status = [0; 34];
    conn.read_exact(&mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.0 200 Connected to Go RPC\n\n");
}

#[test]
fn a_trickled_head_gets_its_timeout_and_no_more() {
    let addr = http_server_with(Duration::from_secs(1));
    let mut conn = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    conn.write_all(b"GET ").unwrap();
    thread::sleep(Duration::from_millis(900));
    conn.write_all(b"/").unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
}

#[test]
fn the_servers_read_timeout_bounds_an_http_head_on_the_one_port() {
    let server = Server::builder()
        .read_timeout(Some(Duration::from_millis(500)))
        .build();
    let addr = common::start_with(server).addr;
    let mut conn = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    conn.write_all(b"GET /debug").unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut response = Vec::new();
    let _ = conn.read_to_end(&mut response);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "held for {took:?} (the head timeout is 10 s)"
    );
}

#[test]
fn a_client_that_forgot_dial_http_is_told_at_once() {
    let addr = http_server_with(WAIT);
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let started = Instant::now();
    let result = client.call::<_, i64>("Arith.Multiply", &Args { a: 1, b: 2 });
    // The server waits 10 s for a head; the client hears 400 Bad Request at once.
    assert!(started.elapsed() < Duration::from_secs(5));
    match result {
        Err(netrpc::Error::Codec(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("400 Bad Request") && text.contains("dial_http"),
                "{text}"
            );
        }
        other => panic!("expected a codec error, got {other:?}"),
    }
}

#[test]
fn the_builder_sets_the_paths_and_any_client_wire_goes_through_them() {
    let server = Server::builder().http_paths("/rpc", "/debug").build();
    register_all(&server);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || server.serve_http(&listener));
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
            .http("/rpc")
            .timeout(Some(WAIT))
            .dial(addr)
            .unwrap();
        let product: i64 = client.call("Arith.Multiply", &Args { a: 6, b: 7 }).unwrap();
        assert_eq!(product, 42, "{wire:?}");
    }
    // Go's default paths are not served any more.
    let err = Client::dial_http(addr).map(drop).unwrap_err();
    assert_eq!(err.to_string(), "unexpected HTTP response: 404 Not Found");
    let page = http(addr, "GET /debug HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Multiply"), "{page}");
}
