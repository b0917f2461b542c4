//! Encodings checked against bytes Go's `encoding/gob` produced (each from a fresh Go process,
//! so Go's type ids start at 65 as ours do), round trips, and hostile input.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn encode<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new().encode(&mut out, v).unwrap();
    out
}

fn encode_typed<T: Serialize + DeserializeOwned + 'static>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new().encode_typed(&mut out, v).unwrap();
    out
}

/// Splits a stream into messages and decodes every value in it as `T`.
fn decode_all<T: DeserializeOwned>(
    dec: &mut Decoder,
    mut stream: &[u8],
) -> Result<Vec<T>, GobError> {
    let mut values = Vec::new();
    while !stream.is_empty() {
        let Some((header, len)) = message_len(stream, 1 << 30)? else {
            return Err(GobError::truncated());
        };
        if stream.len() < header + len {
            return Err(GobError::truncated());
        }
        if let Some(v) = dec.decode_value(&stream[header..header + len])? {
            values.push(v);
        }
        stream = &stream[header + len..];
    }
    Ok(values)
}

fn decode<T: DeserializeOwned>(stream: &[u8]) -> T {
    let mut values = decode_all(&mut Decoder::new(), stream).unwrap();
    assert_eq!(values.len(), 1);
    values.pop().unwrap()
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let back: T = decode(&encode(v));
    assert_eq!(&back, v);
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
#[serde(rename = "Point")]
struct Point {
    #[serde(rename = "X")]
    x: i64,
    #[serde(rename = "Y")]
    y: i64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
#[serde(rename = "Opt")]
struct Opt {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "N")]
    n: Option<i64>,
    #[serde(rename = "F")]
    f: f64,
    #[serde(rename = "Tags")]
    tags: Vec<String>,
}

