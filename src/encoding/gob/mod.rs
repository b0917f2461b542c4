//! Go's `encoding/gob` as a serde data format; documented where it is public, at [`crate::gob`].
mod de;
mod error;
mod infer;
mod ser;
mod time;
mod trace;
mod types;
mod value;
mod wire;

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use serde::de::{Deserialize, DeserializeOwned};
use serde::Serialize;

use crate::hash::FastMap;
pub use error::{GobError, GobErrorKind};
pub use time::Time;
pub use value::Value;

use types::{ReceivedTypes, SentTypes, Shape};

/// The default bound on the nesting of a decoded value.
pub const DEFAULT_MAX_DEPTH: usize = 100;
/// The default bound on the type definitions one stream may make.
pub const DEFAULT_MAX_TYPES: usize = 1024;

/// Reads a gob message length prefix from the front of `buf`.
///
/// Returns `Ok(Some((header_len, body_len)))` once the prefix is complete (the message is
/// then `buf[header_len..header_len + body_len]`, which may not have arrived yet), `Ok(None)`
/// while it is incomplete, and an error for a malformed prefix or a body longer than `limit`,
/// checked before anything is allocated.
pub fn message_len(buf: &[u8], limit: usize) -> Result<Option<(usize, usize)>, GobError> {
    let Some((len, header)) = wire::parse_uint(buf)? else {
        return Ok(None);
    };
    if len > limit as u64 {
        return Err(GobError::limit(format!(
            "a message of {len} bytes exceeds the limit of {limit}"
        )));
    }
    if len == 0 {
        return Err(GobError::malformed("an empty message"));
    }
    Ok(Some((header, len as usize)))
}

/// Appends the length prefix for a message of `len` bytes to `out`.
pub fn write_message_len(out: &mut Vec<u8>, len: usize) {
    wire::put_uint(out, len as u64);
}

/// The gob type of a Rust type, traced from its `Deserialize` implementation.
///
/// Unlike a type learnt from a value, it is complete whatever the value holds (an empty
/// `Vec`, a `None`), so it can be given to [`Encoder::encode_with`] for every value of the
/// type.
#[derive(Clone, Debug)]
pub struct Schema {
    shape: Arc<Shape>,
}

impl Schema {
    /// Traces the gob type of `T`.
    ///
    /// Fails for types whose `Deserialize` decides its shape from the data
    /// (`deserialize_any`: untagged enums, `#[serde(flatten)]`, `serde_json::Value`), for
    /// enums with data, and for types gob cannot express.
    pub fn of<T: DeserializeOwned>() -> Result<Schema, GobError> {
        let shape = trace::trace::<T>()?.finalize(&mut String::new())?;
        Ok(Schema {
            shape: Arc::new(shape),
        })
    }
}

/// The sending half of a gob stream: remembers which types it has defined.
#[derive(Debug, Default)]
pub struct Encoder {
    sent: SentTypes,
    memory: types::StructMemory,
    /// What [`Encoder::settle`] made of the shapes learnt from values, and the memory's
    /// generation it did so at. Hashed with SipHash: a dynamic value's shape follows the data.
    settled: HashMap<Arc<Learnt>, (u64, Arc<Shape>)>,
    /// The entry of `settled` used last, compared before the table is hashed: a stream often
    /// sends values of one type many times running.
    last_settled: Option<(Arc<Learnt>, u64, Arc<Shape>)>,
    schemas: FastMap<TypeId, Schema>,
}

/// A shape learnt from a value, and whether what it leaves unknown is to be filled in.
type Learnt = (Shape, bool);

/// How many learnt shapes an encoder keeps settled: one per type its values take, unless
/// their shapes follow the data (a dynamic value's), when the cache starts again.
const SETTLED_LIMIT: usize = 256;

impl Encoder {
    /// An encoder for a new stream (no types sent yet).
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Appends to `out` the gob messages for one value: any type definitions not yet sent on
    /// this stream, then the value message, each with its length prefix. The type is learnt
    /// from the value (see the [module documentation](crate::gob)). On error nothing is appended
    /// and the stream's state is unchanged.
    pub fn encode<T: Serialize + ?Sized>(
        &mut self,
        out: &mut Vec<u8>,
        value: &T,
    ) -> Result<(), GobError> {
        let shape = self.settle(infer::infer(value)?, false)?;
        self.encode_shape(out, &shape, value)
    }

