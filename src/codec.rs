//! Codecs: how requests and responses travel on a connection.
//!
//! A codec mirrors Go's `rpc.ServerCodec` / `rpc.ClientCodec`, split in two halves so that one
//! thread can read while others write:
//!
//! * the server reads with a [`ServerCodec`] on the connection's thread and answers with its
//!   [`ResponseEncoder`], shared by the workers;
//! * the client reads with a [`ClientCodec`] on its reader thread and sends with its
//!   [`RequestEncoder`], shared by the callers.
//!
//! Encoders only encode: each message is appended to the connection's queue, and the library's
//! one writer per connection ([`Output`]) writes it out.
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
//!    `decode(&mut <dyn erased_serde::Deserializer<'_>>::erase(&mut your_deserializer))` and maps its
//!    error to [`CodecError::Decode`]; `read_*_body(None)` discards them.
//! 4. `writer` returns the encoder and the connection's writing half, [`Output::new`] of a
//!    clone of the connection. `encode_*` appends one whole message to the buffer it is given,
//!    or returns [`CodecError::Encode`]; whatever it appended then is discarded (and so is it if
//!    the body's `Serialize` panics). The library checks the size limit, writes, and shuts the
//!    connection down through the [`Output`].
//!
//! [`msgpack`](crate::wire::msgpack) is the reference implementation; `json` (feature `json`) is Go's JSON-RPC and
//! `gob` (feature `gob`) Go's default gob codec.

pub use erased_serde;

use crate::error::CodecError;
pub use crate::transport::Output;

/// The header of a request: what a client sends before the argument. A codec of your own
/// makes one with `Request::default()` and sets its fields: a later release may add some.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The sequence number chosen by the client; the response carries it back.
    pub seq: u64,
    /// The method to call, as `"Service.Method"`.
    pub service_method: String,
    /// A notification is executed but never answered.
    pub notification: bool,
    /// The body is the whole argument list (MessagePack-RPC's `params`), to be sent as it is:
    /// the caller passed a [`Params`](crate::Params). Otherwise the body is the one argument.
    /// A client codec reading a request from its peer sets it too: the body it keeps is the
    /// whole `params`.
    pub argument_list: bool,
    /// The size of the whole request as it came on the wire, in bytes, where the codec reading
    /// it knows (0 otherwise): for the metrics of the method called.
    pub size: usize,
}

/// The header of a response: what a server sends before the reply. A codec of your own makes
/// one with `Response::default()` and sets its fields: a later release may add some.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Response {
    /// The sequence number of the request this answers.
    pub seq: u64,
    /// The error text, if the call failed; then no reply body is sent.
    pub error: Option<String>,
    /// The error as a value, beside its text in `error`. Read: the peer's error, when that
    /// was no string (MessagePack-RPC allows any value: Neovim sends `[code, message]`);
    /// `error` then renders it. Written: a typed error
    /// ([`Service::method_with_typed_error`](crate::Service::method_with_typed_error)), which
    /// a wire that carries any value as its error sends instead of the text.
    pub error_value: Option<rmpv::Value>,
}

impl Response {
    /// The header that answers call `seq` with `result`, and the body that goes with it.
    /// The error `result` holds takes `failure`'s value if it is `failure`'s own text, not the
    /// reason `failure` could not be sent.
    pub(crate) fn answering<'a>(
        seq: u64,
        result: Result<&'a dyn erased_serde::Serialize, &str>,
        failure: Option<&Failure>,
    ) -> (Response, Option<&'a dyn erased_serde::Serialize>) {
        let mut response = Response {
            seq,
            ..Response::default()
        };
        let body = result
            .map_err(|error| {
                response.error = Some(error.to_owned());
                response.error_value = failure
                    .filter(|failure| failure.text == error)
                    .and_then(|failure| failure.value.clone());
            })
            .ok();
        (response, body)
    }
}

/// A method's error on its way to the encoder: its text, and a typed error's value.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) text: String,
    /// The error as a value, for a wire that carries one; `None` for an error that is text.
    pub(crate) value: Option<rmpv::Value>,
}

impl From<String> for Failure {
    fn from(text: String) -> Failure {
        Failure { text, value: None }
    }
}

