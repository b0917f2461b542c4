//! Go's gob: the format against Go's `encoding/gob`, and `net/rpc` over it against Go, both ways.

#[path = "../common/mod.rs"]
mod common;

mod gob_go;
mod gob_rpc;
