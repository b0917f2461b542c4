//! The JSON-RPC 1.0 codec of Go's `net/rpc/jsonrpc`, wire-compatible both ways.
//!
//! | message  | wire                                                      |
//! |----------|-----------------------------------------------------------|
//! | request  | `{"method":"Arith.Multiply","params":[<args>],"id":<n>}`  |
//! | response | `{"id":<n>,"result":<reply or null>,"error":<null or "text">}` |
//!
//! Messages are JSON values one after another, each written with a trailing newline, as Go's
//! `json.Encoder` does. As in Go, the server accepts any JSON value as `id` and echoes it back
//! unchanged; it takes the first element of `params` as the argument (Go decodes `params` into
//! a one-element array, so further elements are ignored) and answers a request without
//! `params` with `jsonrpc: request body missing params`. The client so refuses to send a
//! [`Params`](crate::Params) of more than one element, which Go would drop all but the first
//! of; `Params(())` sends `[]`.
//!
//! As in Go's `encoding/json`, bytes (`serde_bytes`, `ByteBuf`: Go's `[]byte`) travel as
//! base64 text, both ways and at any depth; decoding also takes an array of numbers, and
//! `null` as no bytes. `"params": []` and `"params": [null]` give the argument its Go zero
//! value, as Go's server leaves it: 0, `false`, `""`, empty sequences and maps, `None`, and
//! a struct with every field zero (no `#[serde(default)]` needed); an enum, which has none,
//! is a decoding error. Structs decode as in Go too: members match fields in any case, and
//! fields left out (`omitempty`) or `null` are zero.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::transport::framed::{FrameReader, Scanner};

use super::DEFAULT_MAX_MESSAGE_SIZE;
use crate::codec::{
    ClientCodec, DecodeBody, Output, Request, RequestEncoder, Response, ResponseEncoder,
    ServerCodec,
};
use crate::error::CodecError;
use crate::transport::Conn;

/// The JSON ids of requests being served, by the sequence number the server saw instead.
type Ids = Arc<Mutex<HashMap<u64, String>>>;

/// The server side of the JSON-RPC codec: reads requests.
pub struct JsonServerCodec<C> {
    reader: FrameReader<C, JsonScanner>,
    /// The argument of the request just read, if it had `params`.
    params: Option<Range<usize>>,
    ids: Ids,
    seq: u64,
}

#[derive(Deserialize)]
struct ServerRequest<'a> {
    #[serde(default)]
    method: String,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

impl<C> std::fmt::Debug for JsonServerCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonServerCodec").finish_non_exhaustive()
    }
}

impl<C: Conn> JsonServerCodec<C> {
    /// A codec on `conn` with the default message size limit (64 MiB).
    pub fn new(conn: C) -> Self {
        Self::with_max_message_size(conn, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A codec on `conn` that refuses messages larger than `limit` bytes, both ways.
    pub fn with_max_message_size(conn: C, limit: usize) -> Self {
        JsonServerCodec {
            reader: FrameReader::new(conn, limit),
            params: None,
            ids: Ids::default(),
            seq: 0,
        }
    }
}

impl<C: Conn> ServerCodec for JsonServerCodec<C> {
    type Encoder = JsonResponseEncoder;

    fn writer(&mut self) -> Result<(JsonResponseEncoder, Output), CodecError> {
        let encoder = JsonResponseEncoder {
            ids: Arc::clone(&self.ids),
            limit: self.reader.limit(),
        };
        Ok((encoder, self.reader.output()?))
    }

    fn read_request_header(&mut self) -> Result<Option<Request>, CodecError> {
        self.params = None;
        let Some(Envelope {
            message: request,
            place,
        }) = Envelope::<ServerRequest<'_>>::next(&mut self.reader)?
        else {
            return Ok(None);
        };
        self.params = request.params.map(|raw| place.of(raw));
        // A request without an id is answered with `"id":null`, as Go does.
        let id = request.id.map_or("null", RawValue::get).to_owned();
        self.seq += 1;
        self.ids.lock().insert(self.seq, id);
        Ok(Some(Request {
            seq: self.seq,
            service_method: request.method,
            size: place.bytes.len(),
            ..Request::default()
        }))
    }

    fn read_request_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        let (Some(decode), params) = (body, self.params.take()) else {
            return Ok(());
        };
        let Some(params) = params else {
            return Err(CodecError::Decode(
                "jsonrpc: request body missing params".to_owned(),
            ));
        };
        let params = self.reader.bytes(params);
        let elements: Vec<&RawValue> = serde_json::from_slice(params).map_err(|e| {
            CodecError::Decode(format!(
                "jsonrpc: params must be an array: {}",
                within_part(&e)
            ))
        })?;
        match elements.first().map(|raw| raw.get()) {
            None | Some("null") => decode_zero(decode),
            Some(argument) => decode_json(argument.as_bytes(), decode),
        }
    }
}

/// A message's envelope, parsed from the reader's buffer, which its raw parts borrow.
struct Envelope<'a, T> {
    message: T,
    place: Place<'a>,
}

