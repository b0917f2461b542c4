//! Servers end to end: calls over TCP as Go's server_test.go and client_test.go mean them,
//! methods that block, connections opening and closing, and user code that misbehaves.

#[path = "../common/mod.rs"]
mod common;

mod blocking;
mod context;
mod lifecycle;
mod rpc;
mod user_code;