    /// [`encode`](Self::encode) for a type-erased value.
    pub fn encode_erased(
        &mut self,
        out: &mut Vec<u8>,
        value: &dyn erased_serde::Serialize,
    ) -> Result<(), GobError> {
        self.encode(out, value)
    }

    /// Like [`encode`](Self::encode), but the type sent is traced from `T`'s `Deserialize`
    /// (once per encoder), so it is complete whatever the value holds.
    pub fn encode_typed<T: Serialize + DeserializeOwned + 'static>(
        &mut self,
        out: &mut Vec<u8>,
        value: &T,
    ) -> Result<(), GobError> {
        let schema = match self.schemas.get(&TypeId::of::<T>()) {
            Some(schema) => schema.clone(),
            None => {
                let schema = Schema::of::<T>()?;
                self.schemas.insert(TypeId::of::<T>(), schema.clone());
                schema
            }
        };
        self.encode_shape(out, &schema.shape, value)
    }

    /// Like [`encode`](Self::encode), with the type given by `schema`; the value must fit it.
    pub fn encode_with(
        &mut self,
        out: &mut Vec<u8>,
        schema: &Schema,
        value: &dyn erased_serde::Serialize,
    ) -> Result<(), GobError> {
        self.encode_shape(out, &schema.shape, value)
    }

    /// Appends one RPC message, as Go's net/rpc sends it: `header` (its type traced from
    /// `Deserialize`), then `body` (its type learnt from the value, with what the value
    /// cannot show filled in as [`types::Shape::fill_unknown`] says). Fails, leaving `out`
    /// and the stream's state as they were, if either fails to encode, if `body`'s
    /// `Serialize` panics (the panic then goes on), or if the two together pass `limit`
    /// bytes: the definitions they carry must not be thought sent when they are not.
    pub(crate) fn encode_rpc<H: Serialize + DeserializeOwned + 'static>(
        &mut self,
        out: &mut Vec<u8>,
        header: &H,
        body: &dyn erased_serde::Serialize,
        limit: usize,
    ) -> Result<(), GobError> {
        let start = out.len();
        let mut mark = self.sent.mark();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let schema = match self.schemas.get(&TypeId::of::<H>()) {
                Some(schema) => schema.clone(),
                None => {
                    let schema = Schema::of::<H>()?;
                    self.schemas.insert(TypeId::of::<H>(), schema.clone());
                    schema
                }
            };
            self.encode_marked(out, &schema.shape, header, &mut mark)?;
            let shape = self.settle(infer::infer(body)?, true)?;
            self.encode_marked(out, &shape, body, &mut mark)?;
            let size = out.len() - start;
            if size > limit {
                return Err(GobError::limit(format!(
                    "a message of {size} bytes exceeds the limit of {limit}"
                )));
            }
            Ok(())
        }));
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                out.truncate(start);
                self.sent.rollback(mark);
                Err(e)
            }
            Err(panic) => {
                out.truncate(start);
                self.sent.rollback(mark);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// The shape a value whose shape was learnt as `learnt` is sent as: its structs unified,
    /// completed from the stream's memory, what is still unknown filled in where `fill` says,
    /// and finalized. Most of a value's encoding time went here, so the result is kept, and
    /// reused while the memory has not changed: it is all the result depends on.
    fn settle(&mut self, learnt: Shape, fill: bool) -> Result<Arc<Shape>, GobError> {
        let key = (learnt, fill);
        let generation = self.memory.generation();
        if let Some((last, at, shape)) = &self.last_settled {
            if *at == generation && **last == key {
                return Ok(Arc::clone(shape));
            }
        }
        if let Some((known, (at, shape))) = self.settled.get_key_value(&key) {
            if *at == generation {
                let shape = Arc::clone(shape);
                self.last_settled = Some((Arc::clone(known), generation, Arc::clone(&shape)));
                return Ok(shape);
            }
        }
        // Kept with the generation from before: a recall that teaches the memory makes its
        // own result stale, so the next value of this shape settles again against what it
        // taught.
        let shape = key.0.clone().unify_structs().recall(&mut self.memory);
        let shape = if fill {
            shape.fill_unknown(false)
        } else {
            shape
        };
        let shape = Arc::new(shape.finalize(&mut String::new())?);
        if self.settled.len() >= SETTLED_LIMIT {
            self.settled.clear();
        }
        let key = Arc::new(key);
        self.last_settled = Some((Arc::clone(&key), generation, Arc::clone(&shape)));
        self.settled.insert(key, (generation, Arc::clone(&shape)));
        Ok(shape)
    }

    fn encode_shape<T: Serialize + ?Sized>(
        &mut self,
        out: &mut Vec<u8>,
        shape: &Arc<Shape>,
        value: &T,
    ) -> Result<(), GobError> {
        let start = out.len();
        let mut mark = self.sent.mark();
        let result = self.encode_marked(out, shape, value, &mut mark);
        if result.is_err() {
            out.truncate(start);
            self.sent.rollback(mark);
        }
        result
    }

    /// Appends the definitions `shape` needs and the value, recording the new definitions in
    /// `mark`; the caller rolls back on error.
    fn encode_marked<T: Serialize + ?Sized>(
        &mut self,
        out: &mut Vec<u8>,
        shape: &Arc<Shape>,
        value: &T,
        mark: &mut types::Mark,
    ) -> Result<(), GobError> {
        self.sent.id_of(shape, out, mark).and_then(|id| {
            // The value message: its length is not known until it is written, so it is
            // written after room for the longest prefix, then moved down.
            let at = out.len();
            out.extend_from_slice(&[0; 9]);
            ser::write_value(out, &self.sent, id, value)?;
            let len = out.len() - at - 9;
            let header = wire::uint_len(len as u64);
            let mut prefix = Vec::with_capacity(9);
            wire::put_uint(&mut prefix, len as u64);
            out[at + 9 - header..at + 9].copy_from_slice(&prefix);
            out.drain(at..at + 9 - header);
            Ok(())
        })
    }
}

