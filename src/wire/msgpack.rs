//! The MessagePack-RPC codec, netrpc's default.
//!
//! It speaks the [MessagePack-RPC spec], so clients and servers in other languages interoperate:
//!
//! | message      | wire                                 |
//! |--------------|--------------------------------------|
//! | request      | `[0, msgid, "Service.Method", params]` |
//! | response     | `[1, msgid, error, result]`          |
//! | notification | `[2, "Service.Method", params]`      |
//!
//! netrpc's client sends `params` as `[argument]`, or, for a [`Params`](crate::Params), the
//! argument list as given. The server takes a one-element `params` as the argument, an empty
//! one as nil, and any other array whole, so a foreign client calling with positional params
//! `[7, 8]` reaches a method whose argument is the tuple `(i64, i64)`. `error` is nil on
//! success, otherwise the error text, or a typed error's value ([`Response::error_value`]; a
//! foreign peer's error that is no string is rendered readably, and kept there); `result` is
//! nil on error. Structs are
//! encoded as maps keyed by field name; decoding accepts maps and arrays.
//!
//! The spec is symmetric, and so is the client codec: it reads requests and notifications
//! from its peer too ([`ClientCodec::read_message`]), keeping their whole `params` as the body,
//! and answers them ([`RequestEncoder::encode_reply`]).
//!
//! The stream has no framing beyond MessagePack itself, so every message is scanned to its end,
//! with each length checked against the size limit, before it is parsed.
//!
//! [MessagePack-RPC spec]: https://github.com/msgpack-rpc/msgpack-rpc/blob/master/spec.md

use std::ops::Range;

use serde::Serialize;

use super::{not_a_list, DEFAULT_MAX_MESSAGE_SIZE};
use crate::codec::{
    ClientCodec, DecodeBody, Message, Output, Request, RequestEncoder, Response, ResponseEncoder,
    ServerCodec,
};
use crate::error::CodecError;
use crate::transport::framed::{FrameReader, Header, Scanner, Skip};
use crate::transport::Conn;

/// The deepest nesting of arrays and maps a body may have. It bounds the stack a decoder needs.
pub const MAX_DEPTH: usize = 128;

const REQUEST: u64 = 0;
const RESPONSE: u64 = 1;
const NOTIFICATION: u64 = 2;
const NIL: u8 = 0xc0;

/// Where the body of the message just read lies.
#[derive(Debug, Clone)]
enum Body {
    /// Nothing was read yet, or the body was consumed.
    None,
    /// An absent argument (`params` was `[]`): decodes as nil.
    Nil,
    /// These bytes of the reader's buffer.
    Frame(Range<usize>),
}

/// The reading half both sides share: whole messages off the connection, and the body of
/// the last one kept for decoding.
struct MessageReader<C> {
    frames: FrameReader<C, MsgpackScanner>,
    body: Body,
}

impl<C: Conn> MessageReader<C> {
    fn new(conn: C, limit: usize) -> Self {
        MessageReader {
            frames: FrameReader::new(conn, limit),
            body: Body::None,
        }
    }

    fn writer(&self) -> Result<(MsgpackEncoder, Output), CodecError> {
        Ok((MsgpackEncoder, self.frames.output()?))
    }

