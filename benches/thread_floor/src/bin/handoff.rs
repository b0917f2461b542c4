//! What one hand-off between two OS threads costs on this machine: two threads take turns,
//! each waking the other through a `Mutex` and `Condvar` and parking until it is woken back,
//! as a connection's reader hands a call to a parked worker. Run under `perf stat -e
//! task-clock,context-switches` to see the CPU and the switches per hand-off.
//!
//! usage: handoff [SECONDS]   (default 3); prints hand-offs per second and µs per hand-off.

use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .map_or(3.0, |s| s.parse().expect("SECONDS is a number"));
    // Whose turn it is (0 or 1), and whether to stop.
    let turn = Arc::new((Mutex::new((0u8, false)), Condvar::new()));
    let other = {
        let turn = Arc::clone(&turn);
        thread::spawn(move || take_turns(&turn, 1))
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut handoffs = 0u64;
    let (lock, cvar) = &*turn;
    let mut state = lock.lock().unwrap();
    while Instant::now() < deadline {
        state.0 = 1;
        cvar.notify_one();
        while state.0 != 0 {
            state = cvar.wait(state).unwrap();
        }
        handoffs += 2;
    }
    state.1 = true;
    state.0 = 1;
    cvar.notify_one();
    drop(state);
    other.join().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{{\"handoffs_per_sec\":{:.0},\"us_per_handoff\":{:.2}}}",
        handoffs as f64 / elapsed,
        elapsed * 1e6 / handoffs as f64
    );
}

fn take_turns(turn: &(Mutex<(u8, bool)>, Condvar), me: u8) {
    let (lock, cvar) = turn;
    let mut state = lock.lock().unwrap();
    loop {
        while state.0 != me {
            state = cvar.wait(state).unwrap();
        }
        if state.1 {
            return;
        }
        state.0 = 1 - me;
        cvar.notify_one();
    }
}