/// Limits on what a [`Decoder`] accepts from its peer.
///
/// Two more are fixed: one message may make at most 262,144 zero values appear for fields it
/// leaves out (absent arrays' elements, absent structs' fields), and the type definitions of
/// one stream may declare at most 262,144 struct fields in all. Past either, decoding fails
/// with a [`Limit`](GobErrorKind::Limit) error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How deeply values may nest (structs, sequences, maps, interfaces).
    pub max_depth: usize,
    /// How many type definitions the stream may make.
    pub max_types: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_types: DEFAULT_MAX_TYPES,
        }
    }
}

/// The receiving half of a gob stream: remembers the types defined on it.
#[derive(Debug, Default)]
pub struct Decoder {
    types: ReceivedTypes,
    limits: Limits,
}

impl Decoder {
    /// A decoder for a new stream, with the default [`Limits`].
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// A decoder for a new stream, with `limits`.
    pub fn with_limits(limits: Limits) -> Decoder {
        Decoder {
            types: ReceivedTypes::default(),
            limits,
        }
    }

    /// Feeds one complete message (the bytes after its length prefix).
    ///
    /// A type definition is stored and gives `Ok(None)`; a value gives a [`ValueMessage`] to
    /// deserialize. A value may refer to types defined in earlier messages only.
    pub fn decode<'a>(&'a mut self, msg: &'a [u8]) -> Result<Option<ValueMessage<'a>>, GobError> {
        let mut r = wire::Reader::new(msg);
        let id = r.int()?;
        if id < 0 {
            self.types
                .define(id.wrapping_neg(), &mut r, self.limits.max_types)?;
            return Ok(None);
        }
        if id == 0 {
            return Err(GobError::malformed("a value message of type id 0"));
        }
        self.types.kind(id)?;
        let body = &msg[msg.len() - r.remaining()..];
        Ok(Some(ValueMessage {
            types: &self.types,
            id,
            body,
            max_depth: self.limits.max_depth,
        }))
    }

