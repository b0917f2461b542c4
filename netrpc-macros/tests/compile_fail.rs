//! What `#[netrpc::service]` refuses, and what it says: each file of `ui/` fails to compile
//! with the errors in its `.stderr` (`TRYBUILD=overwrite` rewrites them).

#[test]
fn refusals() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
