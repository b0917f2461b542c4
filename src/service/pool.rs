//! The worker pool that runs methods, so that a connection's reader thread only reads.
//!
//! Modelled on Go's scheduler: there is a *slot* per core, and a queued job runs in a free
//! slot. Jobs arriving together run back to back on the threads already awake (a worker that
//! finishes takes the next queued job without a wake-up), so a CPU-bound load runs on as many
//! threads as there are cores, and no more take turns on them.
//!
//! Methods that block (a database query, a file read, a call to another server, or back into
//! this one) must not hold slots while jobs wait. A monitor thread watches the slots while
//! jobs wait: a job that has run for [`BLOCKED_AFTER`] and whose thread has since spent most
//! of a tick neither on a CPU nor waiting for one (Linux: `/proc/self/task/<tid>/schedstat`;
//! elsewhere, any job that has run that long) gives up its slot, and the slot goes to a
//! waiting job on another thread, woken or started. A thread that is
//! only preempted keeps its slot: more threads would not help, except that no job keeps a
//! slot longer than [`TIME_SLICE`] while others wait, so that a long CPU-bound call holds up a
//! quick one at most that long, as Go preempts a goroutine. (A job past its slice that the
//! monitor had not yet found asleep keeps it one look longer, a quarter of a millisecond, so
//! that a monitor held up on a busy machine still learns which jobs block.) A thread waiting
//! for a lock longer than that blocks like any other, as a goroutine waiting on a mutex gives
//! its thread up in Go.
//! The method is remembered as one that blocks ([`Hint`]): its next calls get a thread of
//! their own at once, as goroutines would, until a run of quick calls, or a long call that
//! never slept (the first 16 calls after it blocked are asked, then one in 64:
//! `voluntary_ctxt_switches`), says otherwise.
//!
//! There is no bound on threads, as there is none on goroutines: a bound that blocked calls
//! can fill is a deadlock that a burst of nested calls reaches. What bounds the jobs is the
//! caller's bound on calls in flight (a connection's, a client's). Threads beyond the slots
//! leave after [`PoolConfig::keep_alive`] without work. A thread the system refuses is
//! logged, and asked for again at the monitor's next tick; a job that waits for a thread
//! longer than [`SATURATED_AFTER`] is logged too.

use std::collections::VecDeque;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::panic::panic_message;
use crate::telemetry::PoolGauges;

/// How long a job runs in a slot before the monitor asks whether its thread is blocked.
pub(crate) const BLOCKED_AFTER: Duration = Duration::from_micros(200);

/// How often the monitor looks at the slots while jobs wait...
const TICK: Duration = Duration::from_millis(1);

/// ...and how soon it looks again at a job it is measuring.
const RECHECK: Duration = Duration::from_micros(250);

/// How long a job keeps its slot while others wait, even if it is busy all along, unless
/// configured otherwise: then the operating system shares the cores among them, as Go
/// preempts a goroutine after 10 ms.
pub(crate) const TIME_SLICE: Duration = Duration::from_millis(10);

/// How long a thread beyond the core count waits for work before it leaves, unless
/// configured otherwise.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long a job may wait for a thread before the pool says it is saturated.
pub(crate) const SATURATED_AFTER: Duration = Duration::from_secs(1);

/// How many ticks the monitor watches an empty queue before it parks.
const MONITOR_LINGER: u32 = 20;

/// Quick calls in a row after which a method is no longer taken to block.
const FADE: u32 = 16;

/// Sizes of a [`Pool`].
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    /// Slots: jobs that run at once while none blocks.
    pub(crate) core: usize,
    /// How long a thread beyond the slots waits for work before it leaves ([`KEEP_ALIVE`]).
    pub(crate) keep_alive: Duration,
    /// Stack size of each worker thread.
    pub(crate) stack_size: usize,
    /// How long a job keeps its slot while others wait ([`TIME_SLICE`]).
    pub(crate) time_slice: Duration,
}

/// What the pool has learnt of one method: whether its calls block.
#[derive(Debug, Default)]
pub(crate) struct Hint {
    blocking: AtomicBool,
    /// Quick calls in a row since the method was last seen blocking.
    quick: AtomicU32,
    /// Calls run while the method was taken to block, to sample one in [`SAMPLE_EVERY`].
    runs: AtomicU32,
}

/// One call in this many of a method taken to block is asked whether it slept...
const SAMPLE_EVERY: u32 = 64;