impl<'a, T: Deserialize<'a>> Envelope<'a, T> {
    /// Reads the next message and parses its envelope; `None` at a clean end of stream.
    fn next<C: Conn>(
        reader: &'a mut FrameReader<C, JsonScanner>,
    ) -> Result<Option<Self>, CodecError> {
        let Some(mut frame) = reader.next_frame()? else {
            return Ok(None);
        };
        let odd = reader.scanner().last_odd_text();
        if let Some(text) =
            crate::encoding::json::go_text(reader.bytes(frame.clone()), odd, reader.limit())?
        {
            frame = reader.replace_frame(frame, &text);
        }
        let bytes = reader.bytes(frame.clone());
        let message = serde_json::from_slice(bytes)
            .map_err(|e| CodecError::Malformed(format!("jsonrpc: {e}")))?;
        Ok(Some(Envelope {
            message,
            place: Place {
                bytes,
                start: frame.start,
            },
        }))
    }
}

/// Where a message lies in the reader's buffer.
struct Place<'a> {
    bytes: &'a [u8],
    start: usize,
}

impl Place<'_> {
    /// Where `part`, a raw value inside the message, lies in the reader's buffer.
    fn of(&self, part: &RawValue) -> Range<usize> {
        let part = part.get();
        let offset = part.as_ptr() as usize - self.bytes.as_ptr() as usize;
        self.start + offset..self.start + offset + part.len()
    }
}

fn decode_json(bytes: &[u8], decode: DecodeBody<'_>) -> Result<(), CodecError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    decode(&mut <dyn erased_serde::Deserializer<'_>>::erase(
        crate::encoding::json::De(&mut de),
    ))
    .map_err(|e| CodecError::Decode(format!("jsonrpc: reading body: {}", within_part(&e))))
}

/// An error decoding a part of a message (`params`, the argument, the result) without
/// serde_json's "at line 1 column N", which counts within the part, not the message.
fn within_part(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((what, place)) if place.contains(" column ") => what.to_owned(),
        _ => text,
    }
}

/// Decodes Go's zero value for the argument's type into `decode`: what Go's server keeps when
/// `params` is `[]` or `[null]`.
fn decode_zero(decode: DecodeBody<'_>) -> Result<(), CodecError> {
    decode(&mut <dyn erased_serde::Deserializer<'_>>::erase(
        crate::encoding::go_zero::Zero::<serde::de::value::Error>::json(),
    ))
    .map_err(|e| CodecError::Decode(format!("jsonrpc: reading body: {e}")))
}

/// The encoder of the server side: writes responses with the ids their requests had.
#[derive(Debug)]
pub struct JsonResponseEncoder {
    ids: Ids,
    limit: usize,
}

