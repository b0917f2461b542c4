//! Deadlines for calls nobody is blocked on: one process-wide thread fires them in order.
//!
//! A blocking call waits with a timeout of its own and needs none of this; a `go` call with a
//! deadline must complete with [`Error::Timeout`](crate::Error::Timeout) even if its caller is
//! busy elsewhere, so its deadline is handed to this thread. A call that completes first
//! cancels its deadline, so completed calls leave nothing behind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, Weak};
use std::thread;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// What to do when a deadline passes. Held weakly: a closed client's deadlines fire into
/// nothing.
pub(crate) trait Expire: Send + Sync {
    /// The deadline `key` of call `seq` passed.
    fn expire(&self, seq: u64, key: Key);
}

/// One deadline: when, and a number no other deadline has, so that a stale deadline can
/// never expire a later call that reuses a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    at: Instant,
    id: u64,
}

impl Key {
    pub(crate) fn new(at: Instant) -> Key {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Key {
            at,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// Each deadline with the call it is for and whom to tell.
type Deadlines = BTreeMap<Key, (u64, Weak<dyn Expire>)>;

struct Timer {
    deadlines: Mutex<Deadlines>,
    /// Signalled when a deadline earlier than all others is added.
    earlier: Condvar,
}

/// The timer, its thread started on first use; `None` if the thread cannot start.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            deadlines: Mutex::new(BTreeMap::new()),
            earlier: Condvar::new(),
        }));
        let spawned = thread::Builder::new()
            .name("netrpc-timer".to_owned())
            .stack_size(256 << 10)
            .spawn(move || timer.run());
        match spawned {
            Ok(_) => Some(timer),
            Err(e) => {
                tracing::error!("rpc: cannot start the deadline thread: {e}");
                None
            }
        }
    })
}

/// Calls `target.expire(seq, key)` when `key` is due, unless cancelled first.
pub(crate) fn schedule(key: Key, seq: u64, target: Weak<dyn Expire>) {
    let Some(timer) = timer() else {
        // Without the thread, expire early rather than never: now.
        if let Some(target) = target.upgrade() {
            target.expire(seq, key);
        }
        return;
    };
    let mut deadlines = timer.deadlines.lock();
    let first = deadlines
        .first_key_value()
        .is_none_or(|(first, _)| key < *first);
    deadlines.insert(key, (seq, target));
    if first {
        timer.earlier.notify_one();
    }
}

/// Forgets a deadline whose call completed.
pub(crate) fn cancel(key: Key) {
    if let Some(timer) = timer() {
        timer.deadlines.lock().remove(&key);
    }
}

/// How many deadlines are waiting.
#[cfg(test)]
pub(crate) fn scheduled() -> usize {
    timer().map_or(0, |timer| timer.deadlines.lock().len())
}

impl Timer {
    fn run(&self) {
        let mut deadlines = self.deadlines.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = deadlines.first_entry() {
                if entry.key().at > now {
                    break;
                }
                let key = *entry.key();
                due.push((key, entry.remove()));
            }
            if !due.is_empty() {
                drop(deadlines);
                for (key, (seq, target)) in due {
                    if let Some(target) = target.upgrade() {
                        target.expire(seq, key);
                    }
                }
                deadlines = self.deadlines.lock();
                continue;
            }
            match deadlines.first_key_value().map(|(key, _)| key.at) {
                Some(at) => {
                    self.earlier.wait_until(&mut deadlines, at);
                }
                None => self.earlier.wait(&mut deadlines),
            }
        }
    }
}
