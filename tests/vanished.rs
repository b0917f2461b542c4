//! Peers that vanish without a word (a host powered off, a network gone) are found dead: in a
//! network namespace of the test's own, an nftables rule drops every packet on its loopback,
//! and each kind of connection must notice within what its settings promise: an idle client,
//! a client waiting for a reply, an idle server connection, and a server connection with a
//! reply on its way.
//!
//! Needs root, `ip`, `nft` and `ss` (Debian's `iproute2` and `nftables`; `.ci/run` installs
//! them). Without them the test says so and passes, except under CI, where it fails. The
//! namespace's work runs in a second process of this test binary (`ip netns exec`), as the
//! ignored test `in_the_namespace`; `NETRPC_VANISHED_DEFAULTS=1` runs it with the default
//! timeouts instead of short ones (about 45 s).

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use netrpc::{Client, Keepalive, Server};

/// Runs this binary's `in_the_namespace` in a network namespace made for it.
#[test]
fn vanished_peers_are_found_within_their_bounds() {
    let missing: Vec<&str> = ["ip", "nft", "ss"]
        .into_iter()
        .filter(|tool| Command::new(tool).arg("-V").output().is_err())
        .collect();
    let root = common::output_of(Command::new("id").arg("-u")).trim() == "0";
    if !missing.is_empty() || !root {
        let why = format!("needs root and {missing:?} (root: {root})");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    let namespace = Namespace::new();
    let output = common::output_of(
        Command::new("ip")
            .args(["netns", "exec", &namespace.0])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "in_the_namespace", "--ignored", "--nocapture"]),
    );
    println!("{output}");
}

/// A network namespace, deleted when dropped.
struct Namespace(String);

impl Namespace {
    fn new() -> Namespace {
        let name = format!("netrpc-vanished-{}", std::process::id());
        common::output_of(Command::new("ip").args(["netns", "add", &name]));
        let namespace = Namespace(name);
        common::output_of(Command::new("ip").args(["-n", &namespace.0, "link", "set", "lo", "up"]));
        namespace
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The established TCP connections of this namespace, as (local port, peer port).
fn established() -> BTreeSet<(u16, u16)> {
    let out = common::output_of(Command::new("ss").args(["-tnH", "state", "established"]));
    let port = |addr: &str| addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    out.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let n = fields.len();
            (port(fields[n - 2]), port(fields[n - 1]))
        })
        .collect()
}

/// The connections to or from `port` that appeared since `before`: the ends on this side.
fn new_ends(before: &BTreeSet<(u16, u16)>, server: u16) -> Vec<(u16, u16)> {
    established()
        .difference(before)
        .filter(|&&(local, peer)| local != server && peer == server)
        .copied()
        .collect()
}

/// The threads of this process that serve a connection.
fn connection_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("netrpc-conn"))
        .count()
}

#[test]
#[ignore = "runs inside the network namespace that vanished_peers_are_found_within_their_bounds makes"]
fn in_the_namespace() {
    let defaults = std::env::var_os("NETRPC_VANISHED_DEFAULTS").is_some();
    // Short: probes after 1 s idle, every second, two unanswered end it; 3 s unacknowledged.
    let (keepalive, user_timeout, bound) = if defaults {
        (
            Keepalive::default(),
            Duration::from_secs(45),
            Duration::from_secs(60),
        )
    } else {
        let keepalive = Keepalive::new(Duration::from_secs(1), Duration::from_secs(1), 2);
        (keepalive, Duration::from_secs(3), Duration::from_secs(10))
    };
    let mut server = Server::builder();
    let mut client = Client::builder();
    if !defaults {
        server = server
            .keepalive(Some(keepalive))
            .tcp_user_timeout(Some(user_timeout));
        client = client
            .keepalive(Some(keepalive))
            .tcp_user_timeout(Some(user_timeout));
    }
    let server = server.build();
    common::register_all(&server);
    let addr = common::serve(&server);
    let port = addr.port();

    // An idle client, and one waiting for a reply that takes a minute.
    let before = established();
    let idle_client = client.dial(addr).unwrap();
    let idle_client_end = new_ends(&before, port)[0];
    let before = established();
    let waiting_client = client.dial(addr).unwrap();
    let waiting_client_end = new_ends(&before, port)[0];
    let waiting = waiting_client.go::<_, u64>("Test.Sleep", &120_000u64);
    // Peers of the server that set nothing: only the server's side can find them dead. One
    // idle, one whose reply leaves a second after the packets stop.
    let idle_peer = std::net::TcpStream::connect(addr).unwrap();
    let replied_peer = std::net::TcpStream::connect(addr).unwrap();
    let mut request = vec![0x94, 0x00, 0x01];
    rmp::encode::write_str(&mut request, "Test.Sleep").unwrap();
    request.extend([0x91, 0xcd, 0x03, 0xe8]); // [1000]
    std::io::Write::write_all(&mut &replied_peer, &request).unwrap();
    let server_end = |peer: &std::net::TcpStream| (port, peer.local_addr().unwrap().port());
    let (idle_server_end, replying_server_end) =
        (server_end(&idle_peer), server_end(&replied_peer));
    thread::sleep(Duration::from_millis(200)); // The requests are in, and acknowledged.
    assert_eq!(connection_threads(), 4);

    common::output_of(Command::new("nft").args([
        "add table inet vanish; add chain inet vanish input { type filter hook input priority 0; policy drop; }",
    ]));
    let dropped = Instant::now();
    let mut found = Vec::new();
    let watched = [
        ("an idle client", idle_client_end),
        ("a client waiting for a reply", waiting_client_end),
        ("an idle server connection", idle_server_end),
        (
            "a server connection with a reply on its way",
            replying_server_end,
        ),
    ];
    while found.len() < watched.len() && dropped.elapsed() < bound + Duration::from_secs(5) {
        let open = established();
        for (what, end) in watched {
            if !open.contains(&end) && !found.iter().any(|(w, _)| *w == what) {
                found.push((what, dropped.elapsed()));
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    for (what, after) in &found {
        println!("{what}: found dead {after:.1?} after its peer vanished");
    }
    for (what, _) in watched {
        let after = found
            .iter()
            .find(|(w, _)| *w == what)
            .map(|(_, after)| *after);
        assert!(
            after.is_some_and(|after| after <= bound),
            "{what}: not found dead within {bound:?} ({after:?})"
        );
    }

    // netrpc saw it too: the waiting call failed, the idle client says its connection is
    // gone at once, and the server's connection threads ended.
    let waited = waiting.done.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(waited.result.is_err(), "{:?}", waited.result);
    let started = Instant::now();
    let err = idle_client
        .call::<_, i64>("Arith.Multiply", &common::Args { a: 1, b: 2 })
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "{err}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while connection_threads() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(connection_threads(), 0);
}
