//! The one error type of the gob format.

use std::fmt;

/// Why encoding or decoding a gob failed.
///
/// The message says what was wrong in terms of the data (a field name, a type, a limit), never
/// in terms of this crate's internals.
#[derive(Clone, PartialEq, Eq)]
pub struct GobError {
    kind: Kind,
    message: String,
}

/// What sort of failure a [`GobError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GobErrorKind {
    /// The input is not a valid gob stream (bad encoding, unknown type id, short message).
    Malformed,
    /// The input is valid but goes past a configured limit (message size, depth, types).
    Limit,
    /// The value or type cannot be expressed in gob (enums with data, `i128`, a top-level
    /// `None`, an element type that cannot be inferred).
    Unsupported,
    /// The value does not fit the type on the wire or the type being decoded into.
    Mismatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Public(GobErrorKind),
    /// Tracing met a type inside itself; caught by the tracer, never returned to a caller.
    Recursion,
}

impl GobError {
    fn new(kind: GobErrorKind, message: impl Into<String>) -> GobError {
        GobError {
            kind: Kind::Public(kind),
            message: message.into(),
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> GobError {
        GobError::new(GobErrorKind::Malformed, message)
    }

    pub(crate) fn truncated() -> GobError {
        GobError::malformed("the message ends in the middle of a value")
    }

    pub(crate) fn limit(message: impl Into<String>) -> GobError {
        GobError::new(GobErrorKind::Limit, message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> GobError {
        GobError::new(GobErrorKind::Unsupported, message)
    }

    pub(crate) fn mismatch(message: impl Into<String>) -> GobError {
        GobError::new(GobErrorKind::Mismatch, message)
    }

    pub(crate) fn recursion() -> GobError {
        GobError {
            kind: Kind::Recursion,
            message: "a type contains itself".into(),
        }
    }

    pub(crate) fn is_recursion(&self) -> bool {
        self.kind == Kind::Recursion
    }

    /// What sort of failure this is.
    pub fn kind(&self) -> GobErrorKind {
        match self.kind {
            Kind::Public(kind) => kind,
            Kind::Recursion => GobErrorKind::Unsupported,
        }
    }

    /// The message without the `gob: ` prefix that [`Display`](fmt::Display) adds.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for GobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gob: {}", self.message)
    }
}

impl fmt::Debug for GobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GobError({:?}: {})", self.kind(), self.message)
    }
}

impl std::error::Error for GobError {}

impl serde::ser::Error for GobError {
    fn custom<T: fmt::Display>(msg: T) -> GobError {
        GobError::mismatch(unprefixed(&msg.to_string()))
    }
}

impl serde::de::Error for GobError {
    fn custom<T: fmt::Display>(msg: T) -> GobError {
        GobError::mismatch(unprefixed(&msg.to_string()))
    }
}

impl From<erased_serde::Error> for GobError {
    fn from(e: erased_serde::Error) -> GobError {
        GobError::mismatch(unprefixed(&e.to_string()))
    }
}

/// `text` without the `gob: ` prefixes it gathered on its way out through serde's layers as a
/// [`GobError`] made text, once per layer.
fn unprefixed(mut text: &str) -> &str {
    while let Some(rest) = text.strip_prefix("gob: ") {
        text = rest;
    }
    text
}
