//! netrpc's gob format against Go's `encoding/gob`, both ways.
//!
//! The Go peer (`tests/peers/gob/main.go`, standard library only) is built at test time into the
//! target directory. Go encodes a corpus of values, each after its name; Rust decodes each
//! into the matching Rust type, checks it, and encodes it again, once with types traced from
//! `Deserialize` and once with types learnt from the values; Go decodes both streams and
//! compares them with its corpus. Without a Go toolchain the test is skipped with a notice,
//! unless `CI` is set, where it fails.

#![cfg(feature = "gob")]

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use netrpc::gob::{message_len, Decoder, Encoder, GobErrorKind, Value, ValueMessage};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Builds the Go peer, or says why not: `None` means there is no Go and the test may skip.
fn go_peer() -> Option<PathBuf> {
    if Command::new("go").arg("version").output().is_err() {
        if std::env::var_os("CI").is_some() {
            panic!("this test needs Go (`apt-get install golang-go`), and CI is set");
        }
        eprintln!("notice: skipping the gob interop test: `go` is not installed");
        return None;
    }
    Some(common::go_program("gob"))
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Inner {
    name: String,
    tags: Vec<String>,
    p: Option<Point>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Everything {
    i: i64,
    i8: i8,
    i64: i64,
    u: u32,
    u8: u8,
    u64: u64,
    f32: f32,
    f64: f64,
    b: bool,
    r: char,
    s: String,
    bytes: Vec<u8>,
    points: Vec<Point>,
    by_name: HashMap<String, Point>,
    by_num: BTreeMap<i64, String>,
    arr: [i64; 3],
    grid: [[u8; 2]; 2],
    ptr: Option<Box<Point>>,
    nil_ptr: Option<Box<Point>>,
    inner: Inner,
    empty: (),
    empty_slice: Vec<i64>,
    empty_map: HashMap<String, i64>,
    kids: Vec<Inner>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename_all = "PascalCase")]
struct Tree {
    name: String,
    kids: Vec<Tree>,
    parent: Option<Box<Tree>>,
}

fn tree(name: &str, kids: Vec<Tree>) -> Tree {
    Tree {
        name: name.into(),
        kids,
        parent: None,
    }
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Holder {
    name: String,
    any: Value,
}

fn pt(x: i64, y: i64) -> Point {
    Point { x, y }
}

fn everything() -> Everything {
    Everything {
        i: -123456789,
        i8: -128,
        i64: i64::MIN,
        u: 42,
        u8: 255,
        u64: u64::MAX,
        f32: 1.5,
        f64: -2.75e300,
        b: true,
        r: 'é',
        s: "héllo, 世界 ✓".into(),
        bytes: vec![0, 1, 2, 255],
        points: vec![pt(1, 2), pt(-3, 4), pt(0, 0)],
        by_name: HashMap::from([("a".into(), pt(1, 2)), ("zero".into(), pt(0, 0))]),
        by_num: BTreeMap::from([
            (-1, "minus one".into()),
            (1 << 40, "big".into()),
            (0, String::new()),
        ]),
        arr: [1, -2, 3],
        grid: [[1, 2], [3, 4]],
        ptr: Some(Box::new(pt(5, 6))),
        nil_ptr: None,
        inner: Inner {
            name: "inner".into(),
            tags: vec!["x".into(), "y".into()],
            p: Some(pt(7, 8)),
        },
        empty: (),
        empty_slice: vec![],
        empty_map: HashMap::new(),
        kids: vec![
            Inner {
                name: "a".into(),
                ..Inner::default()
            },
            Inner {
                p: Some(pt(1, 1)),
                ..Inner::default()
            },
            Inner::default(),
        ],
    }
}

/// The streams Rust sends back: types traced from `Deserialize`, and types learnt from values.
struct Echo {
    typed: Encoder,
    typed_out: Vec<u8>,
    inferred: Encoder,
    inferred_out: Vec<u8>,
    /// Cases the inferred stream leaves out, because their values cannot show their type.
    uninferable: Vec<String>,
    checked: Vec<String>,
}

impl Echo {
    fn check<T>(&mut self, name: &str, msg: ValueMessage<'_>, want: T)
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug + 'static,
    {
        let got: T = msg
            .deserialize()
            .unwrap_or_else(|e| panic!("decoding case {name}: {e}"));
        assert_eq!(got, want, "case {name}");
        self.typed.encode(&mut self.typed_out, name).unwrap();
        self.typed
            .encode_typed(&mut self.typed_out, &got)
            .unwrap_or_else(|e| panic!("encoding case {name} (typed): {e}"));
        let mut value = Vec::new();
        match self.inferred.encode(&mut value, &got) {
            Ok(()) => {
                self.inferred.encode(&mut self.inferred_out, name).unwrap();
                self.inferred_out.extend_from_slice(&value);
            }
            Err(e) => {
                assert_eq!(e.kind(), GobErrorKind::Unsupported, "case {name}: {e}");
                assert!(value.is_empty());
                self.uninferable.push(name.to_string());
            }
        }
        self.checked.push(name.to_string());
    }

    /// A case Rust decodes but cannot send back (Go interface values).
    fn check_only<T: DeserializeOwned + PartialEq + Debug>(
        &mut self,
        name: &str,
        msg: ValueMessage<'_>,
        want: T,
    ) {
        let got: T = msg
            .deserialize()
            .unwrap_or_else(|e| panic!("decoding case {name}: {e}"));
        assert_eq!(got, want, "case {name}");
    }
}

fn run_go_decode(peer: &PathBuf, stream: &[u8]) -> String {
    let mut child = Command::new(peer)
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = stream.to_vec();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&data).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the Go peer failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn assert_all_ok(stdout: &str, names: &[String]) {
    assert!(!stdout.contains("mismatch"), "Go saw a mismatch:\n{stdout}");
    for name in names {
        assert!(
            stdout.lines().any(|l| l == format!("ok: {name}")),
            "Go did not confirm case {name}:\n{stdout}"
        );
    }
    assert!(
        stdout.lines().any(|l| l == format!("done {}", names.len())),
        "Go decoded a different number of cases:\n{stdout}"
    );
}

#[test]
fn go_and_rust_exchange_a_corpus_of_values() {
    let Some(peer) = go_peer() else {
        return;
    };
    let output = Command::new(&peer).arg("encode").output().unwrap();
    assert!(
        output.status.success(),
        "the Go peer failed to encode:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stream = output.stdout;

    let mib: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7) as u8).collect();
    let mut echo = Echo {
        typed: Encoder::new(),
        typed_out: Vec::new(),
        inferred: Encoder::new(),
        inferred_out: Vec::new(),
        uninferable: Vec::new(),
        checked: Vec::new(),
    };
    let mut dec = Decoder::new();
    let mut rest = &stream[..];
    let mut name: Option<String> = None;
    let mut seen = Vec::new();
    while !rest.is_empty() {
        let (header, len) = message_len(rest, 16 << 20)
            .unwrap()
            .expect("a whole message");
        let body = &rest[header..header + len];
        rest = &rest[header + len..];
        let Some(msg) = dec.decode(body).unwrap() else {
            continue;
        };
        let Some(case) = name.take() else {
            name = Some(msg.deserialize::<String>().unwrap());
            continue;
        };
        seen.push(case.clone());
        match case.as_str() {
            "int" => echo.check(&case, msg, -123456789i64),
            "int_min" => echo.check(&case, msg, i64::MIN),
            "uint_max" => echo.check(&case, msg, u64::MAX),
            "float" => echo.check(&case, msg, 1234.5678f64),
            "float_inf" => echo.check(&case, msg, f64::NEG_INFINITY),
            "bool" => echo.check(&case, msg, true),
            "string" => echo.check(&case, msg, "héllo, 世界 ✓".to_string()),
            "bytes_1mib" => echo.check(&case, msg, serde_bytes::ByteBuf::from(mib.clone())),
            "point" => echo.check(&case, msg, pt(22, 33)),
            "points" => echo.check(&case, msg, vec![pt(1, 2), pt(-3, 4)]),
            "map_string_struct" => echo.check(
                &case,
                msg,
                HashMap::from([("a".to_string(), pt(1, 2)), ("b".to_string(), pt(0, 0))]),
            ),
            "map_int_string" => echo.check(
                &case,
                msg,
                BTreeMap::from([(-1i64, "minus".to_string()), (1 << 40, "big".to_string())]),
            ),
            "array" => echo.check(&case, msg, [1i64, 2, 3]),
            "grid" => echo.check(&case, msg, [[1u8, 2], [3, 4]]),
            "ptr_nil" => echo.check(
                &case,
                msg,
                Inner {
                    name: "n".into(),
                    ..Inner::default()
                },
            ),
            "ptr_set" => echo.check(
                &case,
                msg,
                Inner {
                    name: "n".into(),
                    tags: vec!["x".into(), "y".into()],
                    p: Some(pt(5, 6)),
                },
            ),
            "empty_slice" => echo.check(&case, msg, Vec::<i64>::new()),
            "empty_slice_of_structs" => echo.check(&case, msg, Vec::<Inner>::new()),
            "empty_map" => echo.check(&case, msg, HashMap::<String, Point>::new()),
            "zero_struct" => echo.check(&case, msg, Inner::default()),
            "zero_everything" => echo.check(&case, msg, Everything::default()),
            "everything" => echo.check(&case, msg, everything()),
            "empty_struct" => echo.check(&case, msg, ()),
            "structs_with_nils" => echo.check(
                &case,
                msg,
                vec![
                    Inner {
                        name: "a".into(),
                        ..Inner::default()
                    },
                    Inner {
                        p: Some(pt(1, 1)),
                        ..Inner::default()
                    },
                ],
            ),
            "tree" => echo.check(
                &case,
                msg,
                Tree {
                    parent: Some(Box::new(tree("up", vec![]))),
                    ..tree(
                        "root",
                        vec![tree("a", vec![]), tree("b", vec![tree("c", vec![])])],
                    )
                },
            ),
            "interface_struct" => echo.check_only(
                &case,
                msg,
                Holder {
                    name: "h".into(),
                    any: Value::Map(vec![
                        (Value::String("X".into()), Value::Int(7)),
                        (Value::String("Y".into()), Value::Int(8)),
                    ]),
                },
            ),
            "interface_nil" => echo.check_only(
                &case,
                msg,
                Holder {
                    name: "nil".into(),
                    any: Value::Nil,
                },
            ),
            "interface_slice" => echo.check_only(
                &case,
                msg,
                vec![Value::Int(1), Value::String("x".into()), Value::Float(2.5)],
            ),
            "complex" => echo.check_only(&case, msg, (1.5f64, -2.0f64)),
            other => panic!("Go sent a case this test does not know: {other}"),
        }
    }
    assert!(name.is_none(), "the stream ended after a case name");
    assert_eq!(seen.len(), 29, "cases seen: {seen:?}");

    // Everything Rust decoded goes back, with traced types...
    let stdout = run_go_decode(&peer, &echo.typed_out);
    assert_all_ok(&stdout, &echo.checked);
    // ...and with types learnt from the values, where a value shows its type.
    assert_eq!(
        echo.uninferable,
        ["empty_slice", "empty_slice_of_structs", "empty_map"]
    );
    let inferred: Vec<String> = echo
        .checked
        .iter()
        .filter(|n| !echo.uninferable.contains(n))
        .cloned()
        .collect();
    let stdout = run_go_decode(&peer, &echo.inferred_out);
    assert_all_ok(&stdout, &inferred);
}