    /// Reads the next message and parses `[kind, ...` off its front; `Ok(None)` at a clean
    /// end of stream.
    fn next(&mut self) -> Result<Option<Envelope<'_>>, CodecError> {
        self.body = Body::None;
        let frame = self.frames.next_frame().map_err(|e| match e {
            // A request's msgid comes before its bulk: its caller can be told why.
            CodecError::TooLarge { size, limit } => match seq_of(REQUEST, self.frames.unread()) {
                Some(seq) => CodecError::RequestTooLarge { seq, size, limit },
                None => e,
            },
            e => e,
        });
        let Some(frame) = frame? else {
            return Ok(None);
        };
        let mut rd = self.frames.bytes(frame.clone());
        let len = read_array_len(&mut rd).map_err(|e| {
            let mut front = self.frames.bytes(frame.clone()).to_vec();
            front.extend_from_slice(self.frames.unread());
            spoken_http(&front).unwrap_or(e)
        })?;
        let kind = read_uint(&mut rd)?;
        Ok(Some(Envelope {
            kind,
            len,
            size: frame.len(),
            rest_start: frame.end - rd.len(),
            rest: rd,
        }))
    }

    /// Reads the next message whole and keeps its body: a response's result, or a request's
    /// argument (the one-argument reading of `params`) or, with `whole_params`, all of
    /// `params`.
    fn next_message(&mut self, whole_params: bool) -> Result<Option<Message>, CodecError> {
        let Some(Envelope {
            kind,
            len,
            size,
            rest: mut rd,
            rest_start,
        }) = self.next()?
        else {
            return Ok(None);
        };
        let before = rd.len();
        let (message, body) = match (len, kind) {
            (4, RESPONSE) => {
                let seq = read_uint(&mut rd)?;
                let error_len = value_len(rd)?;
                let (error, error_value) = error_of(&rd[..error_len]);
                let start = rest_start + (before - rd.len()) + error_len;
                let response = Response {
                    seq,
                    error,
                    error_value,
                };
                (
                    Message::Response(response),
                    Body::Frame(start..rest_start + before),
                )
            }
            (4, REQUEST) | (3, NOTIFICATION) => {
                let notification = kind == NOTIFICATION;
                let seq = if notification { 0 } else { read_uint(&mut rd)? };
                let service_method = read_str(&mut rd)?.to_owned();
                let start = rest_start + (before - rd.len());
                let params = start..start + rd.len();
                let body = if whole_params {
                    Body::Frame(params)
                } else {
                    argument(rd, params)
                };
                let request = Request {
                    seq,
                    service_method,
                    notification,
                    argument_list: whole_params,
                    size,
                };
                (Message::Request(request), body)
            }
            _ => {
                return Err(CodecError::Malformed(format!(
                    "expected a request [0, msgid, method, params], a response \
                     [1, msgid, error, result] or a notification [2, method, params], \
                     got an array of {len} of type {kind}"
                )))
            }
        };
        self.body = body;
        Ok(Some(message))
    }

    /// Skips a response over the limit, its msgid read before its bulk, so that only its
    /// call fails ([`CodecError::ReplyTooLarge`]).
    fn skip_reply(&mut self, e: CodecError) -> CodecError {
        let CodecError::TooLarge { limit, .. } = e else {
            return e;
        };
        let Some(seq) = seq_of(RESPONSE, self.frames.unread()) else {
            return e;
        };
        match self.frames.skip_refused() {
            Ok(Some(size)) => CodecError::ReplyTooLarge { seq, size, limit },
            Ok(None) => e,
            Err(e) => e,
        }
    }

    /// Decodes the kept body into `decode`, or discards it when `None`.
    fn read_body(&mut self, decode: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        let kept = std::mem::replace(&mut self.body, Body::None);
        let Some(decode) = decode else {
            return Ok(());
        };
        let bytes = match kept {
            Body::Frame(range) => self.frames.bytes(range),
            Body::Nil => &[NIL][..],
            Body::None => {
                return Err(CodecError::Decode(
                    "rpc: reading body: no message body to read: read a header first".to_owned(),
                ))
            }
        };
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
        de.set_max_depth(MAX_DEPTH);
        decode(&mut <dyn erased_serde::Deserializer<'_>>::erase(&mut de))
            .map_err(|e| CodecError::Decode(format!("rpc: reading body: {}", in_serde_words(&e))))
    }
}

