//! A burst of calls whose methods call the same server back, as Go programs do with
//! goroutines: every call completes, others are answered meanwhile, and the threads leave
//! after. In a binary of its own: it starts thousands of threads and counts them.

mod common;

use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{Args, WAIT};
use netrpc::{Client, Server, Service};

/// Calls back into its own server through one client that every call shares.
struct Nest {
    back: Arc<OnceLock<Client>>,
}

impl Nest {
    fn outer(&self, ms: u64) -> Result<u64, String> {
        let client = self.back.get().ok_or("not wired yet")?;
        client
            .call::<_, u64>("Test.Sleep", &ms)
            .map_err(|e| format!("the nested call failed: {e}"))
    }
}

/// The threads of this process.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[test]
fn eight_thousand_nested_calls_complete_and_the_server_stays_responsive() {
    const CALLS: usize = 8_000;
    const CONNS: usize = 4;
    let keep_alive = Duration::from_millis(500);
    let server = Server::builder().worker_keep_alive(keep_alive).build();
    common::register_all(&server);
    let back = Arc::new(OnceLock::new());
    server
        .register(
            Service::new(Nest {
                back: Arc::clone(&back),
            })
            .method("Outer", Nest::outer),
        )
        .unwrap();
    let addr = common::serve(&server);
    let dial = || {
        Client::builder()
            .timeout(Some(Duration::from_secs(30)))
            .dial(addr)
            .unwrap()
    };
    back.set(dial()).unwrap();
    let clients: Vec<Client> = (0..CONNS).map(|_| dial()).collect();
    let fresh = dial();
    assert_eq!(
        fresh
            .call::<_, i64>("Arith.Multiply", &Args { a: 2, b: 3 })
            .unwrap(),
        6
    );
    let idle = threads();

    let started = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|i| clients[i % CONNS].go::<_, u64>("Nest.Outer", &100u64))
        .collect();
    // During the burst, an unrelated call is answered at once.
    let asked = Instant::now();
    let product: i64 = fresh
        .call_timeout(
            "Arith.Multiply",
            &Args { a: 6, b: 7 },
            Duration::from_secs(1),
        )
        .expect("an unrelated call during the burst");
    assert_eq!(product, 42);
    let answered_in = asked.elapsed();
    assert!(answered_in < Duration::from_secs(1), "{answered_in:?}");

    let mut failed = Vec::new();
    for call in calls {
        match call.done.recv_timeout(WAIT * 3) {
            Ok(done) => match done.result {
                Ok(ms) => assert_eq!(ms, 100),
                Err(e) => failed.push(e.to_string()),
            },
            Err(_) => failed.push("no completion".to_owned()),
        }
    }
    let took = started.elapsed();
    assert!(
        failed.is_empty(),
        "{} of {CALLS} nested calls failed, the first: {}",
        failed.len(),
        failed[0]
    );
    let peak = threads();
    println!("{CALLS} nested calls in {took:?}; an unrelated call answered in {answered_in:?}; {idle} threads idle, {peak} after the burst");

    // The threads the burst needed leave once idle: the pool keeps one per slot, and its
    // monitor; the clients' timer thread started with the first `go` deadline.
    let kept = idle + thread::available_parallelism().map_or(2, |n| n.get()) + 2;
    // Thousands of threads whose waits end together take the pool's lock in turn to leave,
    // which a machine busy with other work stretches out: the bound is for threads that stay.
    let deadline = Instant::now() + keep_alive + WAIT * 3;
    while threads() > kept && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        threads() <= kept,
        "{} threads, {idle} before the burst",
        threads()
    );
}
