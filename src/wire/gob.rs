//! The gob codec of Go's `net/rpc` (Go's default), wire-compatible both ways.
//!
//! | message  | wire (each part a gob value, after any type definitions it needs)        |
//! |----------|---------------------------------------------------------------------------|
//! | request  | `Request{ServiceMethod string; Seq uint64}`, then the argument             |
//! | response | `Response{ServiceMethod string; Seq uint64; Error string}`, then the reply |
//!
//! A response whose `Error` is set carries Go's empty struct `struct{}` instead of a reply,
//! as Go's server sends. Each direction of a connection is one gob stream: the types it uses
//! are defined once, in messages of their own, before the first value that needs them, and
//! the reader consumes any number of them before a header or a body.
//!
//! Bodies are encoded with [`crate::gob::Encoder`]'s types learnt from the value; where a
//! value cannot show its type (an empty `Vec` or map as the whole argument or reply), its
//! element is sent as `struct{}` and a map's key as `string`, which Go decodes into a slice
//! of any struct (or a `map[string]` of any struct), but not into `[]int`, `map[int]T` or, for
//! a `Vec<u8>` not marked `serde_bytes`, `[]byte`: send those inside a struct, where a field the
//! value cannot show is left out of the type instead. See [`crate::gob`] for the type mapping.
//!
//! Every message is length-prefixed; a length over the size limit is refused before anything
//! is allocated for it. Go's gob has no notifications: [`Client::notify`](crate::Client::notify)
//! fails on this codec.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::DEFAULT_MAX_MESSAGE_SIZE;
use crate::codec::{
    ClientCodec, DecodeBody, Output, Request, RequestEncoder, Response, ResponseEncoder,
    ServerCodec,
};
use crate::encoding::gob::{message_len, Decoder, Encoder, GobError, ValueMessage};
use crate::error::CodecError;
use crate::transport::framed::{FrameReader, Header, Scanner, Skip};
use crate::transport::Conn;

/// Go's `rpc.Request`, the header of a request.
#[derive(Serialize, Deserialize, Default, Debug)]
#[serde(rename = "Request")]
struct RequestHeader {
    #[serde(rename = "ServiceMethod")]
    service_method: String,
    #[serde(rename = "Seq")]
    seq: u64,
}

/// Go's `rpc.Response`, the header of a response.
#[derive(Serialize, Deserialize, Default, Debug)]
#[serde(rename = "Response")]
struct ResponseHeader {
    #[serde(rename = "ServiceMethod")]
    service_method: String,
    #[serde(rename = "Seq")]
    seq: u64,
    #[serde(rename = "Error")]
    error: String,
}

/// The methods of requests being served, by sequence number: Go's server echoes them.
type Methods = Arc<Mutex<HashMap<u64, String>>>;

/// Finds the end of one length-prefixed gob message.
#[derive(Debug, Default)]
pub(crate) struct GobScanner {
    /// The length of the message being received, once its prefix has come.
    total: usize,
}

impl Scanner for GobScanner {
    fn scan(&mut self, buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
        self.total = 0;
        let Some((header, len)) = message_len(buf, usize::MAX).map_err(malformed)? else {
            return Ok(None);
        };
        if len > limit {
            return Err(CodecError::TooLarge {
                size: len as u64,
                limit,
            });
        }
        let total = header + len;
        if buf.len() >= total {
            return Ok(Some(total));
        }
        self.total = total;
        Ok(None)
    }

    fn least(&self) -> usize {
        self.total
    }
}

impl Skip for GobScanner {
    fn header(buf: &[u8]) -> Result<Option<Header>, CodecError> {
        let front = message_len(buf, usize::MAX).map_err(malformed)?;
        Ok(front.map(|(len, payload)| Header {
            len,
            payload: payload as u64,
            values: 0,
        }))
    }
}

fn malformed(e: GobError) -> CodecError {
    CodecError::Malformed(e.to_string())
}

/// The reading half both sides share: gob messages off the connection, and the stream's types.
struct GobReader<C> {
    frames: FrameReader<C, GobScanner>,
    decoder: Decoder,
}

impl<C: Conn> GobReader<C> {
    fn new(conn: C, limit: usize) -> Self {
        GobReader {
            frames: FrameReader::new(conn, limit),
            decoder: Decoder::new(),
        }
    }