/// A message on a client's connection: the answer to a call, or, on a wire where either end
/// may call the other (MessagePack-RPC), a request or notification from the peer.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A response to one of the client's calls.
    Response(Response),
    /// A request or notification from the peer; its body is the whole argument list.
    Request(Request),
}

/// A callback that deserializes a message body into the type the caller expects.
pub type DecodeBody<'a> =
    &'a mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>;

/// The reading half of a server codec (Go's `ServerCodec`).
pub trait ServerCodec: Send + 'static {
    /// Encodes the responses on this connection.
    type Encoder: ResponseEncoder;

    /// Returns the encoder for responses on this connection and the connection's writing
    /// half. The server calls it once per connection.
    fn writer(&mut self) -> Result<(Self::Encoder, Output), CodecError>;

    /// Reads the next request header; `Ok(None)` when the peer closed the connection cleanly.
    fn read_request_header(&mut self) -> Result<Option<Request>, CodecError>;

    /// Decodes the body of the request just read into `body`, or discards it when `None`.
    fn read_request_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError>;
}

/// Encodes responses: the writing half of a server codec.
pub trait ResponseEncoder: Send + 'static {
    /// Appends one response to `buf`; `body` is `None` when `response.error` is set.
    ///
    /// `response.error_value`, when set, is the same error as a value (a typed error): a wire
    /// whose error may be any value (MessagePack-RPC) sends it in place of the text; any
    /// other sends `response.error`, which is always set with it. An encoder that ignores
    /// `error_value` so sends what it sent before typed errors existed.
    fn encode_response(
        &mut self,
        buf: &mut Vec<u8>,
        response: &Response,
        body: Option<&dyn erased_serde::Serialize>,
    ) -> Result<(), CodecError>;
}

/// The reading half of a client codec (Go's `ClientCodec`).
pub trait ClientCodec: Send + 'static {
    /// Encodes the requests on this connection.
    type Encoder: RequestEncoder;

    /// Returns the encoder for requests on this connection and the connection's writing half.
    /// The client calls it once.
    fn writer(&mut self) -> Result<(Self::Encoder, Output), CodecError>;

    /// Reads the next response header; `Ok(None)` when the peer closed the connection cleanly.
    ///
    /// A response over the size limit whose call the codec could tell, and whose bytes it
    /// skipped, is [`CodecError::ReplyTooLarge`], here or from
    /// [`read_response_body`](Self::read_response_body): that call fails, and reading goes on.
    fn read_response_header(&mut self) -> Result<Option<Response>, CodecError>;

    /// Reads the next message: a response, or a request from the peer where the wire allows
    /// one. The default reads responses only.
    fn read_message(&mut self) -> Result<Option<Message>, CodecError> {
        Ok(self.read_response_header()?.map(Message::Response))
    }

    /// Decodes the body of the message just read into `body`, or discards it when `None`.
    fn read_response_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError>;
}

/// Encodes requests: the writing half of a client codec.
pub trait RequestEncoder: Send + 'static {
    /// Appends one request with its argument to `buf`.
    fn encode_request(
        &mut self,
        buf: &mut Vec<u8>,
        request: &Request,
        body: &dyn erased_serde::Serialize,
    ) -> Result<(), CodecError>;

    /// Whether each request this encoder appends stands alone, so that one left unsent spoils
    /// none after it. Where it does (MessagePack-RPC, JSON-RPC), the client drops, unsent, the
    /// requests of calls that timed out before they were written. The default, for a stream
    /// that carries state from message to message (gob's type definitions), is `false`.
    fn requests_stand_alone(&self) -> bool {
        false
    }

    /// Appends the client's answer to a request its peer sent, on a wire where the peer may
    /// call the client (see [`ClientCodec::read_message`]). The default refuses.
    fn encode_reply(
        &mut self,
        _buf: &mut Vec<u8>,
        _response: &Response,
        _body: Option<&dyn erased_serde::Serialize>,
    ) -> Result<(), CodecError> {
        Err(CodecError::Encode(
            "rpc: this codec cannot answer its peer's requests".to_owned(),
        ))
    }
}