impl ResponseEncoder for JsonResponseEncoder {
    fn encode_response(
        &mut self,
        buf: &mut Vec<u8>,
        response: &Response,
        body: Option<&dyn erased_serde::Serialize>,
    ) -> Result<(), CodecError> {
        let mark = buf.len();
        let ids = self.ids.lock();
        let id = ids.get(&response.seq).map_or("null", String::as_str);
        buf.extend_from_slice(b"{\"id\":");
        buf.extend_from_slice(id.as_bytes());
        drop(ids);
        buf.extend_from_slice(b",\"result\":");
        match (&response.error, body) {
            (None, Some(body)) => encode_json(buf, body)?,
            _ => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"error\":");
        match &response.error {
            Some(text) => encode_json(buf, text)?,
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b"}\n");
        // The id is kept until the response is known to be sent: one that fails to encode, or
        // is too large to send, is answered again with the reason, under the same id.
        let size = buf.len() - mark;
        if size > self.limit {
            return Err(CodecError::unsendable("reply", size, self.limit));
        }
        self.ids.lock().remove(&response.seq);
        Ok(())
    }
}

/// How many elements the JSON array `list` holds; `None` if it is no array.
fn list_len(list: &[u8]) -> Option<usize> {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(list)
        .ok()
        .map(|items| items.len())
}

fn encode_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), CodecError> {
    value
        .serialize(crate::encoding::json::Ser(
            &mut serde_json::Serializer::new(buf),
        ))
        .map_err(|e| CodecError::Encode(format!("jsonrpc: encoding body: {e}")))
}

/// The client side of the JSON-RPC codec: reads responses.
pub struct JsonClientCodec<C> {
    reader: FrameReader<C, JsonScanner>,
    /// The `result` of the response just read; `None` for JSON `null`.
    result: Option<Range<usize>>,
}

#[derive(Deserialize)]
struct ClientResponse<'a> {
    id: u64,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: serde_json::Value,
}

impl<C> std::fmt::Debug for JsonClientCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonClientCodec").finish_non_exhaustive()
    }
}

impl<C: Conn> JsonClientCodec<C> {
    /// A codec on `conn` with the default message size limit (64 MiB).
    pub fn new(conn: C) -> Self {
        Self::with_max_message_size(conn, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A codec on `conn` that refuses messages larger than `limit` bytes, both ways.
    pub fn with_max_message_size(conn: C, limit: usize) -> Self {
        JsonClientCodec {
            reader: FrameReader::new(conn, limit),
            result: None,
        }
    }
}

impl<C: Conn> ClientCodec for JsonClientCodec<C> {
    type Encoder = JsonRequestEncoder;

    fn writer(&mut self) -> Result<(JsonRequestEncoder, Output), CodecError> {
        Ok((JsonRequestEncoder, self.reader.output()?))
    }

    fn read_response_header(&mut self) -> Result<Option<Response>, CodecError> {
        self.result = None;
        let Some(Envelope {
            message: response,
            place,
        }) = Envelope::<ClientResponse<'_>>::next(&mut self.reader)?
        else {
            return Ok(None);
        };
        self.result = response.result.map(|raw| place.of(raw));
        let error = match response.error {
            serde_json::Value::Null => None,
            serde_json::Value::String(text) if text.is_empty() => {
                Some("unspecified error".to_owned())
            }
            serde_json::Value::String(text) => Some(text),
            other => Some(other.to_string()),
        };
        Ok(Some(Response {
            seq: response.id,
            error,
            error_value: None,
        }))
    }

    fn read_response_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        let result = self.result.take();
        let Some(decode) = body else {
            return Ok(());
        };
        match result {
            Some(range) => decode_json(self.reader.bytes(range), decode),
            None => decode_json(b"null", decode),
        }
    }
}

/// The encoder of the client side: writes requests.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonRequestEncoder;

impl RequestEncoder for JsonRequestEncoder {
    fn encode_request(
        &mut self,
        buf: &mut Vec<u8>,
        request: &Request,
        body: &dyn erased_serde::Serialize,
    ) -> Result<(), CodecError> {
        if request.notification {
            // Go's server would answer it, and the answer would complete some other call.
            return Err(CodecError::Encode(
                "jsonrpc: Go's JSON-RPC has no notifications; make a call instead".to_owned(),
            ));
        }
        buf.extend_from_slice(b"{\"method\":");
        encode_json(buf, &request.service_method)?;
        if request.argument_list {
            buf.extend_from_slice(b",\"params\":");
            let start = buf.len();
            encode_json(buf, body)?;
            if matches!(&buf[start..], b"null" | b"{}") {
                // `Params(())` (unit is `{}`, as Go's empty struct) or `Params(None)`: no
                // arguments.
                buf.truncate(start);
                buf.extend_from_slice(b"[]");
            } else if buf[start] != b'[' {
                return Err(super::not_a_list());
            } else if let Some(count @ 2..) = list_len(&buf[start..]) {
                // Go's server would take the first and drop the rest without a word.
                return Err(CodecError::Encode(format!(
                    "jsonrpc: Go's JSON-RPC methods take one argument, not a list of {count} \
                     (Params, or a #[netrpc::service] method of several parameters); pass the \
                     argument itself"
                )));
            }
        } else {
            buf.extend_from_slice(b",\"params\":[");
            encode_json(buf, body)?;
            buf.push(b']');
        }
        buf.extend_from_slice(b",\"id\":");
        buf.extend_from_slice(request.seq.to_string().as_bytes());
        buf.extend_from_slice(b"}\n");
        Ok(())
    }

