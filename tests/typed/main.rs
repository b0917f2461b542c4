//! Typed services (`#[netrpc::service]`): one trait's client and server, against each other
//! on every wire, against Go's `net/rpc` (gob and JSON-RPC) and Python's MessagePack-RPC, and
//! a trait over part of Neovim's API against a real Neovim.

#[path = "../common/mod.rs"]
mod common;

mod arith;
mod calls;
mod errors;
mod examples;
mod nvim;
mod peers;
