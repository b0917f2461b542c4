//! Nothing to use: this package holds netrpc's examples, tests and benches that need heavy
//! dependencies (rustls and rcgen for `examples/tls_arith.rs` and `tests/tls.rs`, criterion for
//! `benches/rpc.rs`), so that the library's own dev-dependencies stay light and
//! `cargo run --example arith` builds only what the demo needs.
//!
//! Run them from the repository root: `cargo run -p netrpc-extras --example tls_arith`,
//! `cargo test -p netrpc-extras`, `cargo bench -p netrpc-extras --bench rpc`.
