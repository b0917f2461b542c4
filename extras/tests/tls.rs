//! The TLS example end to end: RPC over a rustls session through a user-written `Conn`.

// The library's own test fixtures.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::{assert_has_lines, example, output_of};

#[test]
fn the_tls_example_calls_over_tls() {
    let stdout = output_of(&mut Command::new(example("tls_arith")));
    assert_has_lines(
        &stdout,
        &[
            "Arith (TLS): 7*8=56",
            "Arith (TLS): 15/4=3 remainder 3",
            "Arith (TLS): 1/0 error: divide by zero",
            "Arith (TLS, async): 30",
        ],
    );
}
