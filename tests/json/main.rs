//! Go's JSON-RPC: against a real Go `net/rpc/jsonrpc`, both ways, and on hostile input.

#[path = "../common/mod.rs"]
mod common;

mod go_jsonrpc;
mod json_wire;
