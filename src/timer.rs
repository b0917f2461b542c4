//! Deadlines for calls nobody is blocked on: one process-wide thread fires them in order.
//!
//! A blocking call waits with a timeout on its own channel and needs none of this; a `go` call
//! with a deadline must complete with [`Error::Timeout`](crate::Error::Timeout) even if its
//! caller is busy elsewhere, so its deadline is handed to this thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{OnceLock, Weak};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

/// What to do when a deadline passes. Holds the client weakly: a closed client's deadlines
/// fire into nothing.
pub(crate) trait Expire: Send + Sync {
    /// The deadline of call `seq` passed.
    fn expire(&self, seq: u64);
}

struct Deadline {
    at: Instant,
    seq: u64,
    target: Weak<dyn Expire>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Deadline {}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// Calls `target.expire(seq)` at `at`, unless `target` is gone by then.
pub(crate) fn schedule(at: Instant, seq: u64, target: Weak<dyn Expire>) {
    static TIMER: OnceLock<Option<Sender<Deadline>>> = OnceLock::new();
    let timer = TIMER.get_or_init(|| {
        let (tx, rx) = unbounded();
        let spawned = thread::Builder::new()
            .name("netrpc-timer".to_owned())
            .stack_size(256 << 10)
            .spawn(move || run(&rx));
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                log::error!("rpc: cannot start the deadline thread: {e}");
                None
            }
        }
    });
    let deadline = Deadline { at, seq, target };
    let unsent = match timer {
        Some(tx) => tx.send(deadline).err().map(|e| e.into_inner()),
        None => Some(deadline),
    };
    // Without the thread, expire early rather than never: now.
    if let Some(target) = unsent.and_then(|d| d.target.upgrade()) {
        target.expire(seq);
    }
}

fn run(rx: &Receiver<Deadline>) {
    let mut heap: BinaryHeap<Reverse<Deadline>> = BinaryHeap::new();
    loop {
        let next = match heap.peek() {
            Some(Reverse(first)) => rx.recv_deadline(first.at),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(deadline) => heap.push(Reverse(deadline)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(first)| first.at <= now) {
            if let Some(Reverse(due)) = heap.pop() {
                if let Some(target) = due.target.upgrade() {
                    target.expire(due.seq);
                }
            }
        }
    }
}