    fn requests_stand_alone(&self) -> bool {
        true
    }
}

/// Finds the end of one JSON object or array, checking its grammar as the bytes arrive, so
/// that bytes which already prove it malformed end the connection at once, as Go's decoder
/// does (`{"method":KV.Ping` need not wait for a closing brace that never comes). Notes
/// whether its strings hold text that Go may read otherwise than serde_json
/// ([`crate::encoding::json::go_text`]). Numbers are checked for their characters only: what
/// follows them ends the message, and serde_json then says what is wrong.
#[derive(Debug, Default)]
pub(crate) struct JsonScanner {
    /// Bytes of the current message examined so far.
    pos: usize,
    /// The containers open, innermost last: `true` for an object.
    open: Vec<bool>,
    expect: Expect,
    in_string: bool,
    /// The string being read is an object's key.
    in_key: bool,
    escaped: bool,
    /// The last byte was the `u` of an escape.
    unicode: bool,
    odd: crate::encoding::json::OddText,
    /// `odd` of the message last found whole.
    last_odd: crate::encoding::json::OddText,
}

/// What may come next outside strings.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value, or the end of an empty array: after `[`.
    #[default]
    ValueOrEnd,
    /// A value: after `:` or an array's `,`.
    Value,
    /// A key or the end of an empty object: after `{`.
    KeyOrEnd,
    /// A key: after an object's `,`.
    Key,
    /// The `:` after a key.
    Colon,
    /// A `,` or the end of the container, after a value.
    Next,
    /// `true`, `false` or `null`, read up to byte `at`.
    Literal { word: &'static str, at: usize },
    /// More of a number, or whatever follows it.
    Number,
}

/// Go's decoder's bound on nesting.
const MAX_NESTING: usize = 10_000;

impl JsonScanner {
    /// What the message last found whole holds that serde_json may read otherwise than Go.
    pub(crate) fn last_odd_text(&self) -> crate::encoding::json::OddText {
        self.last_odd
    }