#[test]
fn values_encode_as_go_encodes_them() {
    let cases: Vec<(&str, Vec<u8>)> =
        vec![
        (
            "1fff8103010105506f696e7401ff82000102010158010400010159010400000007ff82012c014200",
            encode(&Point { x: 22, y: 33 }),
        ),
        ("03040000", encode(&0i64)),
        ("050400fe0101", encode(&-129i32)),
        ("050800fe3140", encode(&17.0f64)),
        ("090c000668c3a96c6c6f", encode("héllo")),
        ("0cff81020102ff82000104000006ff8200020204", encode(&vec![1i64, 2])),
        ("0cff81020102ff8200010c000006ff8200010161", encode(&["a".to_string()][..])),
        (
            "0eff81040102ff8200010c0104000007ff820001016102",
            encode(&HashMap::from([("a".to_string(), 1i64)])),
        ),
        ("0eff81010102ff820001040106000007ff820003020406", encode(&[1i64, 2, 3])),
        ("050a00020102", encode(&vec![1u8, 2])),
        ("050a00020102", encode(serde_bytes::Bytes::new(&[1, 2]))),
        ("0aff81030102ff8200000003ff8200", encode(&())),
        (
            "0dff83020102ff840001ff8200001fff8103010105506f696e7401ff82000102010158010400010159\
             010400000009ff8400010102010400",
            encode(&vec![Point { x: 1, y: 2 }]),
        ),
        ("040600ffc8", encode(&200u8)),
        ("03020001", encode(&true)),
    ];
    for (go, ours) in cases {
        assert_eq!(hex(go), ours, "Go {go}\nus {}", to_hex(&ours));
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

const GO_OPT_TYPES: &str = "30ff81030101034f707401ff8200010401044e616d65010c0001014e0104000101\
                            4601080001045461677301ff8400000016ff83020101085b5d737472696e6701ff84\
                            00010c0000";

#[test]
fn a_traced_type_is_go_s_whatever_the_value() {
    // Go: Opt{Name: "x"}, Opt{Name: "x", N: &5, F: 1.5, Tags: {"t"}} and Opt{}.
    let nil = format!("{GO_OPT_TYPES}06ff8201017800");
    let set = format!("{GO_OPT_TYPES}10ff82010178010a01fef83f0101017400");
    let zero = format!("{GO_OPT_TYPES}03ff8200");
    let x = || "x".to_string();
    assert_eq!(
        to_hex(&encode_typed(&Opt {
            name: x(),
            ..Opt::default()
        })),
        nil
    );
    let full = Opt {
        name: x(),
        n: Some(5),
        f: 1.5,
        tags: vec!["t".into()],
    };
    assert_eq!(to_hex(&encode_typed(&full)), set);
    assert_eq!(to_hex(&encode_typed(&Opt::default())), zero);
    // Learnt from the value, the full value gives the same type too.
    assert_eq!(to_hex(&encode(&full)), set);
    // And Go's bytes decode back.
    assert_eq!(decode::<Opt>(&hex(&set)), full);
    assert_eq!(decode::<Opt>(&hex(&zero)), Opt::default());
}

#[test]
fn an_untraced_value_leaves_unknown_fields_out_of_its_type() {
    let mut enc = Encoder::new();
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    enc.encode(&mut out, &Opt::default()).unwrap();
    let full = Opt {
        name: "x".into(),
        n: Some(5),
        f: 1.5,
        tags: vec!["t".into()],
    };
    enc.encode(&mut out, &full).unwrap();
    enc.encode(&mut out, &Opt::default()).unwrap();
    let values: Vec<Opt> = decode_all(&mut dec, &out).unwrap();
    assert_eq!(values, [Opt::default(), full, Opt::default()]);
    // Opt without N and Tags, then the full Opt and []string; the third value reuses the
    // full type, which the encoder remembers.
    assert_eq!(dec.type_count(), 3);
    let mut again = Vec::new();
    enc.encode(&mut again, &Opt::default()).unwrap();
    assert_eq!(again, hex("03ff8400"), "{}", to_hex(&again));
}

#[test]
fn types_are_sent_once_per_stream() {
    let mut enc = Encoder::new();
    let mut first = Vec::new();
    enc.encode(&mut first, &Point { x: 22, y: 33 }).unwrap();
    let mut second = Vec::new();
    enc.encode(&mut second, &Point { x: 22, y: 33 }).unwrap();
    assert_eq!(second, hex("07ff82012c014200"));
    let mut dec = Decoder::new();
    let both = [first, second].concat();
    let points: Vec<Point> = decode_all(&mut dec, &both).unwrap();
    assert_eq!(points.len(), 2);
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
struct Everything {
    #[serde(rename = "I8")]
    i8: i8,
    #[serde(rename = "I64")]
    i64: i64,
    #[serde(rename = "U16")]
    u16: u16,
    #[serde(rename = "U64")]
    u64: u64,
    #[serde(rename = "F32")]
    f32: f32,
    #[serde(rename = "B")]
    b: bool,
    #[serde(rename = "C")]
    c: char,
    #[serde(rename = "S")]
    s: String,
    #[serde(rename = "Bytes", with = "serde_bytes")]
    bytes: Vec<u8>,
    #[serde(rename = "Raw")]
    raw: Vec<u8>,
    #[serde(rename = "Points")]
    points: Vec<Point>,
    #[serde(rename = "Grid")]
    grid: [[u8; 2]; 2],
    #[serde(rename = "ByName")]
    by_name: BTreeMap<String, Point>,
    #[serde(rename = "ByNum")]
    by_num: BTreeMap<i64, String>,
    #[serde(rename = "Ptr")]
    ptr: Option<Box<Point>>,
    #[serde(rename = "Unit")]
    unit: (),
    #[serde(rename = "Pair")]
    pair: (i32, i32),
    #[serde(rename = "Kind")]
    kind: Color,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
enum Color {
    #[default]
    Red,
    Green,
}

fn everything() -> Everything {
    Everything {
        i8: -128,
        i64: i64::MIN,
        u16: 65535,
        u64: u64::MAX,
        f32: 1.5,
        b: true,
        c: 'é',
        s: "ünïcödé ✓".into(),
        bytes: vec![0, 1, 255],
        raw: vec![9; 300],
        points: vec![Point { x: 1, y: -1 }, Point::default()],
        grid: [[1, 2], [3, 4]],
        by_name: BTreeMap::from([("a".into(), Point { x: 5, y: 6 })]),
        by_num: BTreeMap::from([(-7, "minus seven".into()), (1 << 40, "big".into())]),
        ptr: Some(Box::new(Point { x: 0, y: 9 })),
        unit: (),
        pair: (3, 4),
        kind: Color::Green,
    }
}

#[test]
fn every_kind_of_value_round_trips() {
    round_trip(&everything());
    round_trip(&Everything::default());
    let back: Everything = decode(&encode_typed(&Everything::default()));
    assert_eq!(back, Everything::default());
    round_trip(&vec![vec![1i64], vec![], vec![2, 3]]);
    round_trip(&Some(0i64));
    round_trip(&String::new());
    round_trip(&HashMap::from([(1u32, vec![Point::default()])]));
    round_trip(&(1u8, 2u8, 3u8));
    let back: Vec<u8> = decode(&encode_typed(&Vec::<u8>::new()));
    assert!(back.is_empty());
}

#[test]
fn zero_fields_decode_without_serde_default() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Strict {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "N")]
        n: Option<i64>,
        #[serde(rename = "F")]
        f: f64,
        #[serde(rename = "Tags")]
        tags: Vec<String>,
    }
    // Go's Opt{} sends no field at all.
    let zero = hex(&format!("{GO_OPT_TYPES}03ff8200"));
    let v: Strict = decode(&zero);
    assert_eq!(
        v,
        Strict {
            name: String::new(),
            n: None,
            f: 0.0,
            tags: Vec::new()
        }
    );
    // A field the wire type lacks altogether is zero too, as Go leaves it.
    #[derive(Deserialize, Debug, PartialEq)]
    struct Extra {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Missing")]
        missing: Point,
        #[serde(rename = "Pair")]
        pair: [i64; 2],
    }
    let v: Extra = decode(&zero);
    assert_eq!(v.missing, Point::default());
    assert_eq!(v.pair, [0, 0]);
    // But a struct with no field in common is a type error, as in Go.
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Unrelated {
        other: i64,
    }
    let err = decode_all::<Unrelated>(&mut Decoder::new(), &zero).unwrap_err();
    assert!(
        err.to_string().contains("no field names in common"),
        "{err}"
    );
}

#[test]
fn fields_the_wire_type_lacks_are_zero_inside_a_vec_too() {
    #[derive(Serialize)]
    struct SentItem {
        #[serde(rename = "A")]
        a: i64,
        #[serde(rename = "Gone")]
        gone: String,
    }
    #[derive(Serialize)]
    struct Sent {
        #[serde(rename = "Items")]
        items: Vec<SentItem>,
    }
    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct Item {
        #[serde(rename = "A")]
        a: i64,
        #[serde(rename = "New")]
        new: Point,
        #[serde(rename = "Tags")]
        tags: Vec<String>,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct Got {
        #[serde(rename = "Items")]
        items: Vec<Item>,
        #[serde(rename = "Total")]
        total: u32,
    }
    let sent = Sent {
        items: vec![
            SentItem {
                a: 1,
                gone: "x".into(),
            },
            SentItem {
                a: 0,
                gone: String::new(),
            },
        ],
    };
    let got: Got = decode(&encode(&sent));
    let first = Item {
        a: 1,
        ..Item::default()
    };
    assert_eq!(
        got,
        Got {
            items: vec![first, Item::default()],
            total: 0
        }
    );
}

#[test]
fn unknown_fields_are_skipped_and_others_matched_by_name() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct TagsOnly {
        #[serde(rename = "Tags")]
        tags: Vec<String>,
        #[serde(rename = "Name")]
        name: String,
    }
    let set = hex(&format!("{GO_OPT_TYPES}10ff82010178010a01fef83f0101017400"));
    let v: TagsOnly = decode(&set);
    assert_eq!(
        v,
        TagsOnly {
            tags: vec!["t".into()],
            name: "x".into()
        }
    );
    let v: Value = decode(&set);
    assert_eq!(v.get("F"), Some(&Value::Float(1.5)));
    assert_eq!(v.get("N"), Some(&Value::Int(5)));
}

#[test]
fn empty_and_absent_values_need_a_traced_type_only_where_they_must_be_typed() {
    #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
    struct Reply {
        #[serde(rename = "Items")]
        items: Vec<Point>,
        #[serde(rename = "Index")]
        index: HashMap<String, Point>,
        #[serde(rename = "Next")]
        next: Option<Point>,
    }
    round_trip(&Reply::default());
    let err = Encoder::new()
        .encode(&mut Vec::new(), &Vec::<Point>::new())
        .unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Unsupported);
    assert!(err.to_string().contains("encode_typed"), "{err}");
    let err = Encoder::new()
        .encode(&mut Vec::new(), &vec![Vec::<i64>::new()])
        .unwrap_err();
    assert!(err.to_string().contains("`[]`"), "{err}");
    // Traced, the full types go out even for empty values.
    let back: Vec<Point> = decode(&encode_typed(&Vec::<Point>::new()));
    assert!(back.is_empty());
    let back: HashMap<i64, String> = decode(&encode_typed(&HashMap::<i64, String>::new()));
    assert!(back.is_empty());
    let back: Reply = decode(&encode_typed(&Reply::default()));
    assert_eq!(back, Reply::default());
    let back: Vec<Vec<i64>> = decode(&encode_typed(&vec![Vec::<i64>::new()]));
    assert_eq!(back, vec![Vec::<i64>::new()]);
}

