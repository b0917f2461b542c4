//! Serves `Arith`, `Echo` and `Work` (`Work.Sleep` blocks for the microseconds it is given)
//! until killed, for `arith_client`, foreign MessagePack-RPC clients and benchmarks.
//!
//! Run: `cargo run --example arith_server -- --addr 127.0.0.1:1234`
//!
//! With no flag but `--addr` one port answers every kind of client, each connection in the
//! wire its first bytes show: MessagePack-RPC clients, Go's `rpc.Dial` (gob), Go's
//! `rpc.DialHTTP` (`CONNECT /_goRPC_`, then gob), Go's `jsonrpc.Dial`, and `curl
//! http://ADDR/debug/rpc`. To pin one wire: `--http` (HTTP only), `--codec json|gob|msgpack`.
//! Built with the `prometheus` feature, it also serves its metrics at `http://ADDR/metrics`
//! (`cargo run --features prometheus --example arith_server`). Warnings go to stderr
//! (`RUST_LOG=debug` for more).

mod common;

use std::error::Error;
use std::net::TcpListener;

use netrpc::{Server, Wire, DEFAULT_DEBUG_PATH, DEFAULT_RPC_PATH};

const USAGE: &str = "usage: arith_server [--addr HOST:PORT] [--codec msgpack|json|gob] [--http]

Serves Arith, Echo and Work on --addr (127.0.0.1:1234) until killed. With no other flag,
every wire on one port; --codec pins one wire, --http serves HTTP only.";

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["addr", "codec"], &["http"]);
    common::show_logs();
    let addr = args
        .flag("addr")
        .unwrap_or_else(|| "127.0.0.1:1234".to_owned());
    let wire = match args.flag("codec").as_deref() {
        None => Wire::Detect,
        Some("msgpack") => Wire::Msgpack,
        Some("json") => Wire::Json,
        Some("gob") => Wire::Gob,
        Some(other) => {
            return Err(format!("--codec must be msgpack, json or gob, not {other}").into())
        }
    };
    let builder = Server::builder().wire(wire);
    #[cfg(feature = "prometheus")]
    let builder = builder.prometheus(prometheus_recorder()?);
    let server = builder.build();
    common::register(&server)?;
    let listener = TcpListener::bind(&addr)?;
    let addr = listener.local_addr()?;
    #[cfg(feature = "prometheus")]
    let metrics = format!(", metrics at http://{addr}{}", netrpc::METRICS_PATH);
    #[cfg(not(feature = "prometheus"))]
    let metrics = "";
    if args.switch("http") {
        println!(
            "serving Arith, Echo and Work over HTTP on {addr}: CONNECT {DEFAULT_RPC_PATH}, \
             debug page at http://{addr}{DEFAULT_DEBUG_PATH}{metrics}"
        );
        server.serve_http(&listener)?;
    } else if wire == Wire::Detect {
        println!(
            "serving Arith, Echo and Work on {addr} (MessagePack-RPC, Go's gob and JSON-RPC, \
             HTTP: CONNECT {DEFAULT_RPC_PATH}, debug page at http://{addr}{DEFAULT_DEBUG_PATH}\
             {metrics})"
        );
        server.accept(&listener)?;
    } else {
        println!("serving Arith, Echo and Work on {addr} ({wire:?} only)");
        server.accept(&listener)?;
    }
    Ok(())
}

/// Installs a recorder that renders durations and sizes as Prometheus histograms (its default
/// for histograms is summaries), and returns what renders it.
#[cfg(feature = "prometheus")]
fn prometheus_recorder() -> Result<metrics_exporter_prometheus::PrometheusHandle, Box<dyn Error>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let seconds = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let bytes = [
        64.0,
        256.0,
        1024.0,
        4096.0,
        16384.0,
        65536.0,
        262_144.0,
        1_048_576.0,
    ];
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)?
        .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &bytes)?
        .install_recorder()?)
}