/// ...and each of this many first, after it was seen blocking.
const SAMPLE_FIRST: u32 = 16;

impl Hint {
    /// Whether calls of the method are taken to block, and so get a thread at once.
    pub(crate) fn blocks(&self) -> bool {
        self.blocking.load(Ordering::Relaxed)
    }

    fn saw_blocking(&self) {
        self.quick.store(0, Ordering::Relaxed);
        self.runs.store(0, Ordering::Relaxed);
        self.blocking.store(true, Ordering::Relaxed);
    }

    /// Whether to ask the call about to run whether it slept: each of the first calls after
    /// the method was seen blocking, then one in [`SAMPLE_EVERY`].
    fn sample(&self) -> bool {
        if !self.blocks() {
            return false;
        }
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        run < SAMPLE_FIRST || run.is_multiple_of(SAMPLE_EVERY)
    }

    /// A call of the method took `took`, and `slept` says whether its thread went to sleep
    /// meanwhile, where that was asked and could be told. A long call that never slept is
    /// CPU-bound: the method no longer counts as blocking, and its calls keep to the slots.
    fn saw_run(&self, took: Duration, slept: Option<bool>) {
        if !self.blocks() {
            return;
        }
        if took < BLOCKED_AFTER {
            if self.quick.fetch_add(1, Ordering::Relaxed) + 1 >= FADE {
                self.blocking.store(false, Ordering::Relaxed);
            }
        } else if slept == Some(false) {
            self.blocking.store(false, Ordering::Relaxed);
        } else {
            self.quick.store(0, Ordering::Relaxed);
        }
    }
}

type Task = Box<dyn FnOnce() + Send>;

struct Job {
    task: Task,
    hint: Arc<Hint>,
    /// The order it was handed to the pool in.
    number: u64,
}

pub(crate) struct Pool {
    workers: Arc<Workers>,
}

/// The queue is a mutex and condition variables rather than a channel: a worker that runs out
/// of work parks at once instead of spinning and yielding first, which on a busy machine costs
/// more CPU than the methods it runs.
struct Workers {
    queue: Mutex<Queue>,
    /// Signalled to wake one idle worker.
    has_job: Condvar,
    /// Signalled to wake the monitor when jobs start to wait.
    backlog: Condvar,
    config: PoolConfig,
    gauges: PoolGauges,
}

struct Queue {
    /// Jobs waiting for a slot, oldest first.
    waiting: VecDeque<Job>,
    /// Jobs of methods that block: each needs a thread, not a slot.
    ready: VecDeque<Job>,
    slots: Vec<Option<Running>>,
    /// Slots in use.
    occupied: usize,
    /// Workers woken or started that have not looked at the queue yet.
    woken: usize,
    /// Of those, workers started whose threads have not run yet.
    starting: usize,
    /// Worker threads alive.
    threads: usize,
    /// Workers parked on `has_job`.
    idle: usize,
    /// Tells a worker whether the slot it ran in is still its own.
    next_ticket: u64,
    monitor: Monitor,
    /// The number the next job gets.
    next_job: u64,
    /// The oldest job waiting when the monitor looked, and when it first saw it there: a
    /// clock read per tick rather than per job.
    oldest_seen: Option<(u64, Instant)>,
    /// Whether the pool has said it is saturated since jobs last got threads at once.
    saturated: bool,
    /// Set when the pool is dropped: workers leave once the queue is empty.
    closed: bool,
}

impl Queue {
    /// Whether jobs wait for a slot or for a thread.
    fn wants_threads(&self) -> bool {
        !self.waiting.is_empty() || self.ready.len() > self.woken
    }

    /// Logs once, while jobs keep waiting, that one has waited longer than
    /// [`SATURATED_AFTER`] for a thread.
    fn note_saturation(&mut self, now: Instant) {
        let oldest = [self.waiting.front(), self.ready.front()]
            .into_iter()
            .flatten()
            .map(|job| job.number)
            .min();
        let oldest = oldest.map(|number| match self.oldest_seen {
            Some((seen, since)) if seen == number => since,
            _ => {
                self.oldest_seen = Some((number, now));
                now
            }
        });
        match oldest {
            None => {
                self.oldest_seen = None;
                self.saturated = false;
            }
            Some(since) if !self.saturated && now.duration_since(since) > SATURATED_AFTER => {
                self.saturated = true;
                tracing::warn!(
                    "rpc: a call has waited {:?} for a thread ({} waiting, {} threads, {} slots \
                     busy): the server is saturated",
                    now.duration_since(since),
                    self.waiting.len() + self.ready.len(),
                    self.threads,
                    self.occupied
                );
            }
            Some(_) => {}
        }
    }
}