#[test]
fn recursive_types_trace() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Tree {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Kids")]
        kids: Vec<Tree>,
        #[serde(rename = "Parent")]
        parent: Option<Box<Tree>>,
        #[serde(rename = "Index")]
        index: BTreeMap<String, Tree>,
    }
    let leaf = |n: &str| Tree {
        name: n.into(),
        kids: vec![],
        parent: None,
        index: BTreeMap::new(),
    };
    let mut root = leaf("root");
    root.kids.push(leaf("a"));
    root.parent = Some(Box::new(leaf("up")));
    root.index.insert("b".into(), leaf("b"));
    let back: Tree = decode(&encode_typed(&root));
    assert_eq!(back, root);
    round_trip(&root);

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Wrapper<T> {
        #[serde(rename = "Inner")]
        inner: Option<T>,
    }
    // The same serde name with different parameters is not mistaken for recursion.
    let nested = Wrapper {
        inner: Some(Wrapper { inner: Some(7i64) }),
    };
    let back: Wrapper<Wrapper<i64>> = decode(&encode_typed(&nested));
    assert_eq!(back, nested);
}

#[test]
fn unsupported_values_fail_clearly() {
    #[derive(Serialize)]
    enum E {
        A(i64),
    }
    let mut out = vec![1, 2, 3];
    let mut enc = Encoder::new();
    let err = enc.encode(&mut out, &E::A(1)).unwrap_err();
    assert!(err.to_string().contains("`E::A`"), "{err}");
    assert_eq!(out, [1, 2, 3]);
    let err = enc.encode(&mut out, &1i128).unwrap_err();
    assert!(err.to_string().contains("i128"), "{err}");
    let err = enc.encode(&mut out, &(1i64, "x")).unwrap_err();
    assert!(err.to_string().contains("tuple"), "{err}");
    let err = enc.encode(&mut out, &None::<i64>).unwrap_err();
    assert!(err.to_string().contains("top-level"), "{err}");
    let err = enc.encode(&mut out, &vec![Some(1i64), None]).unwrap_err();
    assert!(err.to_string().contains("None"), "{err}");
    assert_eq!(out, [1, 2, 3]);
    // A failed value leaves no type behind: the next one defines it afresh.
    #[derive(Serialize)]
    struct Half {
        #[serde(rename = "P")]
        p: Point,
        #[serde(rename = "E")]
        e: Vec<Option<i64>>,
    }
    enc.encode(
        &mut out,
        &Half {
            p: Point::default(),
            e: vec![None],
        },
    )
    .unwrap_err();
    out.clear();
    enc.encode(&mut out, &Point::default()).unwrap();
    assert_eq!(decode::<Point>(&out), Point::default());
}