    /// Feeds one message and, if it is a value, deserializes it as `T`.
    pub fn decode_value<T: DeserializeOwned>(&mut self, msg: &[u8]) -> Result<Option<T>, GobError> {
        for _ in 0..Self::MAX_DECODES {
            let decoded = match self.decode(msg)? {
                Some(value) => value.deserialize(),
                None => return Ok(None),
            };
            match decoded {
                Err(e) if self.value_continues() => {
                    self.define_inline_types()?;
                    return Err(e);
                }
                Err(_) if self.define_inline_types()? => continue,
                decoded => return decoded.map(Some),
            }
        }
        Err(too_many_decodes())
    }

    /// How many times one value may be decoded, each time after defining the types the last
    /// try met inside it: each try gets past one interface value that defines its type, so a
    /// value may bring this many less one (and a hostile one costs this many decodings).
    pub const MAX_DECODES: usize = 64;

    /// Defines the types that the value of the last message brought inside it (Go defines a
    /// type inside the first interface value of it on a stream); `true` if there were any:
    /// then that value failed to decode and must be decoded again (from the same message,
    /// with [`Decoder::decode`]).
    pub fn define_inline_types(&mut self) -> Result<bool, GobError> {
        self.types.define_inline(self.limits.max_types)
    }

    /// Whether the stream can go on: not after a value brought type definitions this decoder
    /// cannot follow (an interface value inside another that defines its type), which later
    /// messages may use.
    pub fn in_step(&self) -> bool {
        !self.types.lost_step()
    }

    /// Whether the value of the last message went on past it (after type definitions inside
    /// an interface value, Go sends the rest in the next message): decode it again from that
    /// message with the next one joined on, the next one's length prefix included. Forgets it.
    pub fn value_continues(&mut self) -> bool {
        self.types.take_continues()
    }

    /// How many types the peer has defined on this stream.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }
}

/// A value message, ready to be deserialized (as any type, or through erased-serde); being
/// `Copy`, it can be tried as more than one type.
#[derive(Clone, Copy)]
pub struct ValueMessage<'a> {
    types: &'a ReceivedTypes,
    id: i64,
    body: &'a [u8],
    max_depth: usize,
}

impl std::fmt::Debug for ValueMessage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueMessage")
            .field("type_id", &self.id)
            .field("len", &self.body.len())
            .finish()
    }
}

impl<'a> ValueMessage<'a> {
    /// The gob type id of the value.
    pub fn type_id(&self) -> i64 {
        self.id
    }

    /// Deserializes the value as `T`; the whole message must be used.
    pub fn deserialize<T: Deserialize<'a>>(self) -> Result<T, GobError> {
        let mut st = de::State::new(self.body, self.types, self.max_depth);
        let value = T::deserialize(st.top(self.id)?)?;
        st.finish()?;
        Ok(value)
    }

    /// Hands the value to `f` as an erased-serde deserializer (for callers that only know
    /// the target type behind a `dyn`); the whole message must be used.
    pub fn deserialize_erased<R>(
        self,
        f: impl FnOnce(&mut dyn erased_serde::Deserializer<'a>) -> Result<R, erased_serde::Error>,
    ) -> Result<R, GobError> {
        let mut st = de::State::new(self.body, self.types, self.max_depth);
        let result = {
            let mut erased = <dyn erased_serde::Deserializer<'_>>::erase(st.top(self.id)?);
            f(&mut erased)?
        };
        st.finish()?;
        Ok(result)
    }

    /// Reads past the value, checking that it is well formed.
    pub fn skip(self) -> Result<(), GobError> {
        let mut st = de::State::new(self.body, self.types, self.max_depth);
        st.top(self.id)?;
        st.skip(self.id)?;
        st.finish()
    }
}

#[cfg(test)]
mod settled_tests;
#[cfg(test)]
mod tests;

/// A value that defined types inside it more times than [`Decoder::MAX_DECODES`] allows.
pub(crate) fn too_many_decodes() -> GobError {
    GobError::limit(format!(
        "a value defines types inside it more than {} times",
        Decoder::MAX_DECODES - 1
    ))
}

/// Whether `value` is `()`, Go's empty struct (a `Params(())` holds it: a call of no
/// arguments, which gob sends as that one argument).
pub(crate) fn is_unit<T: Serialize + ?Sized>(value: &T) -> bool {
    matches!(infer::infer(value), Ok(Shape::Struct("", fields)) if fields.is_empty())
}