/// A decoding error as serde says it. `rmp_serde` reports a value that is not the number or
/// boolean asked for by its marker (`wrong msgpack marker FixStr(8)`): say what came instead.
fn in_serde_words(e: &erased_serde::Error) -> String {
    let text = e.to_string();
    let Some(marker) = text.strip_prefix("wrong msgpack marker ") else {
        return text;
    };
    let came = [
        ("FixStr", "a string"),
        ("Str", "a string"),
        ("Bin", "bytes"),
        ("FixArray", "an array"),
        ("Array", "an array"),
        ("FixMap", "a map"),
        ("Map", "a map"),
        ("FixExt", "an extension value"),
        ("Ext", "an extension value"),
        ("Null", "nil"),
        ("Reserved", "the unused byte 0xc1"),
    ]
    .iter()
    .find(|(prefix, _)| marker.starts_with(prefix))
    .map_or("a value of another kind", |(_, came)| came);
    format!("invalid type: {came}, expected a number or a boolean")
}

/// The front of a message: `[kind, ...` with the array's length.
struct Envelope<'a> {
    kind: u64,
    len: u32,
    /// The whole message's size.
    size: usize,
    /// The message after the kind...
    rest: &'a [u8],
    /// ...and where it starts in the reader's buffer.
    rest_start: usize,
}

/// The server side of the MessagePack-RPC codec: reads requests and notifications.
pub struct MsgpackServerCodec<C>(MessageReader<C>);

impl<C> std::fmt::Debug for MsgpackServerCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgpackServerCodec").finish_non_exhaustive()
    }
}

impl<C: Conn> MsgpackServerCodec<C> {
    /// A codec on `conn` with the default message size limit.
    pub fn new(conn: C) -> Self {
        Self::with_max_message_size(conn, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A codec on `conn` that refuses messages larger than `limit` bytes, both ways.
    pub fn with_max_message_size(conn: C, limit: usize) -> Self {
        MsgpackServerCodec(MessageReader::new(conn, limit))
    }
}

impl<C: Conn> ServerCodec for MsgpackServerCodec<C> {
    type Encoder = MsgpackEncoder;

    fn writer(&mut self) -> Result<(MsgpackEncoder, Output), CodecError> {
        self.0.writer()
    }

    fn read_request_header(&mut self) -> Result<Option<Request>, CodecError> {
        match self.0.next_message(false)? {
            None => Ok(None),
            Some(Message::Request(request)) => Ok(Some(request)),
            Some(Message::Response(_)) => Err(CodecError::Malformed(
                "expected a request [0, msgid, method, params] or a notification \
                 [2, method, params], got a response"
                    .to_owned(),
            )),
        }
    }

    fn read_request_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        self.0.read_body(body)
    }
}

/// The error for a peer that speaks HTTP where MessagePack-RPC was expected (an answer, or
/// a request line, in `front`, the first bytes of the message): a server that takes RPC over
/// HTTP only, dialled without `dial_http`, answers `400 Bad Request`.
fn spoken_http(front: &[u8]) -> Option<CodecError> {
    let line = front.split(|&b| b == b'\r' || b == b'\n').next()?;
    let method = line.split(|&b| b == b' ').next()?;
    let http = line.starts_with(b"HTTP/1.")
        || (!method.is_empty()
            && method.iter().all(u8::is_ascii_uppercase)
            && line.windows(8).any(|w| w == b" HTTP/1."));
    http.then(|| {
        let line = String::from_utf8_lossy(&line[..line.len().min(80)]);
        CodecError::Malformed(format!(
            "the peer speaks HTTP, not MessagePack-RPC ({line:?}); a server that takes RPC \
             over HTTP is dialled with Client::dial_http"
        ))
    })
}

/// The msgid of the message of `kind` (a request or a response) that `front` begins, if it
/// is one and the msgid has come.
fn seq_of(kind: u64, mut front: &[u8]) -> Option<u64> {
    let rd = &mut front;
    (read_array_len(rd).ok()? == 4 && read_uint(rd).ok()? == kind).then_some(())?;
    read_uint(rd).ok()
}

/// Where the argument lies in `params`: its one element, nil for `[]`, or the whole value.
fn argument(params: &[u8], range: Range<usize>) -> Body {
    let mut rd = params;
    match read_array_len(&mut rd) {
        Ok(0) => Body::Nil,
        Ok(1) => Body::Frame(range.end - rd.len()..range.end),
        _ => Body::Frame(range),
    }
}

/// The client side of the MessagePack-RPC codec: reads responses.
pub struct MsgpackClientCodec<C>(MessageReader<C>);

impl<C> std::fmt::Debug for MsgpackClientCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgpackClientCodec").finish_non_exhaustive()
    }
}

