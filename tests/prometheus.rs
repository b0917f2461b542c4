//! A real Prometheus (Debian's `prometheus`; `.ci/run` installs it) scrapes `arith_server`'s
//! `/metrics` every second while calls run, and its query API then returns the server's call
//! counter and duration histogram for `Arith.Multiply`, matching the calls made. Built with
//! the `prometheus` feature (`cargo test --features prometheus --test prometheus`); without
//! the `prometheus` binary the test says so and passes, except under CI, where it fails.

#![cfg(feature = "prometheus")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Args, WAIT};
use netrpc::Client;

/// Kills the process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `text` fit for a URL's query.
fn escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the PromQL `query` as Prometheus at `at` answers it now; `None` while it
/// has no sample or no answer.
fn query(at: SocketAddr, query: &str) -> Option<f64> {
    let mut conn = TcpStream::connect(at).ok()?;
    conn.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        conn,
        "GET /api/v1/query?query={} HTTP/1.0\r\nHost: {at}\r\n\r\n",
        escaped(query)
    )
    .ok()?;
    let mut response = String::new();
    conn.read_to_string(&mut response).ok()?;
    let body = &response[response.find("\r\n\r\n")? + 4..];
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_the_calls_it_is_asked_about() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "prometheus is missing (Debian's prometheus)"
        );
        eprintln!("skipped: no prometheus (Debian's prometheus)");
        return;
    }
    let (server, addr) = common::spawn_announcing(
        Command::new(common::example("arith_server")).args(["--addr", "127.0.0.1:0"]),
    );
    let _server = Running(server);

    let work = std::env::temp_dir().join(format!("netrpc-prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: netrpc\n    \
             static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let web = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            work.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = Running(prometheus);

    const CALLS: i64 = 250;
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    for i in 0..CALLS {
        let product: i64 = client.call("Arith.Multiply", &Args { a: i, b: 2 }).unwrap();
        assert_eq!(product, 2 * i);
    }

    let labels = r#"rpc_service="Arith",rpc_method="Multiply""#;
    let calls = format!(r#"sum(rpc_server_calls_total{{{labels},outcome="ok"}})"#);
    let durations = format!("sum(rpc_server_call_duration_seconds_count{{{labels}}})");
    let buckets = format!(r#"sum(rpc_server_call_duration_seconds_bucket{{{labels},le="+Inf"}})"#);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = (None, None, None);
    while Instant::now() < deadline {
        seen = (
            query(web, &calls),
            query(web, &durations),
            query(web, &buckets),
        );
        if seen == (Some(CALLS as f64), Some(CALLS as f64), Some(CALLS as f64)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(
        seen,
        (Some(CALLS as f64), Some(CALLS as f64), Some(CALLS as f64)),
        "calls, durations counted and the histogram's last bucket, as Prometheus has them"
    );
}
