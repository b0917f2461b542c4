//! The worker pool that runs methods, so that a connection's reader thread only reads.
//!
//! As many workers run at once as there are cores: more would only take turns on the same
//! cores, a context switch each turn. A job queued while that many are busy waits for one of
//! them, which takes it as soon as it finishes its own; jobs arriving together are so run back
//! to back by the threads already awake, and their responses leave together. Methods that block
//! (on I/O, on locks, or on calls to other servers) would hold the queue up, so a monitor
//! thread watches it while jobs wait: when no job has been taken for [`PoolConfig::stall`], the
//! workers are blocked, and it wakes or starts a worker for every job that has waited that
//! long, up to the maximum. (Jobs that wait while others are being taken mean the cores are
//! busy; more threads would not help.) Threads beyond the core count leave after a while
//! without work.
//!
//! The queue is bounded: when it is full, [`Pool::execute`] blocks, which stops the submitting
//! connection from reading more requests (backpressure) instead of queueing without bound.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

type Job = Box<dyn FnOnce() + Send>;

/// How long a thread beyond the core count waits for work before it leaves.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How many stall periods the monitor watches an empty queue before it parks.
const MONITOR_LINGER: u32 = 10;

/// Sizes of a [`Pool`].
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    /// Workers that run at once while jobs keep them busy; also kept when idle.
    pub(crate) core: usize,
    /// Threads at most.
    pub(crate) max: usize,
    /// Jobs waiting for a thread at most.
    pub(crate) queue: usize,
    /// Stack size of each worker thread.
    pub(crate) stack_size: usize,
    /// How long the queue may go without a job taken before workers are woken or started for
    /// the jobs that have waited that long.
    pub(crate) stall: Duration,
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// The queue is a mutex and condition variables rather than a channel: a worker that runs out
/// of work parks at once instead of spinning and yielding first, which on a busy machine costs
/// more CPU than the methods it runs.
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled to wake one idle worker.
    has_job: Condvar,
    /// Signalled when a job leaves a full queue.
    has_room: Condvar,
    /// Signalled to wake the monitor when jobs start to wait.
    backlog: Condvar,
    config: PoolConfig,
}

struct Queue {
    /// Each job with the time it was queued.
    jobs: VecDeque<(Instant, Job)>,
    /// Jobs taken so far: the monitor's measure of progress.
    taken: u64,
    /// Worker threads alive.
    threads: usize,
    /// Workers parked on `has_job`.
    idle: usize,
    /// Workers not parked: running a job, or about to look for one.
    awake: usize,
    monitor: Monitor,
    /// Set when the pool is dropped: workers leave once the queue is empty.
    closed: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Monitor {
    NotStarted,
    Parked,
    Watching,
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    taken: 0,
                    threads: 0,
                    idle: 0,
                    awake: 0,
                    monitor: Monitor::NotStarted,
                    closed: false,
                }),
                has_job: Condvar::new(),
                has_room: Condvar::new(),
                backlog: Condvar::new(),
                config,
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
        queue.jobs.push_back((Instant::now(), Box::new(job)));
        if queue.awake < shared.config.core {
            shared.wake_worker(&mut queue);
        } else {
            shared.watch(&mut queue);
        }
        if queue.threads == 0 {
            // No thread could be started at all: run the job here rather than never.
            let job = queue.jobs.pop_front();
            drop(queue);
            if let Some((_, job)) = job {
                job();
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut queue = self.shared.queue.lock();
        queue.closed = true;
        queue.awake += queue.idle;
        queue.idle = 0;
        self.shared.has_job.notify_all();
        self.shared.backlog.notify_all();
    }
}

