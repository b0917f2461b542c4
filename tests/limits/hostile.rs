//! Hostile peers against a live server: good clients keep calling while others send garbage,
//! claim huge messages, stall, flood without reading, or vanish mid-request.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{start_with, Args, WAIT};
use netrpc::Server;

const READ_TIMEOUT: Duration = Duration::from_millis(300);
const WRITE_TIMEOUT: Duration = Duration::from_millis(300);

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Reads until the server closes; returns how long that took.
/// This process's threads, less the worker pool's.
fn threads_but_workers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim() != "netrpc-worker")
                .count()
        })
        .unwrap_or(0)
}

fn time_to_close(mut conn: TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    started.elapsed()
}

fn hostile(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let _ = conn.write_all(bytes);
    conn
}

fn request(method: &str, arg: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = vec![0x94, 0x00, 0x01];
    rmp::encode::write_str(&mut bytes, method).unwrap();
    bytes.push(0x91);
    arg(&mut bytes);
    bytes
}

#[test]
fn good_clients_are_served_while_hostile_ones_are_cut_off() {
    let h = start_with(
        Server::builder()
            .max_message_size(1 << 20)
            .read_timeout(Some(READ_TIMEOUT))
            .write_timeout(Some(WRITE_TIMEOUT))
            .build(),
    );
    let addr = h.addr;
    let threads_before = threads_but_workers();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    thread::scope(|s| {
        let good: Vec<_> = (0..4)
            .map(|_| {
                let (h, stop) = (&h, &stop);
                s.spawn(move || {
                    let client = h.client();
                    let mut latencies = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        let product: i64 = client
                            .call("Arith.Multiply", &Args { a: 6, b: 7 })
                            .expect("a good call failed");
                        assert_eq!(product, 42);
                        latencies.push(t0.elapsed());
                    }
                    latencies
                })
            })
            .collect();

        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut random = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect()
        };
        let mut closing = Vec::new();
        for _ in 0..20 {
            let len = 1 + (random(1)[0] as usize) * 4;
            closing.push(("random bytes", hostile(addr, &random(len))));
        }
        let huge = request("Echo.Echo", |b| {
            b.extend_from_slice(&[0xdb, 0xff, 0xff, 0xff, 0xff])
        });
        closing.push(("4 GiB string", hostile(addr, &huge)));
        for _ in 0..5 {
            closing.push(("slowloris", hostile(addr, &[0x94, 0x00, 0x01, 0xa5, b'A'])));
        }
        let flood: Vec<u8> = (0..64)
            .flat_map(|_| {
                request("Test.Repeat", |b| {
                    rmp::encode::write_uint(b, 256 << 10).map(drop).unwrap()
                })
            })
            .collect();
        let flooders: Vec<_> = (0..2).map(|_| hostile(addr, &flood)).collect();
        for _ in 0..20 {
            let half = request("Arith.Multiply", |b| {
                b.extend_from_slice(&[0x82, 0xa1, b'A'])
            });
            drop(hostile(addr, &half));
        }

        for (what, conn) in closing {
            let took = time_to_close(conn);
            assert!(took < READ_TIMEOUT * 4, "{what}: closed after {took:?}");
        }
        // Flooders do not read: give the server's writes time to time out, then drain.
        thread::sleep(WRITE_TIMEOUT * 3);
        for conn in flooders {
            assert!(time_to_close(conn) < WAIT);
        }
        stop.store(true, Ordering::Relaxed);
        let mut latencies: Vec<Duration> =
            good.into_iter().flat_map(|g| g.join().unwrap()).collect();
        latencies.sort();
        let p99 = latencies[latencies.len() * 99 / 100];
        let slowest = latencies[latencies.len() - 1];
        eprintln!(
            "hostile: 48 hostile connections over {:?}; {} good calls, p99 {:?}, slowest {:?}",
            started.elapsed(),
            latencies.len(),
            p99,
            slowest
        );
        assert!(!latencies.is_empty());
        // A flooder that reads nothing holds the workers answering it for at most about twice
        // the write timeout (one more blocked write after the deadline passes), not for as
        // long as it keeps its connection open.
        assert!(
            slowest < WRITE_TIMEOUT * 3,
            "a good call waited {slowest:?}"
        );
    });
    // Connection threads end with their connections; workers stay within the pool's bound.
    // Workers the flood started linger a while as the pool's idle threads; the threads of
    // the connections must end.
    common::eventually("connection threads to end", || {
        threads_but_workers() <= threads_before + 40
    });
    assert!(
        proc_status("VmHWM:") < 512 << 10,
        "peak memory {} kB",
        proc_status("VmHWM:")
    );
}