#[test]
fn erased_values_encode_and_decode() {
    let value: Box<dyn erased_serde::Serialize> = Box::new(Point { x: 1, y: 2 });
    let mut out = Vec::new();
    Encoder::new().encode_erased(&mut out, &*value).unwrap();
    let schema = Schema::of::<Vec<Point>>().unwrap();
    let empty: Vec<Point> = Vec::new();
    let mut typed = Vec::new();
    Encoder::new()
        .encode_with(&mut typed, &schema, &empty)
        .unwrap();
    let mut dec = Decoder::new();
    let mut rest = &out[..];
    let mut got = None;
    while let Some((h, n)) = message_len(rest, 1 << 20).unwrap() {
        if let Some(msg) = dec.decode(&rest[h..h + n]).unwrap() {
            got = Some(
                msg.deserialize_erased(|de| erased_serde::deserialize::<Point>(de))
                    .unwrap(),
            );
        }
        rest = &rest[h + n..];
    }
    assert_eq!(got, Some(Point { x: 1, y: 2 }));
}

#[test]
fn borrowed_strings_and_bytes_come_straight_from_the_message() {
    #[derive(Serialize, Deserialize)]
    struct Borrowed<'a> {
        #[serde(rename = "S")]
        s: &'a str,
        #[serde(rename = "B", with = "serde_bytes")]
        b: &'a [u8],
    }
    let stream = encode(&Borrowed { s: "hi", b: b"yo" });
    let mut dec = Decoder::new();
    let mut rest = &stream[..];
    let mut seen = false;
    while let Some((h, n)) = message_len(rest, 1 << 20).unwrap() {
        let msg = &rest[h..h + n];
        if let Some(v) = dec.decode(msg).unwrap() {
            let b: Borrowed<'_> = v.deserialize().unwrap();
            assert_eq!((b.s, b.b), ("hi", &b"yo"[..]));
            seen = true;
        }
        rest = &rest[h + n..];
    }
    assert!(seen);
}

#[test]
fn message_len_checks_the_limit_first() {
    assert_eq!(message_len(&[], 10).unwrap(), None);
    assert_eq!(message_len(&[0x05], 10).unwrap(), Some((1, 5)));
    assert_eq!(message_len(&[0xfe, 0x01], 1 << 20).unwrap(), None);
    assert_eq!(
        message_len(&[0xfe, 0x01, 0x00], 1 << 20).unwrap(),
        Some((3, 256))
    );
    let err = message_len(&[0xfc, 0x7f, 0xff, 0xff, 0xff], 1 << 20).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit);
    assert!(message_len(&[0xf0], 10).is_err());
}

#[test]
fn decoder_limits_hold() {
    // Nesting: [][][]...int, 200 levels deep, one element each.
    let mut v = Value::Int(1);
    for _ in 0..150 {
        v = Value::Seq(vec![v]);
    }
    let err = Encoder::new().encode(&mut Vec::new(), &v).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit);
    // Too many type definitions.
    let mut dec = Decoder::with_limits(Limits {
        max_types: 2,
        ..Limits::default()
    });
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    enc.encode(&mut out, &vec![vec![vec![1i64]]]).unwrap();
    let err = decode_all::<Vec<Vec<Vec<i64>>>>(&mut dec, &out).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit);
    // A hostile array type: [1<<40]int, absent from a struct that is sent empty.
    let mut msg = Vec::new();
    let mut def = Vec::new();
    wire::put_int(&mut def, -65);
    def.extend_from_slice(&[1, 1, 2, 0xff, 0x82, 0, 1, 4, 1]);
    wire::put_int(&mut def, 1 << 40);
    def.extend_from_slice(&[0, 0]);
    write_message_len(&mut msg, def.len());
    msg.extend_from_slice(&def);
    // struct { A [1<<40]int } as id 66
    let mut def = Vec::new();
    wire::put_int(&mut def, -66);
    def.extend_from_slice(&[
        3, 1, 2, 0xff, 0x84, 0, 1, 1, 1, 1, b'A', 1, 0xff, 0x82, 0, 0, 0,
    ]);
    write_message_len(&mut msg, def.len());
    msg.extend_from_slice(&def);
    msg.extend_from_slice(&[3, 0xff, 0x84, 0]);
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Big {
        #[serde(rename = "A")]
        a: Vec<i64>,
    }
    let err = decode_all::<Big>(&mut Decoder::new(), &msg).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit, "{err}");
    // Skipped instead, it costs nothing.
    #[derive(Deserialize, Debug)]
    struct Nothing {}
    decode_all::<Nothing>(&mut Decoder::new(), &msg).unwrap();
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Feeds a message to a decoder and, if it is a value, decodes it a few ways.
fn feed(dec: &mut Decoder, msg: &[u8]) {
    if let Ok(Some(v)) = dec.decode(msg) {
        let _ = v.deserialize::<Value>();
        let _ = v.deserialize::<Everything>();
        let _ = v.deserialize::<Vec<Point>>();
        let _ = v.deserialize::<HashMap<String, Value>>();
        let _ = v.deserialize::<String>();
        let _ = v.skip();
    }
}

#[test]
fn hostile_bytes_never_panic() {
    let mut corpus = vec![encode(&everything()), encode(&Everything::default())];
    corpus.push(hex(&format!(
        "{GO_OPT_TYPES}10ff82010178010a01fef83f0101017400"
    )));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for stream in &corpus {
        // Every truncation of every message.
        let mut rest = &stream[..];
        let mut messages = Vec::new();
        while let Some((h, n)) = message_len(rest, 1 << 20).unwrap() {
            messages.push(&rest[h..h + n]);
            rest = &rest[h + n..];
        }
        for cut in 0..messages.len() {
            for len in 0..messages[cut].len() {
                let mut dec = Decoder::new();
                for m in &messages[..cut] {
                    feed(&mut dec, m);
                }
                feed(&mut dec, &messages[cut][..len]);
            }
        }
        // Random corruption.
        let rounds: usize = std::env::var("GOB_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        for _ in 0..rounds {
            // Corrupt one message (so the others, type definitions included, stay valid).
            let target = (rng.next() as usize) % messages.len();
            let mut dec = Decoder::new();
            for (k, m) in messages.iter().enumerate() {
                let mut m = m.to_vec();
                if k == target {
                    for _ in 0..1 + rng.next() % 3 {
                        let i = (rng.next() as usize) % m.len();
                        m[i] = rng.next() as u8;
                    }
                }
                feed(&mut dec, &m);
            }
        }
    }
    // Pure noise.
    for _ in 0..5000 {
        let len = (rng.next() % 64) as usize;
        let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut dec = Decoder::new();
        feed(&mut dec, &noise);
        let _ = message_len(&noise, 1 << 20);
    }
}

