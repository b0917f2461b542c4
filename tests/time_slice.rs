//! A call that keeps a core busy for long gives its core up to waiting calls after a time
//! slice, as Go preempts a goroutine. On its own, so that its spinning calls do not crowd the
//! other tests' cores. Found by the review of tests/user_code.rs.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use netrpc::{Client, Error, Server, Service};

// ---------------------------------------------------------------------------------------
// 10. Calls that keep a core busy for long held their slots for as long as they ran: an
//     unrelated client's trivial call waited behind them (Go preempts after ~10 ms).

struct Spinner;

impl Spinner {
    fn spin(&self, ms: u64) -> Result<u64, String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(ms) {
            std::hint::spin_loop();
        }
        Ok(ms)
    }

    fn ping(&self, (): ()) -> Result<u64, String> {
        Ok(0)
    }
}

#[test]
fn a_trivial_call_does_not_wait_for_long_cpu_bound_calls_to_finish() {
    let server = Server::new();
    server
        .register(
            Service::new(Spinner)
                .method("Spin", Spinner::spin)
                .method("Ping", Spinner::ping),
        )
        .unwrap();
    let addr = common::serve(&server);
    let busy = Client::dial(addr).unwrap();
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let spins: Vec<_> = (0..cores)
        .map(|_| busy.go::<_, u64>("Spinner.Spin", &3000u64))
        .collect();
    thread::sleep(Duration::from_millis(200));
    let other = Client::dial(addr).unwrap();
    let started = Instant::now();
    let r: Result<u64, Error> = other.call_timeout("Spinner.Ping", &(), Duration::from_secs(6));
    let took = started.elapsed();
    for call in spins {
        let _ = call.done.recv_timeout(Duration::from_secs(10));
    }
    assert!(r.is_ok(), "{r:?}");
    assert!(
        took < Duration::from_millis(500),
        "a trivial call took {took:?} behind {cores} CPU-bound calls of 3 s"
    );
}
