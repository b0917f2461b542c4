//! Limits under real sockets and threads: deadlines, shutdown, sizes and timeouts, and hostile
//! peers against a live server.

#[path = "../common/mod.rs"]
mod common;

mod hardening;
mod hostile;