#[test]
fn one_struct_has_one_wire_type_within_a_value() {
    // Go's decoder compiles one wire type per Go type within a value: `Inner` in a field and
    // in a slice must share a definition even when the values show different fields.
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Inner {
        name: String,
        tags: Vec<String>,
        p: Option<Point>,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Outer {
        inner: Inner,
        kids: Vec<Inner>,
    }
    let value = Outer {
        inner: Inner {
            name: "n".into(),
            tags: vec!["x".into()],
            p: None,
        },
        kids: vec![Inner {
            p: Some(Point { x: 1, y: 1 }),
            ..Inner::default()
        }],
    };
    let mut dec = Decoder::new();
    let back: Vec<Outer> = decode_all(&mut dec, &encode(&value)).unwrap();
    assert_eq!(back, [value]);
    // Outer, Inner, []string, Point, []Inner.
    assert_eq!(dec.type_count(), 5);
}

fn message(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

#[test]
fn recursive_wire_types_are_bounded_by_depth() {
    // type T []T, and a value nested 300 deep.
    let mut stream = message(&[0xff, 0x81, 2, 1, 2, 0xff, 0x82, 0, 1, 0xff, 0x82, 0, 0]);
    let mut value = vec![0xff, 0x82, 0];
    value.extend_from_slice(&[1; 300]);
    value.push(0);
    stream.extend(message(&value));
    let err = decode_all::<Value>(&mut Decoder::new(), &stream).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit, "{err}");
    let err = decode_all::<serde::de::IgnoredAny>(&mut Decoder::new(), &stream).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit, "{err}");

    // type T struct { A T }: an empty value has a zero A, whose zero A... bounded too.
    let mut stream = message(&[
        0xff, 0x81, 3, 1, 1, 1, b'T', 1, 0xff, 0x82, 0, 1, 1, 1, 1, b'A', 1, 0xff, 0x82, 0, 0, 0,
    ]);
    stream.extend(message(&[0xff, 0x82, 0]));
    // In Go, T can hold a T only through a pointer, and that zero pointer is nil.
    let value = decode_all::<Value>(&mut Decoder::new(), &stream).unwrap();
    assert_eq!(
        value,
        [Value::Map(vec![(Value::String("A".into()), Value::Nil)])]
    );
    // Skipping it reads one byte.
    decode_all::<serde::de::IgnoredAny>(&mut Decoder::new(), &stream).unwrap();
}

/// A type definition message: struct `name`, id `id`, with `fields` (name, type id).
fn struct_def(id: i64, name: &str, fields: &[(&str, i64)]) -> Vec<u8> {
    let mut body = Vec::new();
    wire::put_int(&mut body, -id);
    body.extend_from_slice(&[3, 1, 1]); // StructT, CommonType, Name
    wire::put_bytes(&mut body, name.as_bytes());
    body.push(1); // Id
    wire::put_int(&mut body, id);
    body.push(0);
    body.push(1); // Field
    wire::put_uint(&mut body, fields.len() as u64);
    for (field, ty) in fields {
        body.push(1);
        wire::put_bytes(&mut body, field.as_bytes());
        body.push(1);
        wire::put_int(&mut body, *ty);
        body.push(0);
    }
    body.extend_from_slice(&[0, 0]);
    message(&body)
}

#[test]
fn absent_structs_cost_their_zero_values() {
    // T0 = struct { A, B T1 }, T1 = struct { A, B T2 }, ..., T40 = struct { X int }: a value
    // of T0 with no field present would expand to 2^40 zero structs.
    let mut stream = Vec::new();
    for level in 0..40 {
        let next = 301 + level;
        stream.extend(struct_def(300 + level, "T", &[("A", next), ("B", next)]));
    }
    stream.extend(struct_def(340, "Leaf", &[("X", 2)]));
    let mut value = Vec::new();
    wire::put_int(&mut value, 300);
    value.push(0);
    stream.extend(message(&value));
    let err = decode_all::<Value>(&mut Decoder::new(), &stream).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit, "{err}");
    assert!(err.to_string().contains("zero values"), "{err}");
    // Twelve levels, 8,191 zero structs, are fine.
    let mut stream = Vec::new();
    for level in 0..12 {
        let next = 301 + level;
        stream.extend(struct_def(300 + level, "T", &[("A", next), ("B", next)]));
    }
    stream.extend(struct_def(312, "Leaf", &[("X", 2)]));
    stream.extend(message(&value));
    decode_all::<Value>(&mut Decoder::new(), &stream).unwrap();
}

