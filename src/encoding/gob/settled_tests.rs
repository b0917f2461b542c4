//! What an encoder settles a learnt shape into, kept between values (`Encoder::settle`),
//! against the same work done afresh for every value: on random streams of values whose
//! shapes change (empty, `None`, full; generic, recursive and dynamic values; one that fails
//! to encode midway), both encoders must send the same bytes, which a decoder must take.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::ser::Error as _;
use serde::{Deserialize, Serialize, Serializer};

use super::*;

#[derive(Serialize, Clone, Debug)]
#[serde(rename = "W")]
struct W<T> {
    v: T,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename = "Tree")]
struct Tree {
    val: Option<i64>,
    kids: Vec<Tree>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename = "Pair")]
struct Pair {
    a: W<Option<i64>>,
    b: Option<W<Vec<W<Option<String>>>>>,
    c: Vec<W<Option<i64>>>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename = "Rec")]
struct Rec {
    name: Option<String>,
    tags: Vec<String>,
    m: BTreeMap<String, Vec<i64>>,
    inner: Option<Box<Rec>>,
    w: Option<W<Option<Tree>>>,
}

/// Serializes on its first call, fails on its second, and so on: a value that learns its
/// type and then fails to encode midway.
#[derive(Debug)]
struct Flaky(Cell<u32>, Option<i64>);

impl Serialize for Flaky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0.get();
        self.0.set(n + 1);
        if n % 2 == 1 {
            return Err(S::Error::custom("flaky"));
        }
        self.1.serialize(s)
    }
}

#[derive(Serialize, Debug)]
#[serde(rename = "Holder")]
struct Holder {
    first: W<Option<i64>>,
    list: Vec<W<Option<i64>>>,
    flaky: Flaky,
    last: Option<W<String>>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct Header {
    #[serde(rename = "ServiceMethod")]
    service_method: String,
    #[serde(rename = "Seq")]
    seq: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
    fn opt_i(&mut self) -> Option<i64> {
        (self.next(2) == 0).then(|| self.next(100) as i64)
    }
    fn opt_s(&mut self) -> Option<String> {
        (self.next(2) == 0).then(|| "s".to_string())
    }
    fn tree(&mut self, depth: u32) -> Tree {
        let kids = if depth > 0 { self.next(3) } else { 0 };
        Tree {
            val: self.opt_i(),
            kids: (0..kids).map(|_| self.tree(depth - 1)).collect(),
        }
    }
    fn pair(&mut self) -> Pair {
        Pair {
            a: W { v: self.opt_i() },
            b: (self.next(2) == 0).then(|| W {
                v: (0..self.next(3)).map(|_| W { v: self.opt_s() }).collect(),
            }),
            c: (0..self.next(3)).map(|_| W { v: self.opt_i() }).collect(),
        }
    }
    fn rec(&mut self, depth: u32) -> Rec {
        Rec {
            name: self.opt_s(),
            tags: (0..self.next(2)).map(|_| "t".into()).collect(),
            m: (0..self.next(2))
                .map(|i| (i.to_string(), (0..self.next(2) as i64).collect()))
                .collect(),
            inner: (depth > 0 && self.next(2) == 0).then(|| Box::new(self.rec(depth - 1))),
            w: (self.next(2) == 0).then(|| W {
                v: (self.next(2) == 0).then(|| self.tree(2)),
            }),
        }
    }
    fn value(&mut self, depth: u32) -> Value {
        match self.next(if depth == 0 { 3 } else { 6 }) {
            0 => Value::Int(1),
            1 => Value::String("x".into()),
            2 => Value::Nil,
            3 => Value::Seq((0..self.next(3)).map(|_| self.value(depth - 1)).collect()),
            _ => Value::Map(
                (0..self.next(3))
                    .map(|_| (Value::String("k".into()), self.value(depth - 1)))
                    .collect(),
            ),
        }
    }
}

/// Encodes the `i`th value (by `rng`) with `enc`, plainly or as an RPC body.
fn one(enc: &mut Encoder, rng: &mut Rng, rpc: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    macro_rules! go {
        ($v:expr) => {{
            let v = $v;
            if rpc {
                let h = Header::default();
                enc.encode_rpc(&mut out, &h, &v, 1 << 20)
            } else {
                enc.encode(&mut out, &v)
            }
        }};
    }
    let result = match rng.next(10) {
        0 => go!(W { v: rng.opt_i() }),
        1 => go!(W {
            v: (0..rng.next(3))
                .map(|_| "a".to_string())
                .collect::<Vec<_>>()
        }),
        2 => go!(rng.tree(3)),
        3 => go!(rng.pair()),
        4 => go!(rng.rec(2)),
        5 => go!(rng.value(3)),
        6 => go!(Holder {
            first: W { v: rng.opt_i() },
            list: (0..rng.next(3)).map(|_| W { v: rng.opt_i() }).collect(),
            flaky: Flaky(Cell::new(rng.next(2) as u32), rng.opt_i()),
            last: (rng.next(2) == 0).then(|| W { v: "z".into() }),
        }),
        7 => go!(W {
            v: (rng.next(2) == 0).then(|| W { v: rng.opt_i() })
        }),
        8 => go!((
            W { v: rng.opt_i() },
            W {
                v: (rng.next(2) == 0).then(|| W { v: rng.opt_s() })
            },
            rng.tree(2)
        )),
        _ => go!(vec![rng.pair(), rng.pair()]),
    };
    result.map(|()| out).map_err(|e| e.to_string())
}

#[test]
fn an_encoder_sends_what_it_would_with_nothing_kept() {
    let (mut sent, mut refused) = (0, 0);
    for seed in 0..300u64 {
        for rpc in [false, true] {
            let (mut kept, mut fresh) = (Encoder::new(), Encoder::new());
            let (mut a, mut b) = (Rng(seed), Rng(seed));
            let mut dec = Decoder::new();
            for step in 0..40 {
                fresh.settled.clear();
                fresh.last_settled = None;
                let got = one(&mut kept, &mut a, rpc);
                let want = one(&mut fresh, &mut b, rpc);
                assert_eq!(got, want, "seed {seed}, rpc {rpc}, value {step}");
                let Ok(bytes) = got else {
                    refused += 1;
                    continue;
                };
                sent += 1;
                let mut stream = &bytes[..];
                while !stream.is_empty() {
                    let (header, len) = message_len(stream, 1 << 30).unwrap().unwrap();
                    if let Some(message) = dec
                        .decode(&stream[header..header + len])
                        .unwrap_or_else(|e| panic!("seed {seed}, value {step}: {e}"))
                    {
                        message.skip().unwrap();
                    }
                    stream = &stream[header + len..];
                }
            }
        }
    }
    // Both paths ran: values sent, and values refused (the flaky one, and shapes gob cannot
    // send).
    assert!(
        sent > 1000 && refused > 100,
        "sent {sent}, refused {refused}"
    );
}