impl<C: Conn> MsgpackClientCodec<C> {
    /// A codec on `conn` with the default message size limit.
    pub fn new(conn: C) -> Self {
        Self::with_max_message_size(conn, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A codec on `conn` that refuses messages larger than `limit` bytes, both ways.
    pub fn with_max_message_size(conn: C, limit: usize) -> Self {
        MsgpackClientCodec(MessageReader::new(conn, limit))
    }
}

impl<C: Conn> ClientCodec for MsgpackClientCodec<C> {
    type Encoder = MsgpackEncoder;

    fn writer(&mut self) -> Result<(MsgpackEncoder, Output), CodecError> {
        self.0.writer()
    }

    fn read_response_header(&mut self) -> Result<Option<Response>, CodecError> {
        match self.read_message()? {
            None => Ok(None),
            Some(Message::Response(response)) => Ok(Some(response)),
            Some(Message::Request(_)) => Err(CodecError::Malformed(
                "expected a response [1, msgid, error, result], got a request".to_owned(),
            )),
        }
    }

    fn read_message(&mut self) -> Result<Option<Message>, CodecError> {
        self.0.next_message(true).map_err(|e| self.0.skip_reply(e))
    }

    fn read_response_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        self.0.read_body(body)
    }
}

/// The `error` of a response: nil is success, a string is itself, and anything else (Neovim
/// sends `[code, message]`) is rendered readably and kept as it came. One too deep to decode
/// fails its call only, with a text that says so: the message around it is whole.
fn error_of(value: &[u8]) -> (Option<String>, Option<rmpv::Value>) {
    if value == [NIL] {
        return (None, None);
    }
    // A text, as a string or as bytes (peers from before the spec had `str` send raw bytes).
    let mut rd = value;
    let len = rmp::decode::read_str_len(&mut rd).or_else(|_| {
        rd = value;
        rmp::decode::read_bin_len(&mut rd)
    });
    if len.is_ok_and(|len| len as usize == rd.len()) {
        return (Some(String::from_utf8_lossy(rd).into_owned()), None);
    }
    let mut de = rmp_serde::Deserializer::from_read_ref(value);
    de.set_max_depth(MAX_DEPTH);
    match serde::Deserialize::deserialize(&mut de) {
        Ok(value) => (Some(rmpv::Value::to_string(&value)), Some(value)),
        Err(e) => (
            Some(format!("rpc: the peer's error value cannot be read: {e}")),
            None,
        ),
    }
}

/// The encoder of both sides of the MessagePack-RPC codec.
#[derive(Debug, Default, Clone, Copy)]
pub struct MsgpackEncoder;

impl ResponseEncoder for MsgpackEncoder {
    fn encode_response(
        &mut self,
        buf: &mut Vec<u8>,
        response: &Response,
        body: Option<&dyn erased_serde::Serialize>,
    ) -> Result<(), CodecError> {
        buf.extend_from_slice(&[0x94, RESPONSE as u8]);
        write_uint(buf, response.seq)?;
        match (&response.error_value, &response.error) {
            (Some(value), _) => {
                rmpv::encode::write_value(buf, value)
                    .map_err(|e| CodecError::Encode(format!("rpc: encoding error value: {e}")))?;
                buf.push(NIL);
            }
            (None, Some(text)) => {
                write_str(buf, text)?;
                buf.push(NIL);
            }
            (None, None) => {
                buf.push(NIL);
                encode_body(buf, body)?;
            }
        }
        Ok(())
    }
}

impl RequestEncoder for MsgpackEncoder {
    fn encode_request(
        &mut self,
        buf: &mut Vec<u8>,
        request: &Request,
        body: &dyn erased_serde::Serialize,
    ) -> Result<(), CodecError> {
        if request.notification {
            buf.extend_from_slice(&[0x93, NOTIFICATION as u8]);
        } else {
            buf.extend_from_slice(&[0x94, REQUEST as u8]);
            write_uint(buf, request.seq)?;
        }
        write_str(buf, &request.service_method)?;
        if !request.argument_list {
            buf.push(0x91); // params: [argument]
            return encode_body(buf, Some(body));
        }
        let start = buf.len();
        encode_body(buf, Some(body))?;
        match buf[start] {
            NIL if buf.len() == start + 1 => buf[start] = 0x90, // `Params(())`: no arguments.
            0x90..=0x9f | 0xdc | 0xdd => {}
            _ => return Err(not_a_list()),
        }
        Ok(())
    }