/// A job running in a slot.
struct Running {
    since: Instant,
    ticket: u64,
    hint: Arc<Hint>,
    /// The worker's kernel thread id, where it can be known.
    tid: Option<u32>,
    /// What the monitor saw of the thread when it last looked.
    seen: Option<Seen>,
}

/// A look at a worker thread: when, and how long it had been on a CPU or waiting for one.
#[derive(Clone, Copy)]
struct Seen {
    at: Instant,
    busy: Duration,
}

#[derive(Clone, Copy, PartialEq)]
enum Monitor {
    NotStarted,
    Parked,
    Watching,
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Pool {
        let core = config.core.max(1);
        Pool {
            workers: Arc::new(Workers {
                queue: Mutex::new(Queue {
                    waiting: VecDeque::new(),
                    ready: VecDeque::new(),
                    slots: (0..core).map(|_| None).collect(),
                    occupied: 0,
                    woken: 0,
                    starting: 0,
                    threads: 0,
                    idle: 0,
                    next_ticket: 0,
                    monitor: Monitor::NotStarted,
                    next_job: 0,
                    oldest_seen: None,
                    saturated: false,
                    closed: false,
                }),
                has_job: Condvar::new(),
                backlog: Condvar::new(),
                config,
                gauges: PoolGauges::new(),
            }),
        }
    }

    /// Runs `task`, a call of the method `hint` describes, on a worker. Never waits: the
    /// caller bounds the jobs it hands over.
    pub(crate) fn execute(&self, hint: Arc<Hint>, task: impl FnOnce() + Send + 'static) {
        let task = Box::new(task);
        let workers = &self.workers;
        let mut queue = workers.queue.lock();
        let job = Job {
            task,
            hint,
            number: queue.next_job,
        };
        queue.next_job += 1;
        if job.hint.blocks() {
            queue.ready.push_back(job);
            // Workers already woken take it as well as a new one would; and a thread still
            // starting starts the next ones itself, so that a burst of blocking calls does
            // not hold their connection's reader to one thread start each.
            if queue.ready.len() > queue.woken
                && (queue.idle > 0 || queue.starting == 0)
                && !workers.wake_worker(&mut queue)
            {
                workers.watch(&mut queue); // It asks for a thread again at its next tick.
            }
        } else {
            queue.waiting.push_back(job);
            if queue.occupied + queue.woken < queue.slots.len() {
                workers.wake_worker(&mut queue);
            } else {
                workers.watch(&mut queue);
            }
        }
        if queue.threads == 0 {
            // No thread could be started at all: run the job here rather than never.
            let job = queue
                .ready
                .pop_front()
                .or_else(|| queue.waiting.pop_front());
            drop(queue);
            if let Some(job) = job {
                (job.task)();
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut queue = self.workers.queue.lock();
        queue.closed = true;
        let woken = self.workers.has_job.notify_all();
        queue.idle -= woken;
        queue.woken += woken;
        self.workers.backlog.notify_all();
    }
}

impl Workers {
    /// Tells the gauges how many threads are busy and idle, and how many jobs wait: when a
    /// thread parks, wakes or leaves, and at the monitor's ticks, not at every job, whose
    /// path is the pool's busiest.
    fn publish(&self, queue: &Queue) {
        let idle = queue.idle + queue.woken;
        self.gauges
            .busy
            .set(queue.threads.saturating_sub(idle) as f64);
        self.gauges.idle.set(idle as f64);
        self.gauges
            .queued
            .set((queue.waiting.len() + queue.ready.len()) as f64);
    }

    /// Wakes an idle worker, or starts one; false if no worker is on its way (the system
    /// refused a thread).
    fn wake_worker(self: &Arc<Self>, queue: &mut MutexGuard<'_, Queue>) -> bool {
        // No thread woken means the idle one is timing out: it will look at the queue.
        if queue.idle > 0 && self.has_job.notify_one() {
            queue.idle -= 1;
            queue.woken += 1;
            return true;
        }
        queue.threads += 1;
        queue.woken += 1;
        queue.starting += 1;
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
                queue.woken -= 1;
                queue.starting -= 1;
                tracing::error!(
                    "rpc: cannot start a worker thread ({} running): {e}; asking again in {TICK:?}",
                    queue.threads
                );
                false
            }
        }
    }