    /// Reads messages up to the next value, storing the type definitions before it, and hands
    /// the value to `f`; `Ok(None)` at a clean end of stream. A type definition that does
    /// not parse is [`CodecError::Malformed`]: the stream cannot go on.
    fn next_value<R>(
        &mut self,
        f: impl FnOnce(ValueMessage<'_>) -> Result<R, CodecError>,
    ) -> Result<Option<R>, CodecError> {
        loop {
            let Some(frame) = self.frames.next_frame()? else {
                return Ok(None);
            };
            let msg = message_body(self.frames.bytes(frame.clone()), frame)?;
            let msg = self.frames.bytes(msg);
            match self.decoder.decode(msg).map_err(malformed)? {
                None => continue,
                Some(value) => return f(value).map(Some),
            }
        }
    }

    /// Decodes the next value into `decode`, or skips it when `None`. A value that defines
    /// types inside it (Go's first interface value of a type on a stream) is decoded again
    /// once they are defined; a skipped one is walked for them too.
    fn read_body(&mut self, mut decode: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        loop {
            let Some(frame) = self.frames.next_frame()? else {
                return Err(CodecError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "gob: connection closed between a header and its body",
                )));
            };
            let msg = message_body(self.frames.bytes(frame.clone()), frame)?;
            // The message, with the next ones joined on if the value goes on in them.
            let mut joined = Vec::new();
            for tries in 1.. {
                if tries > Decoder::MAX_DECODES {
                    return Err(malformed(crate::encoding::gob::too_many_decodes()));
                }
                let bytes = match joined.is_empty() {
                    true => self.frames.bytes(msg.clone()),
                    false => &joined[..],
                };
                let Some(value) = self.decoder.decode(bytes).map_err(malformed)? else {
                    break; // A type definition: the value comes in a later message.
                };
                let decoded = match decode.as_mut() {
                    Some(decode) => value.deserialize_erased(|de| decode(de)),
                    None => value.deserialize::<serde::de::IgnoredAny>().map(drop),
                };
                if decoded.is_err() && self.decoder.value_continues() {
                    self.decoder.define_inline_types().map_err(malformed)?;
                    if joined.is_empty() {
                        joined.extend_from_slice(self.frames.bytes(msg.clone()));
                    }
                    let Some(next) = self.frames.next_frame()? else {
                        return Err(CodecError::Io(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "gob: connection closed in the middle of a value",
                        )));
                    };
                    joined.extend_from_slice(self.frames.bytes(next));
                    if joined.len() > self.frames.limit() {
                        return Err(CodecError::TooLarge {
                            size: joined.len() as u64,
                            limit: self.frames.limit(),
                        });
                    }
                    continue;
                }
                let e = match decoded {
                    Ok(()) => return Ok(()),
                    Err(_) if self.decoder.define_inline_types().map_err(malformed)? => continue,
                    Err(e) => e,
                };
                let text = format!("gob: reading body: {}", e.message());
                return if !self.decoder.in_step() {
                    // The stream cannot be followed: end the connection, so that no later
                    // call fails on a type it never got.
                    Err(CodecError::Malformed(text))
                } else if decode.is_none() {
                    Ok(())
                } else {
                    Err(CodecError::Decode(text))
                };
            }
        }
    }
}

/// Where the message after its length prefix lies, for a frame at `range`.
fn message_body(frame: &[u8], range: Range<usize>) -> Result<Range<usize>, CodecError> {
    let (header, _) = message_len(frame, usize::MAX)
        .map_err(malformed)?
        .ok_or_else(|| CodecError::Malformed("gob: a short length prefix".to_owned()))?;
    Ok(range.start + header..range.end)
}

/// The server side of Go's gob RPC codec: reads requests.
pub struct GobServerCodec<C> {
    reader: GobReader<C>,
    methods: Methods,
    limit: usize,
    /// The sequence number of the request whose body comes next.
    seq: u64,
}

impl<C> std::fmt::Debug for GobServerCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GobServerCodec").finish_non_exhaustive()
    }
}

