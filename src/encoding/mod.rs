//! Go's data formats as serde formats: `encoding/gob`, and `encoding/json`'s reading of JSON
//! (its zero values, bytes as base64). Both give what a message leaves out Go's zero value
//! through `go_zero`. The wires build on them; they know no RPC.

#[cfg(any(feature = "json", feature = "gob"))]
pub(crate) mod go_zero;
#[cfg(feature = "gob")]
pub(crate) mod gob;
#[cfg(feature = "json")]
pub(crate) mod json;
