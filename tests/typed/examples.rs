//! The typed examples run and say what they did.

use std::process::Command;

use crate::common;

#[test]
fn the_typed_demo_serves_and_calls_arith() {
    let out = common::output_of(&mut Command::new(common::example("arith_typed")));
    common::assert_has_lines(
        &out,
        &[
            "Arith: 7*8=56",
            "Arith: 15/4=3 remainder 3",
            "Arith: 2+3=5 (params [2, 3])",
            "Arith.Mul2: 2*21=42",
            "Arith: 1/0 error: ByZero, as a DivideError: Some(ByZero)",
            "Arith: -9223372036854775808/-1 error: {\"Overflow\": {\"a\": -9223372036854775808, \
             \"b\": -1}}, as a DivideError: Some(Overflow { a: -9223372036854775808, b: -1 })",
        ],
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("Arith (async"))
            .count(),
        3
    );
}

#[test]
fn the_cost_comparison_runs() {
    let out = common::output_of(
        Command::new(common::example("typed_cost")).args(["--calls", "50", "--rounds", "2"]),
    );
    assert!(out.contains("2 rounds of 50 calls each"), "{out}");
    assert!(out.contains("typed call: fastest"), "{out}");
    assert!(out.contains("typed go: fastest"), "{out}");
}