impl<C: Conn> GobServerCodec<C> {
    /// A codec on `conn` with the default message size limit (64 MiB).
    pub fn new(conn: C) -> Self {
        Self::with_max_message_size(conn, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A codec on `conn` that refuses messages larger than `limit` bytes, both ways.
    pub fn with_max_message_size(conn: C, limit: usize) -> Self {
        GobServerCodec {
            reader: GobReader::new(conn, limit),
            methods: Methods::default(),
            limit,
            seq: 0,
        }
    }
}

impl<C: Conn> ServerCodec for GobServerCodec<C> {
    type Encoder = GobResponseEncoder;

    fn writer(&mut self) -> Result<(GobResponseEncoder, Output), CodecError> {
        let encoder = GobResponseEncoder {
            encoder: Encoder::new(),
            methods: Arc::clone(&self.methods),
            limit: self.limit,
        };
        Ok((encoder, self.reader.frames.output()?))
    }

    fn read_request_header(&mut self) -> Result<Option<Request>, CodecError> {
        let header = self.reader.next_value(|value| {
            value
                .deserialize::<RequestHeader>()
                .map_err(|e| CodecError::Malformed(format!("gob: reading request header: {e}")))
        })?;
        let Some(header) = header else {
            return Ok(None);
        };
        self.seq = header.seq;
        self.methods
            .lock()
            .insert(header.seq, header.service_method.clone());
        Ok(Some(Request {
            seq: header.seq,
            service_method: header.service_method,
            ..Default::default()
        }))
    }

    fn read_request_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        self.reader.read_body(body).map_err(|e| match e {
            // The header came first: its caller can be told why.
            CodecError::TooLarge { size, limit } => CodecError::RequestTooLarge {
                seq: self.seq,
                size,
                limit,
            },
            e => e,
        })
    }
}

/// The encoder of the server side: the responses' gob stream.
#[derive(Debug)]
pub struct GobResponseEncoder {
    encoder: Encoder,
    methods: Methods,
    limit: usize,
}

impl ResponseEncoder for GobResponseEncoder {
    fn encode_response(
        &mut self,
        buf: &mut Vec<u8>,
        response: &Response,
        body: Option<&dyn erased_serde::Serialize>,
    ) -> Result<(), CodecError> {
        let service_method = self
            .methods
            .lock()
            .get(&response.seq)
            .cloned()
            .unwrap_or_default();
        let header = ResponseHeader {
            service_method,
            seq: response.seq,
            error: response.error.clone().unwrap_or_default(),
        };
        let body = match (&response.error, body) {
            (None, Some(body)) => body,
            // Go's `invalidRequest`, `struct{}{}`.
            _ => &() as &dyn erased_serde::Serialize,
        };
        self.encoder
            .encode_rpc(buf, &header, body, self.limit)
            .map_err(|e| CodecError::Encode(format!("gob: encoding body: {e}")))?;
        // Kept until now: a response that failed to encode is answered again with the reason.
        self.methods.lock().remove(&response.seq);
        Ok(())
    }
}

/// The client side of Go's gob RPC codec: reads responses.
pub struct GobClientCodec<C> {
    reader: GobReader<C>,
    limit: usize,
    /// The sequence number of the response whose body comes next.
    seq: u64,
}

impl<C> std::fmt::Debug for GobClientCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GobClientCodec").finish_non_exhaustive()
    }
}