    /// Reads `byte`, outside strings; `Ok(true)` when it ends the message.
    fn step(&mut self, byte: u8) -> Result<bool, CodecError> {
        match self.expect {
            Expect::Literal { word, at } => {
                let want = word.as_bytes()[at];
                if byte != want {
                    return Err(invalid(
                        byte,
                        &format!("in literal {word} (expecting {:?})", want as char),
                    ));
                }
                self.expect = match at + 1 {
                    end if end == word.len() => Expect::Next,
                    at => Expect::Literal { word, at },
                };
                return Ok(false);
            }
            Expect::Number if matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') => {
                return Ok(false);
            }
            Expect::Number => self.expect = Expect::Next,
            _ => {}
        }
        if matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
            return Ok(false);
        }
        match (self.expect, byte) {
            (Expect::Value | Expect::ValueOrEnd, _) => match byte {
                b'"' => self.start_string(false),
                b'{' => self.enter(true)?,
                b'[' => self.enter(false)?,
                b'-' | b'0'..=b'9' => self.expect = Expect::Number,
                b't' => {
                    self.expect = Expect::Literal {
                        word: "true",
                        at: 1,
                    }
                }
                b'f' => {
                    self.expect = Expect::Literal {
                        word: "false",
                        at: 1,
                    }
                }
                b'n' => {
                    self.expect = Expect::Literal {
                        word: "null",
                        at: 1,
                    }
                }
                b']' if self.expect == Expect::ValueOrEnd => return self.leave(false),
                _ => return Err(invalid(byte, "looking for beginning of value")),
            },
            (Expect::KeyOrEnd, b'}') => return self.leave(true),
            (Expect::KeyOrEnd | Expect::Key, b'"') => self.start_string(true),
            (Expect::KeyOrEnd | Expect::Key, _) => {
                return Err(invalid(byte, "looking for beginning of object key string"))
            }
            (Expect::Colon, b':') => self.expect = Expect::Value,
            (Expect::Colon, _) => return Err(invalid(byte, "after object key")),
            (Expect::Next, b',') => {
                self.expect = if self.open.last() == Some(&true) {
                    Expect::Key
                } else {
                    Expect::Value
                };
            }
            (Expect::Next, b'}') => return self.leave(true),
            (Expect::Next, b']') => return self.leave(false),
            (Expect::Next, _) if self.open.last() == Some(&true) => {
                return Err(invalid(byte, "after object key:value pair"))
            }
            (Expect::Next, _) => return Err(invalid(byte, "after array element")),
            (Expect::Literal { .. } | Expect::Number, _) => unreachable!("handled above"),
        }
        Ok(false)
    }

    fn start_string(&mut self, key: bool) {
        self.in_string = true;
        self.in_key = key;
    }

    /// Opens an object or an array.
    fn enter(&mut self, object: bool) -> Result<(), CodecError> {
        if self.open.len() >= MAX_NESTING {
            return Err(CodecError::Malformed(
                "jsonrpc: exceeded max depth".to_owned(),
            ));
        }
        self.open.push(object);
        self.expect = if object {
            Expect::KeyOrEnd
        } else {
            Expect::ValueOrEnd
        };
        Ok(())
    }

    /// Closes an object or an array; `Ok(true)` when that ends the message.
    fn leave(&mut self, object: bool) -> Result<bool, CodecError> {
        if self.open.pop() != Some(object) {
            let byte = if object { b'}' } else { b']' };
            return Err(invalid(byte, "after value"));
        }
        self.expect = Expect::Next;
        Ok(self.open.is_empty())
    }
}

/// Go's words for a byte that cannot be where it is.
fn invalid(byte: u8, context: &str) -> CodecError {
    CodecError::Malformed(format!(
        "jsonrpc: invalid character {:?} {context}",
        byte as char
    ))
}