    fn requests_stand_alone(&self) -> bool {
        true
    }

    fn encode_reply(
        &mut self,
        buf: &mut Vec<u8>,
        response: &Response,
        body: Option<&dyn erased_serde::Serialize>,
    ) -> Result<(), CodecError> {
        self.encode_response(buf, response, body)
    }
}

fn encode_body(
    buf: &mut Vec<u8>,
    body: Option<&dyn erased_serde::Serialize>,
) -> Result<(), CodecError> {
    match body {
        Some(body) => {
            let mut ser = rmp_serde::Serializer::new(buf).with_struct_map();
            body.serialize(&mut ser)
                .map_err(|e| CodecError::Encode(format!("rpc: encoding body: {e}")))
        }
        None => {
            buf.push(NIL);
            Ok(())
        }
    }
}

fn write_uint(buf: &mut Vec<u8>, value: u64) -> Result<(), CodecError> {
    rmp::encode::write_uint(buf, value)
        .map(drop)
        .map_err(|e| CodecError::Encode(format!("rpc: encoding header: {e}")))
}

fn write_str(buf: &mut Vec<u8>, text: &str) -> Result<(), CodecError> {
    rmp::encode::write_str(buf, text)
        .map_err(|e| CodecError::Encode(format!("rpc: encoding header: {e}")))
}

// The header's parts. rmp's errors say nothing a user can act on ("the type decoded isn't
// match with the expected one"), so they are replaced by what was expected.

fn read_array_len(rd: &mut &[u8]) -> Result<u32, CodecError> {
    rmp::decode::read_array_len(rd)
        .map_err(|_| CodecError::Malformed("expected an array".to_owned()))
}

fn read_uint(rd: &mut &[u8]) -> Result<u64, CodecError> {
    rmp::decode::read_int(rd).map_err(|_| {
        CodecError::Malformed("expected an unsigned integer (a kind or a msgid)".to_owned())
    })
}

/// Reads a method name: a string, or binary holding UTF-8, which some peers send for one.
fn read_str<'a>(rd: &mut &'a [u8]) -> Result<&'a str, CodecError> {
    let mut as_bin = *rd;
    let len = rmp::decode::read_str_len(rd)
        .or_else(|_| {
            let len = rmp::decode::read_bin_len(&mut as_bin)?;
            *rd = as_bin;
            Ok::<_, rmp::decode::ValueReadError>(len)
        })
        .map_err(|_| CodecError::Malformed("expected a method name, as a string".to_owned()))?
        as usize;
    let bytes = rd.get(..len).ok_or_else(|| {
        CodecError::Malformed("method name runs past the end of the message".to_owned())
    })?;
    *rd = &rd[len..];
    std::str::from_utf8(bytes)
        .map_err(|_| CodecError::Malformed("method name is not UTF-8".to_owned()))
}

/// The length of the one complete value at the start of `buf`.
fn value_len(buf: &[u8]) -> Result<usize, CodecError> {
    MsgpackScanner::default()
        .value(buf, usize::MAX)?
        .ok_or_else(|| CodecError::Malformed("message ends inside a value".to_owned()))
}

