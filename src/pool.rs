//! The worker pool that runs methods, so that a connection's reader thread only reads.
//!
//! Threads start on demand, up to a maximum, when queued jobs outnumber idle workers; threads
//! beyond the core count leave after a while without work. The queue is bounded: when it is
//! full, [`Pool::execute`] blocks, which stops the submitting connection from reading more
//! requests (backpressure) instead of queueing without bound.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// How long a thread beyond the core count waits for work before it leaves.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Sizes of a [`Pool`].
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    /// Threads kept even when idle.
    pub(crate) core: usize,
    /// Threads at most.
    pub(crate) max: usize,
    /// Jobs waiting for a thread at most.
    pub(crate) queue: usize,
    /// Stack size of each worker thread.
    pub(crate) stack_size: usize,
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// The queue is a mutex and two condition variables rather than a channel: a worker that
/// runs out of work parks at once instead of spinning and yielding first, which on a busy
/// machine costs more CPU than the methods it runs.
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a job is queued.
    has_job: Condvar,
    /// Signalled when a job leaves a full queue.
    has_room: Condvar,
    config: PoolConfig,
    threads: AtomicUsize,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Workers waiting for a job.
    idle: usize,
    /// Set when the pool is dropped: workers leave once the queue is empty.
    closed: bool,
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    idle: 0,
                    closed: false,
                }),
                has_job: Condvar::new(),
                has_room: Condvar::new(),
                config,
                threads: AtomicUsize::new(0),
            }),
        }
    }

    /// Runs `job` on a worker, waiting for room in the queue if it is full.
    pub(crate) fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let shared = &self.shared;
        let mut queue = shared.queue.lock();
        while queue.jobs.len() >= shared.config.queue.max(1) {
            shared.has_room.wait(&mut queue);
        }
        queue.jobs.push_back(Box::new(job));
        let starved = queue.jobs.len() > queue.idle;
        drop(queue);
        shared.has_job.notify_one();
        if starved && !self.spawn_worker() && shared.threads.load(Ordering::Acquire) == 0 {
            // No thread could be started at all: run the job here rather than never.
            let job = shared.queue.lock().jobs.pop_front();
            if let Some(job) = job {
                job();
            }
        }
    }

    /// Starts one more worker unless the pool is at its maximum; false if none started.
    fn spawn_worker(&self) -> bool {
        let shared = &self.shared;
        let mut threads = shared.threads.load(Ordering::Acquire);
        loop {
            if threads >= shared.config.max {
                return false;
            }
            match shared.threads.compare_exchange(
                threads,
                threads + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => threads = now,
            }
        }
        let worker = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("netrpc-worker".to_owned())
            .stack_size(shared.config.stack_size)
            .spawn(move || worker.work());
        if let Err(e) = spawned {
            shared.threads.fetch_sub(1, Ordering::AcqRel);
            log::error!("rpc: cannot start a worker thread: {e}");
            return false;
        }
        true
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.queue.lock().closed = true;
        self.shared.has_job.notify_all();
    }
}

impl Shared {
    fn work(&self) {
        while let Some(job) = self.next_job() {
            job();
        }
    }

    /// Waits for a job; `None` when this thread should leave.
    fn next_job(&self) -> Option<Job> {
        let mut queue = self.queue.lock();
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                drop(queue);
                self.has_room.notify_one();
                return Some(job);
            }
            if queue.closed {
                self.threads.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
            queue.idle += 1;
            let deadline = Instant::now() + KEEP_ALIVE;
            let timed_out = self.has_job.wait_until(&mut queue, deadline).timed_out();
            queue.idle -= 1;
            if timed_out && queue.jobs.is_empty() && self.leave_if_surplus() {
                return None;
            }
        }
    }

    /// Gives up this thread's place if there are more threads than the core count.
    fn leave_if_surplus(&self) -> bool {
        let mut threads = self.threads.load(Ordering::Acquire);
        while threads > self.config.core {
            match self.threads.compare_exchange(
                threads,
                threads - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => threads = now,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    fn config(max: usize) -> PoolConfig {
        PoolConfig {
            core: 1,
            max,
            queue: 16,
            stack_size: 256 * 1024,
        }
    }

    #[test]
    fn blocked_jobs_do_not_starve_others() {
        let pool = Pool::new(config(4));
        let (release_tx, release_rx) = unbounded::<()>();
        let (done_tx, done_rx) = unbounded();
        // Two jobs that block until released, then one that must still run.
        for _ in 0..2 {
            let release = release_rx.clone();
            pool.execute(move || {
                let _ = release.recv_timeout(Duration::from_secs(5));
            });
        }
        pool.execute(move || done_tx.send(()).unwrap());
        assert!(done_rx.recv_timeout(Duration::from_secs(5)).is_ok());
        drop(release_tx);
    }

    #[test]
    fn thread_count_stays_within_max() {
        let pool = Pool::new(config(2));
        let (tx, rx) = unbounded();
        for i in 0..10 {
            let tx = tx.clone();
            pool.execute(move || {
                thread::sleep(Duration::from_millis(5));
                tx.send(i).unwrap();
            });
            assert!(pool.shared.threads.load(Ordering::Acquire) <= 2);
        }
        let mut got: Vec<i32> = (0..10)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}