impl Shared {
    /// Wakes an idle worker, or starts one unless the pool is at its maximum; false if no
    /// worker is on its way.
    fn wake_worker(self: &Arc<Self>, queue: &mut MutexGuard<'_, Queue>) -> bool {
        if queue.idle > 0 {
            // The waker does the bookkeeping, so that the next job counts this worker as
            // awake at once. No thread woken means the idle one is timing out: it will look
            // at the queue and count itself.
            if self.has_job.notify_one() {
                queue.idle -= 1;
                queue.awake += 1;
            }
            return true;
        }
        if queue.threads >= self.config.max {
            return false;
        }
        queue.threads += 1;
        queue.awake += 1;
        let worker = Arc::clone(self);
        let spawned = MutexGuard::unlocked(queue, || {
            thread::Builder::new()
                .name("netrpc-worker".to_owned())
                .stack_size(self.config.stack_size)
                .spawn(move || worker.work())
        });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                queue.threads -= 1;
                queue.awake -= 1;
                log::error!("rpc: cannot start a worker thread: {e}");
                false
            }
        }
    }

    /// Has the monitor watch a queue that jobs wait in.
    fn watch(self: &Arc<Self>, queue: &mut MutexGuard<'_, Queue>) {
        match queue.monitor {
            Monitor::Watching => {}
            Monitor::Parked => {
                queue.monitor = Monitor::Watching;
                self.backlog.notify_one();
            }
            Monitor::NotStarted => {
                queue.monitor = Monitor::Watching;
                let monitor = Arc::clone(self);
                let spawned = MutexGuard::unlocked(queue, || {
                    thread::Builder::new()
                        .name("netrpc-pool-monitor".to_owned())
                        .stack_size(64 << 10)
                        .spawn(move || monitor.monitor())
                });
                if let Err(e) = spawned {
                    queue.monitor = Monitor::NotStarted;
                    log::error!("rpc: cannot start the worker pool's monitor thread: {e}");
                    // Without a monitor, waiting jobs must not depend on busy workers.
                    self.wake_worker(queue);
                }
            }
        }
    }

    fn work(&self) {
        let mut queue = self.queue.lock();
        loop {
            if let Some((_, job)) = queue.jobs.pop_front() {
                queue.taken += 1;
                drop(queue);
                self.has_room.notify_one();
                job();
                queue = self.queue.lock();
            } else if queue.closed || !self.park(&mut queue) {
                queue.awake -= 1;
                queue.threads -= 1;
                return;
            }
        }
    }

    /// Parks an awake worker until it is woken for a job; false if it should leave instead.
    fn park(&self, queue: &mut MutexGuard<'_, Queue>) -> bool {
        queue.awake -= 1;
        queue.idle += 1;
        let deadline = Instant::now() + KEEP_ALIVE;
        // A worker that timed out as the pool closed was counted awake by `Drop` already.
        if self.has_job.wait_until(queue, deadline).timed_out() && !queue.closed {
            queue.idle -= 1;
            queue.awake += 1;
            return !(queue.jobs.is_empty() && queue.threads > self.config.core);
        }
        true
    }

    /// While jobs wait, checks every stall period whether one was taken; if none was, the
    /// workers are blocked, and it wakes or starts a worker for each job that has waited a
    /// stall period or more. Parks when the queue has stayed empty a while.
    fn monitor(self: Arc<Self>) {
        let mut queue = self.queue.lock();
        let mut empty_ticks = 0;
        while !queue.closed {
            if queue.jobs.is_empty() {
                empty_ticks += 1;
                if empty_ticks > MONITOR_LINGER {
                    queue.monitor = Monitor::Parked;
                    self.backlog.wait(&mut queue);
                    empty_ticks = 0;
                    continue;
                }
            } else {
                empty_ticks = 0;
            }
            let taken = queue.taken;
            self.backlog.wait_for(&mut queue, self.config.stall);
            if queue.taken != taken {
                continue;
            }
            let now = Instant::now();
            let late = queue
                .jobs
                .iter()
                .take_while(|(queued, _)| now.duration_since(*queued) >= self.config.stall)
                .count();
            for _ in 0..late {
                if !self.wake_worker(&mut queue) {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn config(core: usize, max: usize, stall: Duration) -> PoolConfig {
        PoolConfig {
            core,
            max,
            queue: 64,
            stack_size: 256 * 1024,
            stall,
        }
    }

    #[test]
    fn blocked_jobs_do_not_starve_others() {
        let pool = Pool::new(config(1, 4, Duration::from_millis(1)));
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
    fn runs_as_many_jobs_at_once_as_there_are_cores() {
        // A monitor that never steps in: only the core count decides.
        let pool = Pool::new(config(2, 8, Duration::from_secs(60)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = unbounded();
        for i in 0..40 {
            let (running, most, tx) = (running.clone(), most.clone(), tx.clone());
            pool.execute(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                thread::sleep(Duration::from_micros(200));
                running.fetch_sub(1, Ordering::SeqCst);
                tx.send(i).unwrap();
            });
        }
        let mut got: Vec<i32> = (0..40)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert!(pool.shared.queue.lock().threads <= 2);
    }

    #[test]
    fn thread_count_stays_within_max() {
        let pool = Pool::new(config(1, 2, Duration::from_millis(1)));
        let (tx, rx) = unbounded();
        for i in 0..10 {
            let tx = tx.clone();
            pool.execute(move || {
                thread::sleep(Duration::from_millis(5));
                tx.send(i).unwrap();
            });
            assert!(pool.shared.queue.lock().threads <= 2);
        }
        let mut got: Vec<i32> = (0..10)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}