#[test]
fn type_definitions_declare_a_bounded_number_of_fields() {
    // struct { ... }: n unnamed int fields, three bytes each on the wire, 32 in memory.
    let def = |id: i64, n: u64| {
        let mut body = Vec::new();
        wire::put_int(&mut body, -id);
        body.extend_from_slice(&[3, 1, 1]);
        wire::put_bytes(&mut body, b"Wide");
        body.push(1);
        wire::put_int(&mut body, id);
        body.extend_from_slice(&[0, 1]);
        wire::put_uint(&mut body, n);
        for _ in 0..n {
            body.extend_from_slice(&[2, 4, 0]);
        }
        body.extend_from_slice(&[0, 0]);
        body
    };
    let mut dec = Decoder::new();
    assert!(dec.decode(&def(300, 1 << 17)).unwrap().is_none());
    assert!(dec.decode(&def(301, 1 << 17)).unwrap().is_none());
    let err = dec.decode(&def(302, 1)).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Limit, "{err}");
}

#[test]
fn the_deepest_values_decode_within_a_connection_thread_s_stack() {
    // A server decodes arguments on its connection thread: values at the depth limit,
    // present or absent, must fit in its stack.
    let recursive = {
        let mut stream = struct_def(300, "T", &[("A", 300), ("B", 2)]);
        let mut value = Vec::new();
        wire::put_int(&mut value, 300);
        // Present A fields nested as deep as the limit allows, then an absent one.
        value.extend(std::iter::repeat_n(1, DEFAULT_MAX_DEPTH - 1));
        value.extend(std::iter::repeat_n(0, DEFAULT_MAX_DEPTH - 1));
        value.push(0);
        stream.extend(message(&value));
        stream
    };
    std::thread::Builder::new()
        .stack_size(crate::transport::READER_STACK_SIZE)
        .spawn(move || decode_all::<Value>(&mut Decoder::new(), &recursive).map(|_| ()))
        .unwrap()
        .join()
        .expect("the decoder's thread survives")
        .unwrap();
}

#[test]
fn malformed_streams_are_refused() {
    let mut dec = Decoder::new();
    // A value of a type never defined.
    assert_eq!(
        dec.decode(&[0xff, 0x82, 0]).unwrap_err().kind(),
        GobErrorKind::Malformed
    );
    // A definition of a predefined id.
    assert!(dec.decode(&[0x03, 2, 1, 2, 0x04, 0, 1, 4, 0, 0]).is_err());
    // Trailing bytes after a value.
    let v = dec.decode(&[0x04, 0, 0x02, 0x09]).unwrap().unwrap();
    assert!(v.deserialize::<i64>().is_err());
    // A defined type defined again.
    let def = [0xff, 0x81, 2, 1, 2, 0xff, 0x82, 0, 1, 4, 0, 0];
    assert!(dec.decode(&def).unwrap().is_none());
    assert!(dec.decode(&def).is_err());
    // A struct field number past the type's fields.
    let mut dec = Decoder::new();
    let stream =
        hex("1fff8103010105506f696e7401ff82000102010158010400010159010400000007ff82012c034200");
    let err = decode_all::<Point>(&mut dec, &stream).unwrap_err();
    assert_eq!(err.kind(), GobErrorKind::Malformed, "{err}");
}

#[test]
fn encoders_and_decoders_move_between_threads() {
    fn send<T: Send + 'static>() {}
    send::<Encoder>();
    send::<Decoder>();
    send::<Schema>();
    send::<GobError>();
}

#[test]
fn net_rpc_streams_match_go() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename = "Request", rename_all = "PascalCase")]
    struct Request {
        service_method: String,
        seq: u64,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename = "Response", rename_all = "PascalCase")]
    struct Response {
        service_method: String,
        seq: u64,
        error: String,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename = "Args")]
    struct Args {
        #[serde(rename = "A")]
        a: i64,
        #[serde(rename = "B")]
        b: i64,
    }
    // What Go's net/rpc client writes for two calls of Arith.Multiply...
    let go_requests =
        "2fff81030101075265717565737401ff82000102010d536572766963654d6574686f64010c0001\
        03536571010600000013ff82010e41726974682e4d756c7469706c79001eff83030101044172677301ff84000\
        102010141010400010142010400000007ff84010e01100015ff82010e41726974682e4d756c7469706c790101\
        0007ff84010c010e00";
    // ...and what its server answers to a call and a failed call.
    let go_responses =
        "3aff8103010108526573706f6e736501ff82000103010d536572766963654d6574686f64010c\
        00010353657101060001054572726f72010c00000013ff82010e41726974682e4d756c7469706c79000304007\
        023ff82010c41726974682e4469766964650101010e646976696465206279207a65726f000aff83030102ff84\
        00000003ff8400";
    let method = |m: &str| m.to_string();
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    for (seq, a, b) in [(0, 7, 8), (1, 6, 7)] {
        let header = Request {
            service_method: method("Arith.Multiply"),
            seq,
        };
        enc.encode(&mut out, &header).unwrap();
        enc.encode(&mut out, &Args { a, b }).unwrap();
    }
    assert_eq!(to_hex(&out), go_requests);

    let mut enc = Encoder::new();
    let mut out = Vec::new();
    let ok = Response {
        service_method: method("Arith.Multiply"),
        seq: 0,
        error: String::new(),
    };
    enc.encode(&mut out, &ok).unwrap();
    enc.encode(&mut out, &56i64).unwrap();
    let failed = Response {
        service_method: method("Arith.Divide"),
        seq: 1,
        error: "divide by zero".into(),
    };
    enc.encode(&mut out, &failed).unwrap();
    enc.encode(&mut out, &()).unwrap();
    assert_eq!(to_hex(&out), go_responses);

    // A reader of Go's responses: header, then the body as the reply type or skipped.
    let stream = hex(go_responses);
    let mut dec = Decoder::new();
    let mut rest = &stream[..];
    let mut seen = Vec::new();
    let mut header: Option<Response> = None;
    while let Some((h, n)) = message_len(rest, 1 << 20).unwrap() {
        if let Some(msg) = dec.decode(&rest[h..h + n]).unwrap() {
            match header.take() {
                None => header = Some(msg.deserialize().unwrap()),
                Some(resp) if resp.error.is_empty() => {
                    seen.push((resp, Some(msg.deserialize::<i64>().unwrap())))
                }
                Some(resp) => {
                    msg.skip().unwrap();
                    seen.push((resp, None));
                }
            }
        }
        rest = &rest[h + n..];
    }
    assert_eq!(seen, [(ok, Some(56)), (failed, None)]);
}