    /// Has the monitor watch the slots while jobs wait.
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
                    tracing::error!("rpc: cannot start the worker pool's monitor thread: {e}");
                    // Without a monitor, waiting jobs must not depend on blocked slots.
                    self.wake_worker(queue);
                }
            }
        }
    }

    fn work(self: Arc<Self>) {
        let tid = current_tid();
        let mut queue = self.queue.lock();
        queue.woken -= 1;
        queue.starting -= 1;
        // More calls wait for threads than are on their way: start two more, so that threads
        // start on every core at once.
        for _ in 0..2 {
            if queue.ready.len() <= queue.woken || !self.wake_worker(&mut queue) {
                break;
            }
        }
        loop {
            // A free slot goes to a quick call first: a call of a method that blocks waits for
            // a thread of its own anyway, and a burst of thousands of them must not hold up
            // one unrelated call until every one of their threads has started.
            if queue.occupied < queue.slots.len() && !queue.waiting.is_empty() {
                let Some(job) = queue.waiting.pop_front() else {
                    continue;
                };
                let ticket = queue.next_ticket;
                queue.next_ticket += 1;
                let slot = queue.slots.iter().position(Option::is_none);
                if let Some(slot) = slot {
                    queue.slots[slot] = Some(Running {
                        since: Instant::now(),
                        ticket,
                        hint: Arc::clone(&job.hint),
                        tid,
                        seen: None,
                    });
                    queue.occupied += 1;
                }
                drop(queue);
                self.run(job);
                queue = self.queue.lock();
                // Give the slot back, unless the monitor took it from a job that blocked.
                if let Some(slot) = slot {
                    if queue.slots[slot]
                        .as_ref()
                        .is_some_and(|r| r.ticket == ticket)
                    {
                        queue.slots[slot] = None;
                        queue.occupied -= 1;
                    }
                }
            } else if let Some(job) = queue.ready.pop_front() {
                if !job.hint.blocks() {
                    // Its method turned out not to block after all: it waits for a slot.
                    queue.waiting.push_front(job);
                    continue;
                }
                drop(queue);
                self.run(job);
                queue = self.queue.lock();
            } else if queue.closed || !self.park(&mut queue) {
                queue.threads -= 1;
                self.publish(&queue);
                return;
            }
        }
    }

    fn run(&self, job: Job) {
        // Now and then, a call of a method taken to block is asked whether it really did.
        let sleeps_before = job.hint.sample().then(sleeps_so_far).flatten();
        // Only a method taken to block has its runs timed: they are what may change its mind.
        let started = job.hint.blocks().then(Instant::now);
        // A task that panics (a reply whose `Drop` panics, say) must not take the worker,
        // and its place in the pool's books, with it.
        if let Err(panic) = catch_unwind(AssertUnwindSafe(job.task)) {
            tracing::error!(
                "rpc: a call panicked outside its method: {}",
                panic_message(&*panic)
            );
        }
        if let Some(started) = started {
            let slept = sleeps_before.and_then(|before| Some(sleeps_so_far()? > before));
            job.hint.saw_run(started.elapsed(), slept);
        }
    }

    /// Parks a worker until it is woken for a job; false if it should leave instead.
    fn park(&self, queue: &mut MutexGuard<'_, Queue>) -> bool {
        queue.idle += 1;
        self.publish(queue);
        let deadline = Instant::now() + self.config.keep_alive;
        if self.has_job.wait_until(queue, deadline).timed_out() {
            // Nobody woke this worker, so it is still counted idle.
            queue.idle -= 1;
            return !(queue.waiting.is_empty()
                && queue.ready.is_empty()
                && queue.threads > queue.slots.len());
        }
        queue.woken -= 1;
        self.publish(queue);
        true
    }

    /// While jobs wait, looks at the slots every tick: a job that has run a while on a thread
    /// that is asleep gives its slot up to a waiting job, and its method is marked as blocking.
    /// Parks when the queue has stayed empty a while.
    fn monitor(self: Arc<Self>) {
        let mut queue = self.queue.lock();
        let mut empty_ticks = 0;
        let mut tick = TICK;
        while !queue.closed {
            if !queue.wants_threads() {
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
            self.backlog.wait_for(&mut queue, tick);
            tick = TICK;
            let now = Instant::now();
            queue.note_saturation(now);
            self.publish(&queue);
            // Jobs whose threads the system refused ask again.
            while queue.ready.len() > queue.woken {
                if !self.wake_worker(&mut queue) {
                    break;
                }
            }
            if queue.waiting.is_empty() {
                continue;
            }
            let mut freed = false;
            // Calls that ran long enough to be blocked are looked at, with the lock let go:
            // reading `/proc` takes microseconds, and every worker and reader wants the lock
            // meanwhile. Calls past their time slice give their slots up, after a last look:
            // a monitor that a busy machine held up must still learn which of them block.
            let mut looks = Vec::new();
            for (index, slot) in queue.slots.iter().enumerate() {
                let Some(running) = slot.as_ref() else {
                    continue;
                };
                let ran = now.duration_since(running.since);
                if ran >= BLOCKED_AFTER {
                    let past_slice = ran >= self.config.time_slice;
                    looks.push((index, running.ticket, running.tid, running.seen, past_slice));
                }
            }
            if !looks.is_empty() {
                let seen: Vec<_> = MutexGuard::unlocked(&mut queue, || {
                    looks
                        .iter()
                        .map(|&(_, _, tid, seen, _)| look(tid, seen, now))
                        .collect()
                });
                for (&(index, ticket, _, before, past_slice), (blocked, seen)) in
                    looks.iter().zip(seen)
                {
                    let slot = &mut queue.slots[index];
                    // The call may have ended, and another taken the slot, meanwhile.
                    let Some(running) = slot.as_mut().filter(|r| r.ticket == ticket) else {
                        continue;
                    };
                    if blocked {
                        running.hint.saw_blocking();
                    }
                    // Past its slice, a call found asleep for the first time is looked at once
                    // more, a tick later, to tell blocked from waiting a moment.
                    if blocked || (past_slice && (before.is_some() || seen.is_none())) {
                        *slot = None;
                        queue.occupied -= 1;
                        freed = true;
                    } else {
                        running.seen = seen;
                        if seen.is_some() {
                            tick = RECHECK;
                        }
                    }
                }
            }
            if freed {
                // Waiting calls of methods now known to block need threads, not slots.
                let (ready, waiting): (VecDeque<Job>, VecDeque<Job>) =
                    queue.waiting.drain(..).partition(|job| job.hint.blocks());
                queue.waiting = waiting;
                queue.ready.extend(ready);
                while queue.ready.len() > queue.woken {
                    if !self.wake_worker(&mut queue) {
                        break;
                    }
                }
            }
            // Free slots go to waiting jobs. (Workers woken for jobs that need no slot may
            // count here for a tick, until they have taken theirs.)
            let free = queue.slots.len() - queue.occupied;
            let wanted = queue.waiting.len().min(free.saturating_sub(queue.woken));
            for _ in 0..wanted {
                if !self.wake_worker(&mut queue) {
                    break;
                }
            }
        }
    }
}

