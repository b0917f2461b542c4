//! Shared test fixtures: a server with the example services plus `Test`, on 127.0.0.1.

#![allow(dead_code)] // Each test file uses its own part of this module.

#[path = "../../examples/common/mod.rs"]
mod arith;
pub mod nvim;

#[allow(unused_imports)]
pub use arith::{Args, Quotient};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use netrpc::{Client, Server, Service};

/// The longest any test waits for anything.
pub const WAIT: Duration = Duration::from_secs(10);

/// Methods that exercise the server's edges.
pub struct Test {
    pub notified: Arc<AtomicU64>,
}

impl Test {
    fn sleep(&self, ms: u64) -> Result<u64, String> {
        thread::sleep(Duration::from_millis(ms));
        Ok(ms)
    }

    fn panic(&self, message: String) -> Result<(), String> {
        panic!("{message}")
    }

    fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
        Ok(a + b)
    }

    fn bump(&self, by: u64) -> Result<u64, String> {
        Ok(self.notified.fetch_add(by, Ordering::SeqCst) + by)
    }

    fn repeat(&self, len: usize) -> Result<serde_bytes::ByteBuf, String> {
        Ok(serde_bytes::ByteBuf::from(vec![7u8; len]))
    }

    fn nothing(&self, (): ()) -> Result<(), String> {
        Ok(())
    }
}

pub struct Harness {
    pub addr: SocketAddr,
    pub server: Server,
    pub notified: Arc<AtomicU64>,
}

impl Harness {
    /// A client whose calls give up after [`WAIT`].
    pub fn client(&self) -> Client {
        Client::builder()
            .timeout(Some(WAIT))
            .dial(self.addr)
            .expect("dial")
    }

    /// A raw TCP connection whose reads give up after [`WAIT`].
    pub fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream
    }
}

pub fn register_all(server: &Server) -> Arc<AtomicU64> {
    arith::register(server).expect("register examples");
    let notified = Arc::new(AtomicU64::new(0));
    server
        .register(
            Service::new(Test {
                notified: Arc::clone(&notified),
            })
            .method("Sleep", Test::sleep)
            .method("Panic", Test::panic)
            .method("Add", Test::add)
            .method("Bump", Test::bump)
            .method("Repeat", Test::repeat)
            .method("Nothing", Test::nothing),
        )
        .expect("register Test");
    notified
}

/// A default server with every test service, accepting on an ephemeral port.
pub fn start() -> Harness {
    start_with(Server::new())
}

/// `server` with every test service, accepting on an ephemeral port.
pub fn start_with(server: Server) -> Harness {
    serve_with(server, |server, listener| server.accept(listener))
}

/// A default server with every test service, speaking Go's JSON-RPC on an ephemeral port.
pub fn start_json() -> Harness {
    start_json_with(Server::new())
}

/// `server` with every test service, speaking Go's JSON-RPC on an ephemeral port.
pub fn start_json_with(server: Server) -> Harness {
    serve_with(server, |server, listener| {
        netrpc::jsonrpc::accept(server, listener)
    })
}

fn serve_with(server: Server, accept: fn(&Server, &TcpListener) -> std::io::Result<()>) -> Harness {
    let notified = register_all(&server);
    let addr = listen(&server, accept);
    Harness {
        addr,
        server,
        notified,
    }
}

/// Serves `server` as it is, with the services it has, on an ephemeral port.
pub fn serve(server: &Server) -> SocketAddr {
    listen(server, |server, listener| server.accept(listener))
}

/// Runs `accept` for `server` on a thread, on an ephemeral port of 127.0.0.1.
fn listen(server: &Server, accept: fn(&Server, &TcpListener) -> std::io::Result<()>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let accepting = server.clone();
    thread::spawn(move || accept(&accepting, &listener));
    addr
}

/// Polls `condition` until it holds, failing the test after [`WAIT`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Reads until the peer closes the connection; fails if it stays open for [`WAIT`].
pub fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("connection not closed: {e}"),
        }
    }
}

/// Runs `command` to its end, for at most a minute, and returns what it printed and how it
/// ended; fails the test (killing it) if it runs longer.
pub fn finished(command: &mut std::process::Command) -> std::process::Output {
    use std::process::Stdio;
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.unwrap_or_else(|e| panic!("{command:?}: {e}")),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            panic!("{command:?} still runs after a minute");
        }
    }
}

/// Runs `command` to its end (for at most a minute) and returns its standard output; fails
/// the test, showing both outputs, if it does not succeed.
pub fn output_of(command: &mut std::process::Command) -> String {
    let output = finished(command);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Fails unless each of `lines` is a whole line of `output`.
pub fn assert_has_lines(output: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            output.lines().any(|l| l == *line),
            "missing {line:?} in:\n{output}"
        );
    }
}

/// Starts `command` with its output piped and returns it with the address it announces: the
/// first word of its first line that parses as a socket address.
pub fn spawn_announcing(command: &mut std::process::Command) -> (std::process::Child, SocketAddr) {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no address in the first line of {command:?}: {line:?}"));
    (child, addr)
}

/// Builds the Go program in `tests/<dir>` (standard library only) once per test binary and
/// returns its path; fails the test if Go is missing or the build fails.
pub fn go_program(dir: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<std::collections::BTreeMap<String, std::path::PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(binary) = built.get(dir) {
        return binary.clone();
    }
    let work = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{dir}-peer"));
    let binary = work.join("peer");
    let source = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(dir);
    let output = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .env("GOCACHE", work.join("cache"))
        .env("GOPATH", work.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need Go (`apt-get install golang-go`): cannot run `go`: {e}")
        });
    assert!(
        output.status.success(),
        "building the Go program in tests/{dir} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.insert(dir.to_owned(), binary.clone());
    binary
}

/// `target/<profile>/examples/<name>`, which `cargo test` builds, found from the test's path.
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples (cargo test does)",
        path.display()
    );
    path
}

/// Sends `bytes` and reads exactly `len` bytes back.
pub fn exchange(stream: &mut TcpStream, bytes: &[u8], len: usize) -> Vec<u8> {
    stream.write_all(bytes).unwrap();
    let mut reply = vec![0u8; len];
    stream.read_exact(&mut reply).expect("reply");
    reply
}