/// Finds the end of one MessagePack value without decoding it, checking each length marker
/// against the limit before any byte of its payload is awaited.
///
/// MessagePack is prefix-coded, so one counter suffices: every header pays one value owed and
/// adds the items its array or map holds; the value is complete when nothing is owed.
#[derive(Debug, Default)]
pub(crate) struct MsgpackScanner {
    /// Bytes of the current message accepted so far.
    pos: usize,
    /// Values still to come; 0 before a message starts.
    owed: u64,
    /// How long the current message is at least, as far as its headers so far tell.
    least: u64,
}

impl Scanner for MsgpackScanner {
    fn scan(&mut self, buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
        if self.owed == 0 {
            envelope_front(buf)?;
        }
        self.value(buf, limit)
    }

    fn least(&self) -> usize {
        // Under the limit, which is a usize, once `value` has not refused it.
        usize::try_from(self.least).unwrap_or(usize::MAX)
    }
}

impl MsgpackScanner {
    /// Finds the end of the one value `buf` begins with, whatever it is.
    fn value(&mut self, buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
        if self.owed == 0 {
            self.owed = 1;
            self.pos = 0;
        }
        let too_large = |size: u64| CodecError::TooLarge { size, limit };
        while self.owed > 0 {
            let Some((header, payload, items)) = value_header(&buf[self.pos..])? else {
                return Ok(None);
            };
            let end = self.pos as u64 + header as u64 + payload;
            // Each owed value takes at least one more byte.
            let least = end + self.owed - 1 + items;
            if least > limit as u64 {
                return Err(too_large(least));
            }
            if end > buf.len() as u64 {
                self.least = least;
                return Ok(None);
            }
            self.pos = end as usize;
            self.owed = self.owed - 1 + items;
        }
        self.least = 0;
        Ok(Some(std::mem::take(&mut self.pos)))
    }
}

/// Fails at once on a message whose first bytes already say it is none of MessagePack-RPC's:
/// not an array, or a fixarray whose kind is not 0, 1 or 2. The rest waits for the whole
/// message. (A peer that sent such bytes and stalled would otherwise hold the connection.)
fn envelope_front(buf: &[u8]) -> Result<(), CodecError> {
    let (Some(&marker), kind) = (buf.first(), buf.get(1)) else {
        return Ok(());
    };
    let wrong = match (marker, kind) {
        (0x93 | 0x94, Some(0x00..=0x02) | None) | (0xdc | 0xdd, _) => return Ok(()),
        (0x93 | 0x94, Some(kind)) => format!("a message of kind {kind:#04x}, not 0, 1 or 2"),
        _ => format!("a message that begins {marker:#04x}, not an array"),
    };
    Err(spoken_http(buf).unwrap_or_else(|| {
        CodecError::Malformed(format!(
            "expected a request [0, msgid, method, params], a response [1, msgid, error, \
             result] or a notification [2, method, params], got {wrong}"
        ))
    }))
}

impl Skip for MsgpackScanner {
    fn header(buf: &[u8]) -> Result<Option<Header>, CodecError> {
        Ok(value_header(buf)?.map(|(len, payload, values)| Header {
            len,
            payload,
            values,
        }))
    }
}