impl Scanner for JsonScanner {
    fn scan(&mut self, buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
        if self.pos == 0 && !matches!(buf.first(), Some(b'{' | b'[')) {
            return Err(CodecError::Malformed(
                "jsonrpc: expected a JSON object".to_owned(),
            ));
        }
        let mut i = self.pos;
        while i < buf.len() {
            let byte = buf[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    self.unicode = byte == b'u';
                    i += 1;
                    continue;
                }
                if self.unicode {
                    // The first hex digit of a `\u` escape: D begins UTF-16's surrogates.
                    self.unicode = false;
                    self.odd.surrogate_escapes |= byte | 0x20 == b'd';
                }
                // On to the string's next quote or backslash (a payload is mostly strings).
                let rest = &buf[i..];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                self.odd.non_ascii |= !rest[..run].is_ascii();
                i += run;
                match buf.get(i) {
                    Some(b'\\') => self.escaped = true,
                    Some(_) => {
                        self.in_string = false;
                        self.expect = if self.in_key {
                            Expect::Colon
                        } else {
                            Expect::Next
                        };
                    }
                    None => break,
                }
                i += 1;
                continue;
            }
            if self.step(byte)? {
                let mut open = std::mem::take(&mut self.open);
                open.clear();
                *self = JsonScanner {
                    open,
                    last_odd: self.odd,
                    ..JsonScanner::default()
                };
                return within(i + 1, limit).map(Some);
            }
            i += 1;
        }
        self.pos = within(buf.len(), limit)?;
        Ok(None)
    }

    fn is_padding(byte: u8) -> bool {
        byte.is_ascii_whitespace()
    }
}

fn within(size: usize, limit: usize) -> Result<usize, CodecError> {
    if size > limit {
        return Err(CodecError::TooLarge {
            size: size as u64,
            limit,
        });
    }
    Ok(size)
}

/// The codecs of Go's JSON-RPC, for [`Wire`](super::Wire).
pub(crate) struct Json;

impl super::Codecs for Json {
    fn server<C: Conn>(conn: C, max_message_size: usize) -> impl ServerCodec {
        JsonServerCodec::with_max_message_size(conn, max_message_size)
    }

