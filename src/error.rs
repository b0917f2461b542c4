//! Error types, one per concern: [`Error`] for calls, [`RegisterError`] for registration and
//! [`CodecError`] for the wire.

use std::fmt;
use std::io;

/// Why a call failed.
///
/// The texts follow Go's `net/rpc` where Go has one.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The remote method returned an error; this is its text (Go's `ServerError`).
    /// Server-side failures such as an unknown method arrive here too.
    Server(String),
    /// The remote method failed with an error that is no string, as MessagePack-RPC allows
    /// (Neovim sends `[code, message]`): `text` renders it readably, `value` is it as sent.
    ServerValue {
        /// The error rendered as text, as [`Error::Server`] would carry it.
        text: String,
        /// The error value as the peer sent it.
        value: rmpv::Value,
    },
    /// The client was closed, or its connection died before the call was sent
    /// (Go's `ErrShutdown`).
    Shutdown,
    /// The connection failed while the call was in flight.
    Io(io::Error),
    /// The arguments could not be encoded or the request was not sent (over the size limit,
    /// or while too much waits for the server: `ClientBuilder::max_unsent_bytes`), or the
    /// reply could not be decoded into the requested type, or the peer broke the protocol.
    Codec(CodecError),
    /// The call's deadline passed before its reply arrived.
    Timeout,
    /// The caller-supplied done channel has no capacity (Go panics with
    /// `rpc: done channel is unbuffered`).
    UnbufferedDone,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server(text) | Error::ServerValue { text, .. } => f.write_str(text),
            Error::Shutdown => f.write_str("connection is shut down"),
            Error::Io(e) => write!(f, "rpc: connection failed: {e}"),
            Error::Codec(e) => e.fmt(f),
            Error::Timeout => f.write_str("rpc: call timed out"),
            Error::UnbufferedDone => f.write_str("rpc: done channel is unbuffered"),
        }
    }
}

impl Error {
    /// The remote method's error text, for [`Error::Server`] and [`Error::ServerValue`].
    pub fn server_text(&self) -> Option<&str> {
        match self {
            Error::Server(text) | Error::ServerValue { text, .. } => Some(text),
            _ => None,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Codec(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CodecError> for Error {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Io(e) => Error::Io(e),
            other => Error::Codec(other),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Why a service could not be registered. The texts are Go's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// A service of this name is registered already.
    Duplicate(String),
    /// The service name is empty; carries the type name.
    NoName(String),
    /// The service has no methods; carries the service name.
    NoMethods(String),
    /// A method name is empty or contains a `.`; carries the offending `Service.Method`.
    InvalidMethod(String),
    /// The same method name was given twice; carries `Service.Method`.
    DuplicateMethod(String),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Duplicate(name) => write!(f, "rpc: service already defined: {name}"),
            RegisterError::NoName(ty) => write!(f, "rpc.Register: no service name for type {ty}"),
            RegisterError::NoMethods(name) => write!(
                f,
                "rpc.Register: type {name} has no exported methods of suitable type"
            ),
            RegisterError::InvalidMethod(name) => write!(
                f,
                "rpc.Register: invalid method name {name:?}: it must be non-empty and contain no '.'"
            ),
            RegisterError::DuplicateMethod(name) => {
                write!(f, "rpc.Register: method defined twice: {name}")
            }
        }
    }
}

impl std::error::Error for RegisterError {}

/// A failure to read or write a message.
///
/// [`CodecError::Decode`] and [`CodecError::Encode`] concern one body only: the stream stays
/// in step and the connection goes on. Every other variant ends the connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodecError {
    /// The underlying stream failed, or ended inside a message.
    Io(io::Error),
    /// A message is larger than the configured limit.
    TooLarge {
        /// The size the message has, or claims to have, in bytes.
        size: u64,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A request is larger than the server's limit; its sequence number could still be read,
    /// so the server answers that call with this error before it closes the connection.
    RequestTooLarge {
        /// The sequence number of the request.
        seq: u64,
        /// The size the request has, or claims to have, in bytes.
        size: u64,
        /// The server's limit in bytes.
        limit: usize,
    },
    /// The bytes are not a valid message of this protocol.
    Malformed(String),
    /// A body could not be decoded into the requested type; the text says why, in the
    /// codec's words (it is what a server sends back to the caller).
    Decode(String),
    /// A body could not be encoded; the text says why.
    Encode(String),
}

impl CodecError {
    /// Whether the stream is still in step after this error, so the connection can go on.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, CodecError::Decode(_) | CodecError::Encode(_))
    }

    /// A message (`what`: a request or a reply) of `size` bytes that is not sent, being over
    /// the sender's `limit`: an encode error, so that its call is answered with the reason
    /// instead.
    pub(crate) fn unsendable(what: &str, size: usize, limit: usize) -> CodecError {
        CodecError::Encode(format!(
            "rpc: {what} of {size} bytes exceeds the limit of {limit} bytes (max_message_size)"
        ))
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Io(e) => write!(f, "rpc: {e}"),
            CodecError::TooLarge { size, limit } => write!(
                f,
                "rpc: message of {size} bytes exceeds the limit of {limit} bytes"
            ),
            CodecError::RequestTooLarge { size, limit, .. } => write!(
                f,
                "rpc: request of {size} bytes exceeds the server's limit of {limit} bytes"
            ),
            CodecError::Malformed(what) => write!(f, "rpc: malformed message: {what}"),
            CodecError::Decode(what) | CodecError::Encode(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CodecError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for CodecError {
    fn from(e: io::Error) -> Self {
        CodecError::Io(e)
    }
}

impl Error {
    /// The remote method's error as the type `E` it returned, if this is a remote error that
    /// reads as one: from the value MessagePack-RPC carried ([`Error::ServerValue`], or the
    /// string of [`Error::Server`]), decoded as a reply would be. Go's wires carry text only,
    /// so there only an `E` that decodes from a string comes back (a `String`, a unit enum
    /// variant named as the text); `None` otherwise, and for every other kind of error.
    ///
    /// An error the server itself made (an unknown method, a panic) is text too: as a
    /// `String`, it reads like a method's.
    ///
    /// ```no_run
    /// # #[derive(serde::Deserialize, Debug)] enum DivideError { ByZero }
    /// # let client = netrpc::Client::dial("127.0.0.1:1234")?;
    /// match client.call::<_, i64>("Arith.Divide", &(1, 0)) {
    ///     Err(e) => println!("{:?}", e.remote::<DivideError>()), // Some(ByZero)
    ///     Ok(quotient) => println!("{quotient}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remote<E: serde::de::DeserializeOwned>(&self) -> Option<E> {
        let mut bytes = Vec::new();
        match self {
            Error::Server(text) => rmp::encode::write_str(&mut bytes, text).ok()?,
            Error::ServerValue { value, .. } => {
                rmpv::encode::write_value(&mut bytes, value).ok()?
            }
            _ => return None,
        }
        // No deeper than the reader let a value be (`wire::msgpack::MAX_DEPTH`).
        rmp_serde::from_slice(&bytes).ok()
    }
}
