//! Go's data formats as serde formats: `encoding/gob`, and `encoding/json`'s reading of JSON
//! (its zero values, bytes as base64). The wires build on them; they know no RPC.

#[cfg(feature = "json")]
pub(crate) mod go_zero;
#[cfg(feature = "gob")]
pub(crate) mod gob;
#[cfg(feature = "json")]
pub(crate) mod json;