/// Parses the header of the value starting `buf`: its own length, the length of the payload
/// that follows it, and how many values it contains (arrays and maps). `None` if `buf` holds
/// less than the whole header.
#[inline(always)]
fn value_header(buf: &[u8]) -> Result<Option<(usize, u64, u64)>, CodecError> {
    let Some(&marker) = buf.first() else {
        return Ok(None);
    };
    // The size of the length field for the variable-length kinds, and what the length counts.
    let (len_size, header_extra, counts) = match marker {
        0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => return Ok(Some((1, 0, 0))),
        0x80..=0x8f => return Ok(Some((1, 0, 2 * u64::from(marker & 0x0f)))),
        0x90..=0x9f => return Ok(Some((1, 0, u64::from(marker & 0x0f)))),
        0xa0..=0xbf => return Ok(Some((1, u64::from(marker & 0x1f), 0))),
        0xc1 => {
            return Err(CodecError::Malformed(
                "0xc1 is not a MessagePack marker".to_owned(),
            ))
        }
        0xcc | 0xd0 => return Ok(Some((1, 1, 0))),
        0xcd | 0xd1 => return Ok(Some((1, 2, 0))),
        0xca | 0xce | 0xd2 => return Ok(Some((1, 4, 0))),
        0xcb | 0xcf | 0xd3 => return Ok(Some((1, 8, 0))),
        // fixext 1, 2, 4, 8, 16: type byte, then the data.
        0xd4..=0xd8 => return Ok(Some((2, 1 << (marker - 0xd4), 0))),
        0xc4 | 0xd9 => (1, 0, Counts::Bytes),
        0xc5 | 0xda => (2, 0, Counts::Bytes),
        0xc6 | 0xdb => (4, 0, Counts::Bytes),
        // ext 8, 16, 32: the length, then a type byte, then the data.
        0xc7 => (1, 1, Counts::Bytes),
        0xc8 => (2, 1, Counts::Bytes),
        0xc9 => (4, 1, Counts::Bytes),
        0xdc => (2, 0, Counts::Items),
        0xdd => (4, 0, Counts::Items),
        0xde => (2, 0, Counts::Pairs),
        0xdf => (4, 0, Counts::Pairs),
    };
    let Some(len_bytes) = buf.get(1..1 + len_size) else {
        return Ok(None);
    };
    let len = len_bytes
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let header = 1 + len_size + header_extra;
    Ok(Some(match counts {
        Counts::Bytes => (header, len, 0),
        Counts::Items => (header, 0, len),
        Counts::Pairs => (header, 0, 2 * len),
    }))
}

enum Counts {
    Bytes,
    Items,
    Pairs,
}

/// The codecs of MessagePack-RPC, for [`Wire`](super::Wire).
pub(crate) struct Msgpack;

impl super::Codecs for Msgpack {
    fn server<C: Conn>(conn: C, max_message_size: usize) -> impl ServerCodec {
        MsgpackServerCodec::with_max_message_size(conn, max_message_size)
    }