#[test]
fn errors_passed_through_serde_s_layers_keep_one_prefix() {
    // Each layer of serde (and erased_serde, which the server decodes arguments through)
    // makes the inner error text and builds a new one from it.
    let inner = GobError::limit("the value nests deeper than 100 levels");
    let mut err = inner.clone();
    for _ in 0..3 {
        err = <GobError as serde::de::Error>::custom(&err);
        err = GobError::from(<erased_serde::Error as serde::de::Error>::custom(&err));
    }
    assert_eq!(err.to_string(), inner.to_string());
}

#[test]
fn a_nil_pointer_to_an_enclosing_type_under_a_slice_is_a_zero_value() {
    // Go: type T struct { Name string; Kids []U }; type U struct { X int; P *T }, with one
    // P nil. Through the slice, T does not hold itself by value: the nil P is a zero T.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct T {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Kids")]
        kids: Vec<U>,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct U {
        #[serde(rename = "X")]
        x: i64,
        #[serde(rename = "P")]
        p: Option<Box<T>>,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct T2 {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Kids")]
        kids: Vec<U2>,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct U2 {
        #[serde(rename = "X")]
        x: i64,
        #[serde(rename = "P")]
        p: T2,
    }
    let inner = T {
        name: "in".into(),
        kids: vec![],
    };
    let value = T {
        name: "root".into(),
        kids: vec![
            U { x: 1, p: None },
            U {
                x: 2,
                p: Some(Box::new(inner)),
            },
        ],
    };
    let stream = encode_typed(&value);
    let zero = || T2 {
        name: String::new(),
        kids: vec![],
    };
    let back: Vec<T2> = decode_all(&mut Decoder::new(), &stream).unwrap();
    assert_eq!(
        back,
        [T2 {
            name: "root".into(),
            kids: vec![
                U2 { x: 1, p: zero() },
                U2 {
                    x: 2,
                    p: T2 {
                        name: "in".into(),
                        kids: vec![]
                    }
                },
            ],
        }]
    );
    let back: Vec<T> = decode_all(&mut Decoder::new(), &stream).unwrap();
    assert_eq!(back, [value]);
}

#[test]
fn an_interface_value_may_define_its_type() {
    // Go 1.19: gob.Register(Circle{}); enc.Encode(&WithAny{"any", Circle{2.5}}), where
    // WithAny is struct { Name string; Any interface{} }. Circle's definition comes inside
    // the value, after the interface's type name.
    let stream = hex(concat!(
        "26ff810301010757697468416e7901ff8200010201044e616d65010c000103416e7901100000002e",
        "ff820103616e79010b6d61696e2e436972636c65ff8303010106436972636c6501ff840001010101",
        "52010800000009ff840501fe04400000",
    ));
    #[derive(Deserialize, Debug)]
    struct WithAny {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Any")]
        any: Value,
    }
    // Three messages: WithAny's definition; the value up to Circle's definition, where Go
    // ends the message; the rest of the value. Joined as the Decoder's docs say.
    let mut messages = Vec::new();
    let mut rest = &stream[..];
    while let Some((header, len)) = message_len(rest, 1 << 20).unwrap() {
        messages.push(&rest[..header + len]);
        rest = &rest[header + len..];
    }
    assert_eq!(messages.len(), 3);
    let mut dec = Decoder::new();
    assert!(dec.decode(&messages[0][1..]).unwrap().is_none());
    let first = dec.decode(&messages[1][1..]).unwrap().unwrap();
    assert!(first.deserialize::<WithAny>().is_err());
    assert!(dec.value_continues());
    assert!(dec.define_inline_types().unwrap());
    let joined = [&messages[1][1..], messages[2]].concat();
    let value: WithAny = dec.decode(&joined).unwrap().unwrap().deserialize().unwrap();
    assert_eq!(value.name, "any");
    assert_eq!(value.any.get("R"), Some(&Value::Float(2.5)));
    // Circle is defined for the rest of the stream now.
    assert_eq!(dec.type_count(), 2);
}

/// gob's unsigned integer.
fn gob_uint(out: &mut Vec<u8>, x: u64) {
    if x < 128 {
        out.push(x as u8);
        return;
    }
    let bytes = x.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push((-((8 - skip) as i8)) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

fn gob_int(out: &mut Vec<u8>, i: i64) {
    gob_uint(
        out,
        if i < 0 {
            (!(i as u64) << 1) | 1
        } else {
            (i as u64) << 1
        },
    );
}

fn gob_str(out: &mut Vec<u8>, s: &str) {
    gob_uint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A struct type definition `name` (id `id`), its fields `(name, type id)`.
fn struct_type(out: &mut Vec<u8>, name: &str, id: i64, fields: &[(&str, i64)]) {
    out.extend_from_slice(&[3, 1, 1]); // StructT, CommonType, Name
    gob_str(out, name);
    out.push(1); // Id
    gob_int(out, id);
    out.push(0);
    if !fields.is_empty() {
        out.push(1); // Field
        gob_uint(out, fields.len() as u64);
        for (field, ty) in fields {
            out.push(1);
            gob_str(out, field);
            out.push(1);
            gob_int(out, *ty);
            out.push(0);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// A stream of `S { F []interface{} }` holding `n` values of `n` new empty struct types,
/// each defined inside its interface value, all in the value's one message.
fn interfaces_defining_types(n: usize) -> Vec<Vec<u8>> {
    let mut slice = Vec::new();
    gob_int(&mut slice, -66);
    slice.extend_from_slice(&[2, 1, 1]); // SliceT, CommonType, Name
    gob_str(&mut slice, "[]interface {}");
    slice.push(1);
    gob_int(&mut slice, 66);
    slice.extend_from_slice(&[0, 1]); // Elem: interface
    gob_int(&mut slice, 8);
    slice.extend_from_slice(&[0, 0]);
    let mut s = Vec::new();
    gob_int(&mut s, -65);
    struct_type(&mut s, "S", 65, &[("F", 66)]);
    let mut value = Vec::new();
    gob_int(&mut value, 65);
    value.push(1); // F
    gob_uint(&mut value, n as u64);
    for k in 0..n {
        let id = 67 + k as i64;
        gob_str(&mut value, &format!("C{k}"));
        gob_int(&mut value, -id);
        struct_type(&mut value, &format!("C{k}"), id, &[]);
        value.push(0); // the count Go skips
        gob_int(&mut value, id);
        value.extend_from_slice(&[1, 0]); // the empty struct, delimited
    }
    value.push(0);
    vec![slice, s, value]
}

#[test]
fn a_value_may_define_a_bounded_number_of_types_inside_it() {
    #[derive(Deserialize)]
    struct S {
        #[serde(rename = "F")]
        f: Vec<Value>,
    }
    let decode = |n| {
        let mut dec = Decoder::new();
        let messages = interfaces_defining_types(n);
        for m in &messages[..2] {
            assert!(dec.decode_value::<S>(m).unwrap().is_none());
        }
        dec.decode_value::<S>(&messages[2])
            .map(|s| s.unwrap().f.len())
    };
    assert_eq!(
        decode(Decoder::MAX_DECODES - 1).unwrap(),
        Decoder::MAX_DECODES - 1
    );
    let e = decode(Decoder::MAX_DECODES).unwrap_err();
    assert_eq!(e.kind(), GobErrorKind::Limit, "{e}");
}

#[test]
fn an_interface_value_inside_another_that_defines_its_type_ends_the_stream() {
    // Go 1.19: gob.Register(T1{}); gob.Register(Box{});
    // enc.Encode(&S{F: Box{Inner: T1{7}}}), where S and Box each hold an interface{}, and
    // neither Box nor T1 was sent before: T1's definition comes inside Box's value.
    let stream = hex(concat!(
        "15ff81030101015301ff82000101010146011000000027ff8201086d61696e2e426f78ff830301",
        "0103426f7801ff840001010105496e6e657201100000002bff841f01076d61696e2e5431ff8503",
        "010102543101ff8600010101014e010400000007ff8603010e000000",
    ));
    #[derive(Deserialize, Debug)]
    struct S {
        #[serde(rename = "F")]
        _f: Value,
    }
    let mut messages = Vec::new();
    let mut rest = &stream[..];
    while let Some((header, len)) = message_len(rest, 1 << 20).unwrap() {
        messages.push(&rest[header..header + len]);
        rest = &rest[header + len..];
    }
    let mut dec = Decoder::new();
    assert!(dec.decode_value::<S>(messages[0]).unwrap().is_none());
    // The first try meets Box's definition, which ends the message: join the next one on
    // (length and all) and decode again, as the Decoder's docs say.
    assert!(dec.decode_value::<S>(messages[1]).is_err());
    let joined = [
        messages[1],
        &stream[1 + messages[0].len() + 1 + messages[1].len()..],
    ]
    .concat();
    let e = dec.decode_value::<S>(&joined).unwrap_err();
    assert!(
        e.message().contains("inside another interface value"),
        "{e}"
    );
    assert!(!dec.in_step());
}

#[test]
fn times_encode_themselves_and_a_zero_one_is_left_out() {
    #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Log {
        at: super::Time,
        zero: super::Time,
        seen: Vec<super::Time>,
    }
    let at = super::Time::from_unix(1_700_000_000, 42)
        .with_offset(-4 * 3600)
        .unwrap();
    let log = Log {
        at,
        zero: super::Time::default(),
        seen: vec![at, super::Time::default()],
    };
    round_trip(&log);
    round_trip(&at);
    round_trip(&super::Time::default());
    // Traced from Deserialize, an empty Vec<Time> still has its type; the zero field is not
    // in the value.
    let empty = Log {
        at,
        ..Log::default()
    };
    let stream = encode_typed(&empty);
    assert_eq!(decode::<Log>(&stream), empty);
    // Behind a pointer, Go sends a zero time (a nil pointer is what it leaves out).
    #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Maybe {
        at: Option<super::Time>,
    }
    round_trip(&Maybe {
        at: Some(super::Time::default()),
    });
    round_trip(&Maybe { at: None });
    let nothing = encode_typed(&Log::default());
    let epoch = encode_typed(&Log {
        zero: super::Time::from_unix(0, 0),
        ..Log::default()
    });
    // Field delta, length and Go's 15 bytes.
    assert_eq!(epoch.len(), nothing.len() + 17);
}
