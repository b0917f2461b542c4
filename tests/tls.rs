//! The TLS example end to end: RPC over a rustls session through a user-written `Conn`.

mod common;

use std::process::Command;

#[test]
fn the_tls_example_calls_over_tls() {
    let output = Command::new(common::example("tls_arith"))
        .output()
        .expect("run tls_arith");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tls_arith failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "Arith (TLS): 7*8=56",
        "Arith (TLS): 15/4=3 remainder 3",
        "Arith (TLS): 1/0 error: divide by zero",
        "Arith (TLS, async): 30",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
}
