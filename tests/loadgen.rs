//! The load generator end to end, against its in-process server: the JSON line it prints for
//! blocking callers, pipelined `go` calls and paced connections.

#![cfg(feature = "json")]

mod common;

use std::process::Command;

/// Runs `loadgen` with `args` and returns its one JSON line.
fn run(args: &[&str]) -> serde_json::Value {
    let stdout = common::output_of(Command::new(common::example("loadgen")).args(args));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

#[test]
fn callers_and_async_calls_print_the_keys_of_the_go_yardstick() {
    for mode in [["--callers", "2"], ["--async", "8"]] {
        let line = run(&[mode[0], mode[1], "--duration", "0.3", "--payload", "16"]);
        for key in [
            "impl",
            "codec",
            "conns",
            "callers",
            "async",
            "payload",
            "calls",
            "secs",
            "calls_per_sec",
            "p50_us",
            "p99_us",
            "max_rss_kb",
        ] {
            assert!(line.get(key).is_some(), "no {key} in {line}");
        }
        assert!(line["calls"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(line["failures"], 0, "{line}");
    }
}

#[test]
fn paced_connections_each_call_once_per_interval() {
    let line = run(&["--conns", "20", "--interval", "100", "--duration", "1"]);
    assert_eq!(line["failures"], 0, "{line}");
    // 20 connections × 10 intervals; a call still running when the window closes is not
    // counted.
    let calls = line["calls"].as_u64().unwrap();
    assert!((190..=200).contains(&calls), "{calls} calls: {line}");
}

#[test]
fn examples_refuse_flags_they_do_not_take_and_explain_themselves() {
    for (name, wrong) in [
        ("loadgen", &["--conn", "8"][..]),
        ("loadgen", &["--conns"][..]),
        ("arith_server", &["--adr", "127.0.0.1:0"][..]),
        ("arith_client", &["--http=yes"][..]),
        ("arith_client", &["--addr", "--http"][..]),
    ] {
        let out = common::finished(Command::new(common::example(name)).args(wrong));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} {wrong:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(&format!("usage: {name}")), "{stderr}");
    }
    let out = common::finished(Command::new(common::example("arith_server")).arg("--help"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: arith_server"));
}
