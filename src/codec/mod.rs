//! Codecs: how requests and responses travel on a connection.
//!
//! A codec mirrors Go's `rpc.ServerCodec` / `rpc.ClientCodec`, split in two halves so that one
//! thread can read while others write:
//!
//! * the server reads with a [`ServerCodec`] on the connection's thread and answers through its
//!   [`ResponseWriter`], shared by the workers;
//! * the client reads with a [`ClientCodec`] on its reader thread and sends through its
//!   [`RequestWriter`], shared by the callers.
//!
//! Bodies are typed by the method, not by the codec, so they cross the trait as
//! [`erased_serde`] objects: a reader hands the body to a [`DecodeBody`] callback as a
//! `&mut dyn erased_serde::Deserializer`, and a writer receives a `&dyn erased_serde::Serialize`,
//! which implements [`serde::Serialize`] and so works with any serde format.
//!
//! # Writing a codec
//!
//! 1. Frame the stream so that a message is read completely before it is parsed, and refuse a
//!    message over a size limit *before* allocating for it: the peer may be hostile.
//! 2. `read_*_header` parses the envelope and keeps the body's bytes; it returns `Ok(None)` at a
//!    clean end of stream (between messages).
//! 3. `read_*_body(Some(decode))` deserializes the kept bytes by calling
//!    `decode(&mut <dyn erased_serde::Deserializer>::erase(&mut your_deserializer))` and maps its
//!    error to [`CodecError::Decode`]; `read_*_body(None)` discards them.
//! 4. The writer buffers: `write_*` appends a whole message (or, if encoding fails, nothing, and
//!    returns [`CodecError::Encode`]); `flush` sends what is buffered. The library calls `flush`
//!    once a batch of concurrent messages is written, not after each one.
//! 5. `close` shuts the connection down in both directions, so that a thread blocked reading it
//!    wakes up.
//!
//! [`msgpack`] is the reference implementation; `json` (feature `json`) is Go's JSON-RPC.

pub(crate) mod framed;
#[cfg(feature = "json")]
pub mod json;
pub mod msgpack;

pub use erased_serde;

use crate::error::CodecError;

/// The header of a request: what a client sends before the argument.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The sequence number chosen by the client; the response carries it back.
    pub seq: u64,
    /// The method to call, as `"Service.Method"`.
    pub service_method: String,
    /// A notification is executed but never answered.
    pub notification: bool,
}

/// The header of a response: what a server sends before the reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The sequence number of the request this answers.
    pub seq: u64,
    /// The error text, if the call failed; then no reply body is sent.
    pub error: Option<String>,
}

/// A callback that deserializes a message body into the type the caller expects.
pub type DecodeBody<'a> =
    &'a mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>;

/// The reading half of a server codec (Go's `ServerCodec`).
pub trait ServerCodec: Send + 'static {
    /// The writing half of the same connection.
    type Writer: ResponseWriter;

    /// Returns a writer for responses on this connection. The server calls it once per connection.
    fn writer(&mut self) -> Result<Self::Writer, CodecError>;

    /// Reads the next request header; `Ok(None)` when the peer closed the connection cleanly.
    fn read_request_header(&mut self) -> Result<Option<Request>, CodecError>;

    /// Decodes the body of the request just read into `body`, or discards it when `None`.
    fn read_request_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError>;
}

/// The writing half of a server codec.
pub trait ResponseWriter: Send + 'static {
    /// Buffers one response; `body` is `None` when `response.error` is set.
    fn write_response(
        &mut self,
        response: &Response,
        body: Option<&dyn erased_serde::Serialize>,
    ) -> Result<(), CodecError>;

    /// Sends what is buffered.
    fn flush(&mut self) -> Result<(), CodecError>;

    /// Shuts the connection down in both directions.
    fn close(&mut self) -> Result<(), CodecError>;
}

/// The reading half of a client codec (Go's `ClientCodec`).
pub trait ClientCodec: Send + 'static {
    /// The writing half of the same connection.
    type Writer: RequestWriter;

    /// Returns a writer for requests on this connection. The client calls it once.
    fn writer(&mut self) -> Result<Self::Writer, CodecError>;

    /// Reads the next response header; `Ok(None)` when the peer closed the connection cleanly.
    fn read_response_header(&mut self) -> Result<Option<Response>, CodecError>;

    /// Decodes the body of the response just read into `body`, or discards it when `None`.
    fn read_response_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError>;
}

/// The writing half of a client codec.
pub trait RequestWriter: Send + 'static {
    /// Buffers one request with its argument.
    fn write_request(
        &mut self,
        request: &Request,
        body: &dyn erased_serde::Serialize,
    ) -> Result<(), CodecError>;

    /// Sends what is buffered.
    fn flush(&mut self) -> Result<(), CodecError>;

    /// Shuts the connection down in both directions.
    fn close(&mut self) -> Result<(), CodecError>;
}
