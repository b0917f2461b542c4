//! The floor of the thread model for a method that blocks: the least an OS-thread server does
//! per call of `Work.Sleep` on MessagePack-RPC, with none of netrpc's layers (no codec traits,
//! no registry, no pool monitor, no bounds). One reader thread per connection decodes each
//! request and queues it; a worker, parked on a condition variable when the queue is empty,
//! takes it, sleeps `Micros` µs and writes its reply under the connection's lock. Workers are
//! started when none is idle and never stop. BENCHMARKS.md sets it beside netrpc's server and
//! Go's under workload i, with `benches/scripts/cpu_per_call.sh thread-floor "--async 256 ..."`.
//!
//! usage: thread-floor --addr 127.0.0.1:PORT
use serde::Deserialize;
use std::collections::VecDeque;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Deserialize)]
struct SleepArgs {
    #[serde(rename = "Micros")]
    micros: u64,
}

/// `[0, msgid, method, [argument]]`
type Request = (u8, u32, String, Vec<SleepArgs>);

struct Job {
    out: Arc<Mutex<TcpStream>>,
    msgid: u32,
    micros: u64,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
}

#[derive(Default)]
struct Pool {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Pool {
    fn submit(self: &Arc<Self>, job: Job) {
        let mut queue = self.queue.lock().unwrap();
        queue.jobs.push_back(job);
        let start = queue.idle == 0;
        drop(queue);
        if start {
            let pool = self.clone();
            std::thread::spawn(move || pool.work());
        } else {
            self.wake.notify_one();
        }
    }

    fn work(&self) {
        let mut reply = Vec::with_capacity(64);
        loop {
            let job = {
                let mut queue = self.queue.lock().unwrap();
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        break job;
                    }
                    queue.idle += 1;
                    queue = self.wake.wait(queue).unwrap();
                    queue.idle -= 1;
                }
            };
            std::thread::sleep(Duration::from_micros(job.micros));
            reply.clear();
            // `[1, msgid, nil, result]`
            rmp_serde::encode::write(&mut reply, &(1u8, job.msgid, (), job.micros)).unwrap();
            let _ = job.out.lock().unwrap().write_all(&reply);
        }
    }
}

fn serve(stream: TcpStream, pool: Arc<Pool>) {
    stream.set_nodelay(true).unwrap();
    let out = Arc::new(Mutex::new(stream.try_clone().unwrap()));
    let mut input = BufReader::with_capacity(4096, stream);
    while let Ok((_, msgid, _, args)) = rmp_serde::decode::from_read::<_, Request>(&mut input) {
        let micros = args.first().map_or(0, |a| a.micros);
        pool.submit(Job {
            out: out.clone(),
            msgid,
            micros,
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = match args.as_slice() {
        [_, flag, addr] if flag == "--addr" => addr.clone(),
        _ => {
            eprintln!("usage: thread-floor --addr 127.0.0.1:PORT");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(&addr).unwrap();
    println!("thread-floor: serving Work.Sleep on {addr}");
    let pool = Arc::new(Pool::default());
    for stream in listener.incoming().flatten() {
        let pool = pool.clone();
        std::thread::spawn(move || serve(stream, pool));
    }
}
