//! Criterion benchmarks: the MessagePack-RPC codec on its own, and calls over loopback.
//!
//! Run: `cargo bench -p netrpc-extras --bench rpc` (add `-- codec` or `-- loopback` to pick a
//! group).

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netrpc::codec::{
    erased_serde, ClientCodec, Request, RequestEncoder, Response, ResponseEncoder, ServerCodec,
};
use netrpc::wire::msgpack::{MsgpackClientCodec, MsgpackServerCodec};
use netrpc::{Client, Conn, Server, Service};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

/// An in-memory connection: reads replay `input` forever, writes are counted and dropped.
struct MemConn {
    input: Arc<[u8]>,
    pos: usize,
}

impl MemConn {
    fn new(input: Vec<u8>) -> Self {
        MemConn {
            input: input.into(),
            pos: 0,
        }
    }
}

impl Read for MemConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.input.len();
        Ok(n)
    }
}

impl Write for MemConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        black_box(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Conn for MemConn {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(MemConn {
            input: Arc::clone(&self.input),
            pos: self.pos,
        })
    }

    fn shutdown(&self) -> io::Result<()> {
        Ok(())
    }

    fn peer(&self) -> String {
        "memory".to_owned()
    }
}

fn request_header() -> Request {
    let mut header = Request::default();
    header.seq = 42;
    header.service_method = "Arith.Multiply".to_owned();
    header
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let args = Args { a: 7, b: 8 };

    let (mut encoder, _output) = MsgpackClientCodec::new(MemConn::new(Vec::new()))
        .writer()
        .unwrap();
    let header = request_header();
    let mut buf = Vec::new();
    group.bench_function("encode_request", |b| {
        b.iter(|| {
            buf.clear();
            encoder
                .encode_request(&mut buf, &header, black_box(&args))
                .unwrap();
            black_box(&buf);
        })
    });

    // One encoded request, replayed: [0, 42, "Arith.Multiply", [{"A": 7, "B": 8}]].
    let mut request = vec![0x94, 0x00, 42];
    rmp::encode::write_str(&mut request, "Arith.Multiply").unwrap();
    request.push(0x91);
    request.extend(rmp_serde::to_vec_named(&args).unwrap());
    let mut server = MsgpackServerCodec::new(MemConn::new(request));
    group.bench_function("decode_request", |b| {
        b.iter(|| {
            let header = server.read_request_header().unwrap().unwrap();
            let mut decode = |de: &mut dyn erased_serde::Deserializer<'_>| {
                black_box(erased_serde::deserialize::<Args>(de)?);
                Ok(())
            };
            server.read_request_body(Some(&mut decode)).unwrap();
            black_box(header);
        })
    });

    let (mut encoder, _output) = MsgpackServerCodec::new(MemConn::new(Vec::new()))
        .writer()
        .unwrap();
    let mut response = Response::default();
    response.seq = 42;
    group.bench_function("encode_response", |b| {
        b.iter(|| {
            buf.clear();
            encoder
                .encode_response(&mut buf, &response, Some(black_box(&56i64)))
                .unwrap();
            black_box(&buf);
        })
    });

    // [1, 42, nil, 56]
    let mut client = MsgpackClientCodec::new(MemConn::new(vec![0x94, 0x01, 42, 0xc0, 56]));
    group.bench_function("decode_response", |b| {
        b.iter(|| {
            let header = client.read_response_header().unwrap().unwrap();
            let mut decode = |de: &mut dyn erased_serde::Deserializer<'_>| {
                black_box(erased_serde::deserialize::<i64>(de)?);
                Ok(())
            };
            client.read_response_body(Some(&mut decode)).unwrap();
            black_box(header);
        })
    });
    group.finish();
}

struct Arith;

fn loopback(c: &mut Criterion) {
    let server = Server::new();
    server
        .register(
            Service::new(Arith).method("Multiply", |_: &Arith, a: Args| Ok::<_, String>(a.a * a.b)),
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || server.accept(&listener));
    let client = Client::dial(addr).unwrap();
    let args = Args { a: 7, b: 8 };

    let mut group = c.benchmark_group("loopback");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sync_call", |b| {
        b.iter(|| {
            let product: i64 = client.call("Arith.Multiply", &args).unwrap();
            assert_eq!(product, 56);
        })
    });
    group.throughput(Throughput::Elements(1000));
    group.bench_function("pipelined_1000_go_calls", |b| {
        b.iter(|| {
            let calls: Vec<_> = (0..1000)
                .map(|_| client.go::<_, i64>("Arith.Multiply", &args))
                .collect();
            for call in calls {
                assert_eq!(call.wait().unwrap(), 56);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, codec, loopback);
criterion_main!(benches);
