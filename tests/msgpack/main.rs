//! The MessagePack-RPC wire: byte for byte, in both directions, and against a real Neovim.

#[path = "../common/mod.rs"]
mod common;

mod nvim;
mod symmetric;
mod wire;