/// The kernel's id of the calling thread, where the platform tells it.
fn current_tid() -> Option<u32> {
    fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

/// Whether the thread `tid` of a call in a slot is blocked rather than running or waiting for
/// a CPU, given what was `seen` of it at the last look; and what is seen now. Blocked: asleep
/// in the kernel now (`/proc/self/task/<tid>/stat`), and, where the kernel tells how long a
/// thread has been on a CPU or waiting for one (`schedstat`, brought up to date when the
/// thread sleeps), having spent less than half the time since the last look doing either. So
/// a preempted thread is not blocked, nor is one that waited a moment for a lock. Without
/// `/proc`, any call that has run this long is taken to block.
fn look(tid: Option<u32>, seen: Option<Seen>, now: Instant) -> (bool, Option<Seen>) {
    let Some(tid) = tid else {
        return (true, None);
    };
    if !is_asleep(tid) {
        return (false, None);
    }
    let Some(busy) = busy_time(tid) else {
        return (true, None);
    };
    let blocked = seen.is_some_and(|seen| {
        let wall = now.duration_since(seen.at);
        wall >= RECHECK / 2 && busy.saturating_sub(seen.busy) < wall / 2
    });
    (blocked, Some(Seen { at: now, busy }))
}

/// How often the calling thread has gone to sleep (`voluntary_ctxt_switches`), where the
/// platform tells it.
fn sleeps_so_far() -> Option<u64> {
    let status = fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

/// How long thread `tid` of this process has been on a CPU plus waiting for one.
fn busy_time(tid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().ok());
    let (on_cpu, waiting) = (fields.next()??, fields.next()??);
    Some(Duration::from_nanos(on_cpu.saturating_add(waiting)))
}

/// Whether thread `tid` of this process is asleep in the kernel (state S or D).
fn is_asleep(tid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return true;
    };
    // `tid (name) state ...`: the name may hold anything, so the state follows the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|state| matches!(state, 'S' | 'D'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;
    use std::sync::atomic::AtomicUsize;

    fn pool(core: usize) -> Pool {
        Pool::new(PoolConfig {
            core,
            keep_alive: KEEP_ALIVE,
            stack_size: 256 * 1024,
            time_slice: TIME_SLICE,
        })
    }

    /// Where jobs wait until opened. It parks them at once: a channel's receiver spins and
    /// yields first, which on a loaded machine can outlast a time slice.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        /// Waits until the gate opens, 5 s at most.
        fn pass(&self) {
            let mut open = self.open.lock();
            if !*open {
                self.opened.wait_for(&mut open, Duration::from_secs(5));
            }
        }

        fn open(&self) {
            *self.open.lock() = true;
            self.opened.notify_all();
        }
    }

    #[test]
    fn blocked_jobs_do_not_starve_others() {
        let pool = pool(1);
        // On a loaded machine a job's thread may still wait for a CPU, on its way to park,
        // when the monitor looks, and that is not blocked: one round in three must see it.
        let remembered: Vec<bool> = (0..3)
            .map(|_| {
                let (hint, quick) = (Arc::new(Hint::default()), Arc::new(Hint::default()));
                let gate = Arc::new(Gate::default());
                let (done_tx, done_rx) = unbounded();
                // Two jobs that block until released, then one that must still run.
                for _ in 0..2 {
                    let gate = Arc::clone(&gate);
                    pool.execute(Arc::clone(&hint), move || gate.pass());
                }
                pool.execute(Arc::clone(&quick), move || done_tx.send(()).unwrap());
                assert!(done_rx.recv_timeout(Duration::from_secs(10)).is_ok());
                assert!(!quick.blocks());
                gate.open();
                hint.blocks()
            })
            .collect();
        assert!(
            remembered.contains(&true),
            "the blocking method is remembered: {remembered:?}"
        );
    }

    #[test]
    fn a_job_first_seen_past_its_slice_is_still_found_to_block() {
        if current_tid().is_none() {
            return; // No /proc: every long job is taken to block.
        }
        let pool = pool(1);
        let (hint, quick) = (Arc::new(Hint::default()), Arc::new(Hint::default()));
        pool.execute(Arc::clone(&hint), || {
            thread::sleep(Duration::from_millis(500))
        });
        // Nothing waits, so nothing watches the slot until the job is past its slice: as
        // when a busy machine holds the monitor up.
        thread::sleep(TIME_SLICE * 2);
        let (done_tx, done_rx) = unbounded();
        pool.execute(Arc::clone(&quick), move || done_tx.send(()).unwrap());
        assert!(done_rx.recv_timeout(Duration::from_secs(5)).is_ok());
        assert!(hint.blocks(), "the sleeping job was taken to block");
        assert!(!quick.blocks());
    }

    #[test]
    fn cpu_bound_jobs_run_as_many_at_once_as_there_are_slots() {
        // No time slices: on a busy machine a 500 µs job preempted for 10 ms would get them.
        let pool = Pool::new(PoolConfig {
            time_slice: Duration::MAX,
            ..pool(2).workers.config.clone()
        });
        // The first round faults the code in: a thread waiting on the disk is asleep.
        spin_jobs(&pool, &Arc::new(Hint::default()));
        if current_tid().is_none() {
            return; // No /proc: every long job is taken to block.
        }
        // A machine loaded by other tests can stall a spinning thread in the kernel long
        // enough to pass for blocked, which frees its slot: one round in three must be clean.
        let rounds: Vec<(usize, bool)> = (0..3)
            .map(|_| {
                let hint = Arc::new(Hint::default());
                let most = spin_jobs(&pool, &hint);
                (most, hint.blocks())
            })
            .collect();
        assert!(
            rounds.iter().any(|&(most, blocks)| most <= 2 && !blocks),
            "(most at once, taken to block) per round: {rounds:?}"
        );
    }

    /// Runs 40 jobs that keep their thread busy for 500 µs each; how many ran at once.
    fn spin_jobs(pool: &Pool, hint: &Arc<Hint>) -> usize {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = unbounded();
        for i in 0..40 {
            let (running, most, tx) = (running.clone(), most.clone(), tx.clone());
            pool.execute(Arc::clone(hint), move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Busy, not asleep: a preempted thread keeps its slot.
                let start = Instant::now();
                while start.elapsed() < Duration::from_micros(500) {
                    std::hint::spin_loop();
                }
                running.fetch_sub(1, Ordering::SeqCst);
                tx.send(i).unwrap();
            });
        }
        let mut got: Vec<i32> = (0..40)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        most.load(Ordering::SeqCst)
    }

    #[test]
    fn sleeping_jobs_get_threads_of_their_own() {
        let pool = pool(1);
        let hint = Arc::new(Hint::default());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = unbounded();
        for _ in 0..32 {
            let (running, most, tx) = (running.clone(), most.clone(), tx.clone());
            pool.execute(Arc::clone(&hint), move || {
                most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(50));
                running.fetch_sub(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            });
        }
        for _ in 0..32 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        // One slot, yet the sleepers overlapped: far more than one ran at once.
        assert!(most.load(Ordering::SeqCst) >= 16, "{most:?} ran at once");
        assert!(hint.blocks());
    }

    #[test]
    fn quick_calls_fade_the_hint() {
        let hint = Hint::default();
        hint.saw_blocking();
        for _ in 0..FADE - 1 {
            hint.saw_run(Duration::from_micros(1), None);
        }
        hint.saw_run(BLOCKED_AFTER, Some(true));
        assert!(hint.blocks(), "a slow call starts the count again");
        for _ in 0..FADE {
            hint.saw_run(Duration::from_micros(1), None);
        }
        assert!(!hint.blocks());
        // A long call that never slept is CPU-bound.
        hint.saw_blocking();
        hint.saw_run(BLOCKED_AFTER * 10, Some(false));
        assert!(!hint.blocks());
    }

    #[test]
    fn jobs_that_wait_for_each_other_all_get_threads_and_idle_ones_leave() {
        // Each job waits until all have started: no bound on threads may stop the last.
        const JOBS: usize = 200;
        let pool = Pool::new(PoolConfig {
            keep_alive: Duration::from_millis(50),
            ..pool(1).workers.config.clone()
        });
        let hint = Arc::new(Hint::default());
        let started = Arc::new(std::sync::Barrier::new(JOBS + 1));
        let (tx, rx) = unbounded();
        for i in 0..JOBS {
            let (started, tx) = (Arc::clone(&started), tx.clone());
            pool.execute(Arc::clone(&hint), move || {
                started.wait();
                tx.send(i).unwrap();
            });
        }
        let (waited_tx, waited_rx) = unbounded();
        thread::spawn(move || waited_tx.send(started.wait()).unwrap());
        waited_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("every job got a thread");
        for _ in 0..JOBS {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.workers.queue.lock().threads > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(pool.workers.queue.lock().threads <= 1, "idle threads left");
    }

    #[test]
    fn the_state_of_a_sleeping_thread_reads_asleep() {
        let Some(_) = current_tid() else {
            return; // No /proc here: nothing to read.
        };
        let (tx, rx) = unbounded();
        let gate = Arc::new(Gate::default());
        let sleeper = thread::spawn({
            let gate = Arc::clone(&gate);
            move || {
                tx.send(current_tid()).unwrap();
                gate.pass();
            }
        });
        let tid = rx.recv().unwrap().unwrap();
        // A loaded machine may take a while to let it get as far as parking.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !is_asleep(tid) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(is_asleep(tid));
        assert!(!is_asleep(current_tid().unwrap()), "this thread is running");
        // Asleep, it gathers no time on a CPU.
        let before = busy_time(tid);
        thread::sleep(Duration::from_millis(20));
        if let (Some(before), Some(after)) = (before, busy_time(tid)) {
            assert!(after - before < Duration::from_millis(5));
        }
        gate.open();
        sleeper.join().unwrap();
    }
}
