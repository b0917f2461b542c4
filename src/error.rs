//! Error types, one per concern: [`Error`] for calls, [`RegisterError`] for registration and
//! [`CodecError`] for the wire.

use std::fmt;
use std::io;

/// Why a call failed.
///
/// The texts follow Go's `net/rpc` where Go has one. Two questions every caller has are
/// answered by [`Error::is_connection_lost`] (redial before the next call) and
/// [`Error::may_have_run`] (retry only a method safe to run twice); each variant says its
/// answers.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The remote method returned an error; this is its text (Go's `ServerError`).
    /// Server-side failures such as an unknown method arrive here too.
    ///
    /// The server answered: the connection is intact, and the call may have run.
    Server(String),
    /// The remote method failed with an error that is no string, as MessagePack-RPC allows
    /// (Neovim sends `[code, message]`): `text` renders it readably, `value` is it as sent.
    ///
    /// As [`Error::Server`]: the connection is intact, and the call may have run.
    ServerValue {
        /// The error rendered as text, as [`Error::Server`] would carry it.
        text: String,
        /// The error value as the peer sent it.
        value: rmpv::Value,
    },
    /// The call was not sent: the client was closed, or its connection had ended, before
    /// (Go's `ErrShutdown`).
    ///
    /// The connection is lost; the call did not run.
    Shutdown,
    /// The connection ended while the call was in flight: it failed, the server hung up, or
    /// the client was closed ([`Client::close`](crate::Client::close), or its last handle
    /// dropped) with the call pending (kind `ConnectionAborted`).
    ///
    /// The connection is lost; the call may have run.
    Io(io::Error),
    /// A message of the call could not be made or read; [`CodecError`] says which:
    ///
    /// * [`CodecError::Encode`]: the request was not sent (its arguments could not be encoded,
    ///   it is over the size limit, or too much waits for the server:
    ///   `ClientBuilder::max_unsent_bytes`). The connection is intact; the call did not run.
    /// * [`CodecError::Decode`], [`CodecError::ReplyTooLarge`]: the reply came but could not
    ///   be decoded into the requested type, or was over the size limit and skipped. The
    ///   connection is intact; the call ran.
    /// * any other: the peer broke the protocol, or sent what no call could be told of. The
    ///   connection is lost; the call may have run.
    Codec(CodecError),
    /// The call's deadline passed before its reply arrived.
    ///
    /// The connection is intact, though perhaps slow; the call may have run (or may yet).
    Timeout,
    /// The caller-supplied done channel has no capacity (Go panics with
    /// `rpc: done channel is unbuffered`).
    ///
    /// The connection is intact; the call was not sent.
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

    /// Whether the connection is gone: every later call on this client fails with
    /// [`Error::Shutdown`], so dial a new one. False where only this call failed and the
    /// client goes on.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Error::Shutdown | Error::Io(_) => true,
            Error::Codec(e) => !e.is_recoverable(),
            Error::Server(_) | Error::ServerValue { .. } | Error::Timeout => false,
            Error::UnbufferedDone => false,
        }
    }

    /// Whether the request may have reached the server and the method run: then retrying
    /// is safe only for a method that may run twice. False only where the call is known not
    /// to have been sent.
    pub fn may_have_run(&self) -> bool {
        match self {
            Error::Shutdown | Error::UnbufferedDone => false,
            Error::Codec(CodecError::Encode(_)) => false,
            Error::Server(_) | Error::ServerValue { .. } => true,
            Error::Io(_) | Error::Codec(_) | Error::Timeout => true,
        }
    }

    /// The error of a call pending when the client was closed.
    pub(crate) fn closed_in_flight() -> Error {
        Error::Io(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the client was closed while the call was in flight",
        ))
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
/// [`CodecError::Decode`], [`CodecError::Encode`] and [`CodecError::ReplyTooLarge`] concern
/// one message only: the stream stays in step and the connection goes on. Every other variant
/// ends the connection.
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
    /// A reply is larger than the client's limit: its bytes were skipped as they came, and
    /// call `seq` fails with this error. The stream is in step; the connection goes on.
    ReplyTooLarge {
        /// The sequence number of the call the reply answers.
        seq: u64,
        /// The size of the reply, in bytes.
        size: u64,
        /// The client's limit in bytes.
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
        matches!(
            self,
            CodecError::Decode(_) | CodecError::Encode(_) | CodecError::ReplyTooLarge { .. }
        )
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
            CodecError::ReplyTooLarge { size, limit, .. } => write!(
                f,
                "rpc: reply of {size} bytes exceeds the client's limit of {limit} bytes \
                 (ClientBuilder::max_message_size); it was skipped"
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