impl<C: Conn> GobClientCodec<C> {
    /// A codec on `conn` with the default message size limit (64 MiB).
    pub fn new(conn: C) -> Self {
        Self::with_max_message_size(conn, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A codec on `conn` that refuses messages larger than `limit` bytes, both ways.
    pub fn with_max_message_size(conn: C, limit: usize) -> Self {
        GobClientCodec {
            reader: GobReader::new(conn, limit),
            limit,
            seq: 0,
        }
    }
}

impl<C: Conn> ClientCodec for GobClientCodec<C> {
    type Encoder = GobRequestEncoder;

    fn writer(&mut self) -> Result<(GobRequestEncoder, Output), CodecError> {
        let encoder = GobRequestEncoder {
            encoder: Encoder::new(),
            limit: self.limit,
        };
        Ok((encoder, self.reader.frames.output()?))
    }

    fn read_response_header(&mut self) -> Result<Option<Response>, CodecError> {
        let header = self.reader.next_value(|value| {
            value
                .deserialize::<ResponseHeader>()
                .map_err(|e| CodecError::Malformed(format!("gob: reading response header: {e}")))
        })?;
        self.seq = header.as_ref().map_or(0, |header| header.seq);
        // Fields added to `Response` later keep their defaults.
        #[allow(clippy::needless_update)]
        Ok(header.map(|header| Response {
            seq: header.seq,
            error: (!header.error.is_empty()).then_some(header.error),
            ..Default::default()
        }))
    }

    fn read_response_body(&mut self, body: Option<DecodeBody<'_>>) -> Result<(), CodecError> {
        // A body over the limit is a message of its own, after the header: only its call fails.
        let read = self.reader.read_body(body);
        let Err(e @ CodecError::TooLarge { limit, .. }) = read else {
            return read;
        };
        match self.reader.frames.skip_refused()? {
            Some(size) => Err(CodecError::ReplyTooLarge {
                seq: self.seq,
                size,
                limit,
            }),
            None => Err(e),
        }
    }
}

/// The encoder of the client side: the requests' gob stream.
#[derive(Debug)]
pub struct GobRequestEncoder {
    encoder: Encoder,
    limit: usize,
}

impl RequestEncoder for GobRequestEncoder {
    fn encode_request(
        &mut self,
        buf: &mut Vec<u8>,
        request: &Request,
        body: &dyn erased_serde::Serialize,
    ) -> Result<(), CodecError> {
        if request.notification {
            // Go's server would answer it, and the answer would complete some other call.
            return Err(CodecError::Encode(
                "gob: Go's net/rpc has no notifications; make a call instead".to_owned(),
            ));
        }
        // An empty list, `Params(())`, is the one argument `()`: Go's empty struct.
        if request.argument_list && !crate::encoding::gob::is_unit(body) {
            return Err(CodecError::Encode(
                "gob: Go's net/rpc methods take one argument, not an argument list (Params, or \
                 a #[netrpc::service] method of several parameters); pass the argument itself"
                    .to_owned(),
            ));
        }
        let header = RequestHeader {
            service_method: request.service_method.clone(),
            seq: request.seq,
        };
        self.encoder
            .encode_rpc(buf, &header, body, self.limit)
            .map_err(|e| CodecError::Encode(format!("gob: encoding body: {e}")))
    }
}

/// The codecs of Go's gob, for [`Wire`](super::Wire).
pub(crate) struct Gob;

impl super::Codecs for Gob {
    fn server<C: Conn>(conn: C, max_message_size: usize) -> impl ServerCodec {
        GobServerCodec::with_max_message_size(conn, max_message_size)
    }

    fn client<C: Conn>(conn: C, max_message_size: usize) -> impl ClientCodec {
        GobClientCodec::with_max_message_size(conn, max_message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_waits_for_the_whole_message_and_checks_the_limit() {
        let mut s = GobScanner::default();
        assert_eq!(s.scan(&[3, 1, 2], 100).unwrap(), None);
        assert_eq!(s.scan(&[3, 1, 2, 3, 9], 100).unwrap(), Some(4));
        // 0xfe: a two-byte length follows: 0x0400 = 1024.
        assert!(matches!(
            s.scan(&[0xfe, 0x04, 0x00], 1000),
            Err(CodecError::TooLarge { size: 1024, .. })
        ));
        assert!(matches!(s.scan(&[0], 100), Err(CodecError::Malformed(_))));
    }

    /// A request and a response stream as Go's `encoding/gob` writes them (the fuzz seeds).
    const GO_REQUESTS: &[u8] = include_bytes!("../../fuzz/corpus/gob_decoders/go-requests");
    const GO_RESPONSES: &[u8] = include_bytes!("../../fuzz/corpus/gob_decoders/go-responses");

    fn conn(data: &[u8]) -> crate::Shared<std::os::unix::net::UnixStream> {
        use std::io::Write;
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.write_all(data).unwrap();
        drop(ours);
        crate::Shared::new(theirs)
    }

    fn dynamic(de: &mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error> {
        erased_serde::deserialize::<crate::gob::Value>(de).map(drop)
    }

    /// Reads every request; how many headers it read.
    fn drain_server(data: &[u8]) -> usize {
        let mut codec = GobServerCodec::with_max_message_size(conn(data), 4096);
        let mut headers = 0;
        while let Ok(Some(_)) = codec.read_request_header() {
            headers += 1;
            if let Err(e) = codec.read_request_body(Some(&mut dynamic)) {
                if !e.is_recoverable() {
                    break;
                }
            }
        }
        headers
    }

    fn drain_client(data: &[u8]) -> usize {
        let mut codec = GobClientCodec::with_max_message_size(conn(data), 4096);
        let mut headers = 0;
        while let Ok(Some(_)) = codec.read_response_header() {
            headers += 1;
            if let Err(e) = codec.read_response_body(Some(&mut dynamic)) {
                if !e.is_recoverable() {
                    break;
                }
            }
        }
        headers
    }

    #[test]
    fn gos_streams_read_whole() {
        assert_eq!(drain_server(GO_REQUESTS), 2);
        assert_eq!(drain_client(GO_RESPONSES), 3);
    }

    /// Go's streams with bytes flipped, cut and repeated: every read ends cleanly, never in a
    /// panic or a hang (a small, always-run cousin of the `gob_decoders` fuzz target).
    #[test]
    fn mutated_go_streams_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let seed = if round % 2 == 0 {
                GO_REQUESTS
            } else {
                GO_RESPONSES
            };
            let mut data = seed.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % data.len();
                match next() % 4 {
                    0 => data[at] = next() as u8,
                    1 => data[at] ^= 0x80,
                    2 => data.truncate(at.max(1)),
                    _ => {
                        let copy = data[at..].to_vec();
                        data.extend_from_slice(&copy);
                    }
                }
            }
            drain_server(&data);
            drain_client(&data);
        }
    }
}
