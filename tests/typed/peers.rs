//! The typed `Arith` against peers of other languages: Go's `rpc.Dial` (gob), `rpc.DialHTTP`
//! and `jsonrpc.Dial` clients and Python's MessagePack-RPC call the typed server; the typed
//! client calls Go's gob and JSON-RPC servers. Go's wires take one argument per call: the
//! typed client refuses a method of several parameters there before sending anything.

use std::process::{Child, Command};

use netrpc::Error;

use crate::arith::{self, ArithClient};
use crate::common::{self, Args, Quotient, WAIT};

/// A Go server of `tests/peers/<dir>` in `mode`, killed when dropped.
struct GoServer(Child);

impl GoServer {
    fn start(dir: &str, mode: &str) -> (GoServer, std::net::SocketAddr) {
        let (child, addr) =
            common::spawn_announcing(Command::new(common::go_program(dir)).args(["-mode", mode]));
        (GoServer(child), addr)
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn go_clients_call_the_typed_server_over_gob_http_and_json() {
    let (addr, _) = arith::serve();
    let out = common::output_of(Command::new(common::go_program("gorpc")).args([
        "-mode",
        "arith",
        "-addr",
        &addr.to_string(),
    ]));
    common::assert_has_lines(
        &out,
        &[
            "ok: arith over gob",
            "ok: arith over http",
            "ok: arith over json",
        ],
    );
}

#[test]
fn python_calls_the_typed_server_with_positional_params_and_gets_error_values() {
    let (addr, _) = arith::serve();
    let debian = std::path::Path::new("/usr/bin/python3");
    let interpreter = if debian.exists() {
        debian
    } else {
        "python3".as_ref()
    };
    let out = Command::new(interpreter)
        .args(["-c", PYTHON, &addr.port().to_string()])
        .output();
    match out {
        Ok(out) if out.status.success() => common::assert_has_lines(
            &String::from_utf8_lossy(&out.stdout),
            &[
                "Multiply None 42",
                "Add None 5",
                "Mul2 None 42",
                "Answer None 42",
                "Divide ByZero None",
                "Divide {'Overflow': {'a': -9223372036854775808, 'b': -1}} None",
            ],
        ),
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 has no msgpack module: .ci/run installs python3-msgpack"
            );
            eprintln!("notice: python3 has no msgpack module; skipping the Python client")
        }
        other => panic!("the Python MessagePack-RPC client failed: {other:?}"),
    }
}

/// Calls the typed `Arith` with positional params and prints each `method error result`.
const PYTHON: &str = r#"
import socket, sys, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
calls = [
    ("Multiply", [{"A": 6, "B": 7}]),
    ("Add", [2, 3]),
    ("Mul2", [21]),
    ("Answer", []),
    ("Divide", [{"A": 1, "B": 0}]),
    ("Divide", [{"A": -2**63, "B": -1}]),
]
u = msgpack.Unpacker(raw=False)
for msgid, (method, params) in enumerate(calls):
    s.sendall(msgpack.packb([0, msgid, "Arith." + method, params]))
    while True:
        msg = next(u, None)
        if msg is not None:
            break
        data = s.recv(4096)
        if not data:
            sys.exit("closed")
        u.feed(data)
    assert msg[0] == 1 and msg[1] == msgid, msg
    print(method, msg[2], msg[3])
"#;

/// What the typed client gets from Go's `Arith`, whose error is `errors.New` text.
fn check_go_arith(arith: &ArithClient, wire: &str) {
    assert_eq!(arith.multiply(&Args { a: 7, b: 8 }).unwrap(), 56, "{wire}");
    let q = arith.divide_go(&Args { a: 15, b: 4 }).wait().unwrap();
    assert_eq!(q, Quotient { quo: 3, rem: 3 }, "{wire}");
    let err = arith.divide(&Args { a: 1, b: 0 }).unwrap_err();
    assert!(
        matches!(&err, Error::Server(text) if text == "divide by zero"),
        "{wire}: {err:?}"
    );
    assert_eq!(err.remote::<String>().as_deref(), Some("divide by zero"));
    let err = arith.mul2(&2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rpc: can't find method Arith.Mul2",
        "{wire}"
    );
}

#[test]
fn the_typed_client_calls_go_gob_servers() {
    let (_go, addr) = GoServer::start("gorpc", "server");
    check_go_arith(
        &ArithClient::new(netrpc::gob::dial(addr).unwrap()).with_timeout(WAIT),
        "gob",
    );
    let (_go, addr) = GoServer::start("gorpc", "httpserver");
    let client = netrpc::gob::dial_http(addr).unwrap();
    check_go_arith(
        &ArithClient::new(client).with_timeout(WAIT),
        "gob over HTTP",
    );
}

#[test]
fn the_typed_client_calls_a_go_json_rpc_server() {
    let (_go, addr) = GoServer::start("jsonrpc", "server");
    let client = netrpc::jsonrpc::dial(addr).unwrap();
    check_go_arith(&ArithClient::new(client).with_timeout(WAIT), "json");
}

#[test]
fn several_parameters_are_refused_on_go_s_wires_before_anything_is_sent() {
    let (addr, _) = arith::serve();
    let clients = [
        (
            "gob",
            netrpc::gob::dial(addr).unwrap(),
            "gob: Go's net/rpc methods take one argument",
        ),
        (
            "json",
            netrpc::jsonrpc::dial(addr).unwrap(),
            "jsonrpc: Go's JSON-RPC methods take one argument, not a list of 2",
        ),
    ];
    for (wire, client, refusal) in clients {
        let arith = ArithClient::new(client).with_timeout(WAIT);
        let err = arith.add(&2, &3).unwrap_err();
        assert!(
            matches!(&err, Error::Codec(e) if e.to_string().starts_with(refusal)),
            "{wire}: {err:?}"
        );
        let err = arith.add_go(&2, &3).wait().unwrap_err();
        assert!(matches!(err, Error::Codec(_)), "{wire}: {err:?}");
        // Nothing was sent: the connection goes on, in step.
        assert_eq!(arith.multiply(&Args { a: 6, b: 7 }).unwrap(), 42, "{wire}");
        // One parameter is Go's one argument; none is Go's empty struct.
        assert_eq!(arith.mul2(&21).unwrap(), 42, "{wire}");
        assert_eq!(arith.answer().unwrap(), 42, "{wire}");
        assert_eq!(
            arith.whoami(&"hi".to_owned()).unwrap(),
            format!(
                "hi, Arith.Whoami over Some({})",
                if wire == "gob" { "Gob" } else { "Json" }
            )
        );
    }
}