    fn client<C: Conn>(conn: C, max_message_size: usize) -> impl ClientCodec {
        MsgpackClientCodec::with_max_message_size(conn, max_message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
        MsgpackScanner::default().scan(bytes, limit)
    }

    #[test]
    fn scanner_finds_the_end_of_nested_values() {
        // [1, {"k": <300 bytes>}, ext, 1.5]: a response, as far as its front tells.
        let value = rmpv::Value::Array(vec![
            rmpv::Value::from(1),
            rmpv::Value::Map(vec![(
                rmpv::Value::from("k"),
                rmpv::Value::from(vec![0u8; 300]),
            )]),
            rmpv::Value::Ext(5, vec![1, 2, 3]),
            rmpv::Value::F64(1.5),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &value).unwrap();
        let len = bytes.len();
        bytes.extend_from_slice(&[0x01, 0x02]);
        assert_eq!(scan_all(&bytes, 1 << 20).unwrap(), Some(len));
    }

    #[test]
    fn scanner_resumes_byte_by_byte() {
        // [1, 7, nil, <70,000 bytes>]: a response.
        let mut bytes = vec![0x94, 0x01, 0x07, 0xc0];
        rmpv::encode::write_value(&mut bytes, &rmpv::Value::from(vec![7u8; 70_000])).unwrap();
        let mut scanner = MsgpackScanner::default();
        for end in 1..bytes.len() {
            assert_eq!(scanner.scan(&bytes[..end], 1 << 20).unwrap(), None);
        }
        assert_eq!(scanner.scan(&bytes, 1 << 20).unwrap(), Some(bytes.len()));
    }

    #[test]
    fn scanner_refuses_claims_over_the_limit_before_the_payload_arrives() {
        // A request whose method is a str32 claiming 4 GiB, with only its header present.
        let err = scan_all(&[0x94, 0x00, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff], 1 << 20).unwrap_err();
        assert!(matches!(err, CodecError::TooLarge { limit, .. } if limit == 1 << 20));
        // array32 claiming 4 billion elements.
        let err = scan_all(&[0xdd, 0xff, 0xff, 0xff, 0xff], 1 << 20).unwrap_err();
        assert!(matches!(err, CodecError::TooLarge { .. }));
    }

    #[test]
    fn the_first_bytes_of_what_is_no_message_end_it_at_once() {
        for (front, got) in [
            (&[0x94, 0x07][..], "a message of kind 0x07, not 0, 1 or 2"),
            (
                &[0xc6, 0x00, 0x10],
                "a message that begins 0xc6, not an array",
            ),
            (&[0x05], "a message that begins 0x05, not an array"),
        ] {
            let err = scan_all(front, 1 << 20).unwrap_err().to_string();
            assert!(err.ends_with(got), "{err}");
        }
        let err = scan_all(b"GET / HTTP/1.1\r\n", 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("speaks HTTP"), "{err}");
        // A message's front, or a long array's, waits for more.
        for front in [&[0x94][..], &[0x94, 0x00], &[0x93, 0x02], &[0xdc, 0x00]] {
            assert_eq!(scan_all(front, 1 << 20).unwrap(), None, "{front:?}");
        }
    }

    #[test]
    fn scanner_rejects_the_unused_marker() {
        assert!(matches!(
            scan_all(&[0x92, 0x01, 0xc1], 100),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn a_wrong_type_is_said_in_serde_words() {
        let bytes = rmp_serde::to_vec("text").unwrap();
        let mut de = rmp_serde::Deserializer::from_read_ref(&bytes[..]);
        let e = erased_serde::deserialize::<i64>(&mut <dyn erased_serde::Deserializer<'_>>::erase(
            &mut de,
        ))
        .unwrap_err();
        assert_eq!(
            in_serde_words(&e),
            "invalid type: a string, expected a number or a boolean"
        );
    }

    #[test]
    fn a_malformed_header_says_what_was_expected() {
        let mut negative: &[u8] = &[0xff]; // -1
        let text = read_uint(&mut negative).unwrap_err().to_string();
        assert_eq!(
            text,
            "rpc: malformed message: expected an unsigned integer (a kind or a msgid)"
        );
        let mut bytes: &[u8] = &[0xc4, 1, b'M']; // bin, taken as UTF-8
        assert_eq!(read_str(&mut bytes).unwrap(), "M");
        let mut bytes: &[u8] = &[0x01]; // a number
        let text = read_str(&mut bytes).unwrap_err().to_string();
        assert_eq!(
            text,
            "rpc: malformed message: expected a method name, as a string"
        );
    }

    #[test]
    fn error_values_render_readably() {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &rmpv::Value::from("boom")).unwrap();
        assert_eq!(error_of(&bytes), (Some("boom".to_owned()), None));
        bytes.clear();
        rmpv::encode::write_value(&mut bytes, &rmpv::Value::Binary(b"bang".to_vec())).unwrap();
        assert_eq!(error_of(&bytes), (Some("bang".to_owned()), None));
        bytes.clear();
        let value = rmpv::Value::Array(vec![
            rmpv::Value::from(3),
            rmpv::Value::from("no such method"),
        ]);
        rmpv::encode::write_value(&mut bytes, &value).unwrap();
        assert_eq!(
            error_of(&bytes),
            (Some("[3, \"no such method\"]".to_owned()), Some(value))
        );
        assert_eq!(error_of(&[NIL]), (None, None));
        let mut deep = vec![0x91; 300];
        deep.push(NIL);
        let (text, value) = error_of(&deep);
        assert_eq!(value, None);
        assert!(text.unwrap().contains("cannot be read"));
    }
}