    fn client<C: Conn>(conn: C, max_message_size: usize) -> impl ClientCodec {
        JsonClientCodec::with_max_message_size(conn, max_message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mending_message_after_message_keeps_the_buffer_to_its_size() {
        // Each byte that is not UTF-8 becomes three: the mended text goes over the messages
        // read before it, so the buffer does not grow by the difference each time.
        let mut input = Vec::new();
        for id in 0..60 {
            input.extend_from_slice(br#"{"method":"A.B","params":[""#);
            input.extend_from_slice(&[0xff; 1000]);
            input.extend_from_slice(format!(r#""],"id":{id}}}"#).as_bytes());
        }
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let written = input.clone();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut ours, &written));
        let mut codec = JsonServerCodec::new(crate::Shared::new(theirs));
        let mut most = 0;
        for _ in 0..60 {
            codec.read_request_header().unwrap().unwrap();
            codec.read_request_body(None).unwrap();
            most = most.max(codec.reader.buffered());
        }
        writer.join().unwrap().unwrap();
        assert!(
            most < input.len() + 8192,
            "{most} bytes for {}",
            input.len()
        );
    }

    #[test]
    fn the_scanner_stops_at_the_first_byte_that_proves_a_message_malformed() {
        for (bytes, error) in [
            (
                &br#"{"method":KV.Ping"#[..],
                "invalid character 'K' looking for beginning of value",
            ),
            (br#"{"a" "b""#, "invalid character '\"' after object key"),
            (
                br#"{"a":1 "b""#,
                "invalid character '\"' after object key:value pair",
            ),
            (b"[1 2", "invalid character '2' after array element"),
            (
                b"[trux",
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            (
                b"{1",
                "invalid character '1' looking for beginning of object key string",
            ),
            (b"[1}", "invalid character '}' after value"),
            (
                b"[,",
                "invalid character ',' looking for beginning of value",
            ),
        ] {
            let err = JsonScanner::default().scan(bytes, 1 << 20).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("rpc: malformed message: jsonrpc: {error}"),
                "{bytes:?}"
            );
        }
        // Fronts of well-formed messages wait for more, however they are cut.
        let whole = br#"{"method":"A.B","params":[{"x":[1,-2.5e3,true,false,null,"s\"}"]},[]],"id":7,"o":{}}"#;
        for end in 1..whole.len() {
            let mut scanner = JsonScanner::default();
            assert_eq!(scanner.scan(&whole[..end], 1 << 20).unwrap(), None, "{end}");
        }
        assert_eq!(
            JsonScanner::default().scan(whole, 1 << 20).unwrap(),
            Some(whole.len())
        );
    }

    #[test]
    fn nesting_is_bounded_as_in_go() {
        let deep = vec![b'['; MAX_NESTING + 1];
        let err = JsonScanner::default().scan(&deep, usize::MAX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rpc: malformed message: jsonrpc: exceeded max depth"
        );
    }

    #[test]
    fn an_argument_that_leaves_out_fields_is_decoded_once() {
        #[derive(Deserialize, Debug, Default, PartialEq)]
        #[serde(rename_all = "PascalCase")]
        struct Wide {
            a: i64,
            b: i64,
            c: String,
            d: bool,
            e: Vec<String>,
            f: f64,
            g: u32,
            h: Option<i64>,
            i: (u8, u8),
            j: HashMap<String, i64>,
        }
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut ours, br#"{"method":"W.M","params":[{"A":1}],"id":1}"#)
            .unwrap();
        let mut codec = JsonServerCodec::new(crate::Shared::new(theirs));
        codec.read_request_header().unwrap().unwrap();
        let (mut decodes, mut got) = (0, None);
        codec
            .read_request_body(Some(&mut |de| {
                decodes += 1;
                got = Some(erased_serde::deserialize::<Wide>(de)?);
                Ok(())
            }))
            .unwrap();
        // Nine fields left out, one reading of the body.
        assert_eq!(decodes, 1);
        assert_eq!(
            got,
            Some(Wide {
                a: 1,
                ..Wide::default()
            })
        );
    }

    #[test]
    fn scanner_counts_brackets_outside_strings() {
        let msg = br#"{"method":"a}\"]","params":[{"x":[1,2]}],"id":1}"#;
        let mut bytes = msg.to_vec();
        bytes.extend_from_slice(b"\n{\"next\":1}");
        assert_eq!(
            JsonScanner::default().scan(&bytes, 1 << 20).unwrap(),
            Some(msg.len())
        );
    }

    #[test]
    fn scanner_resumes_and_enforces_the_limit() {
        let msg = br#"{"a":"bcd","e":[1,2,3]}"#;
        let mut scanner = JsonScanner::default();
        for end in 1..msg.len() {
            assert_eq!(scanner.scan(&msg[..end], 1 << 20).unwrap(), None);
        }
        assert_eq!(scanner.scan(msg, 1 << 20).unwrap(), Some(msg.len()));
        let open = vec![b'['; 100];
        assert!(matches!(
            JsonScanner::default().scan(&open, 50),
            Err(CodecError::TooLarge { .. })
        ));
        assert!(matches!(
            JsonScanner::default().scan(msg, msg.len() - 1),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn scanner_notes_odd_text_however_the_message_arrives() {
        let flags = |msg: &[u8], step: usize| {
            let mut scanner = JsonScanner::default();
            let mut end = step.min(msg.len());
            while scanner.scan(&msg[..end], 1 << 20).unwrap().is_none() {
                end = (end + step).min(msg.len());
            }
            let odd = scanner.last_odd_text();
            (odd.non_ascii, odd.surrogate_escapes)
        };
        for step in [1, 2, 3, 100] {
            assert_eq!(flags(br#"{"a":"b\"c\\ud800","d":1}"#, step), (false, false));
            assert_eq!(flags(br#"{"a":"\u0041\uD800"}"#, step), (false, true));
            assert_eq!(flags("{\"a\":\"\\\"é\"}".as_bytes(), step), (true, false));
            assert_eq!(flags(br#"{"\ud83d":[]}"#, step), (false, true));
        }
    }

    #[test]
    fn scanner_refuses_what_is_not_an_object() {
        assert!(matches!(
            JsonScanner::default().scan(b"42", 100),
            Err(CodecError::Malformed(_))
        ));
    }
}
