//! The serde `Deserializer` over one gob value message.
//!
//! The value is read as its wire type describes it; the Rust type's requests are answered from
//! that. As in Go, struct fields are matched by name and fields the sender left out (because
//! they were zero) are presented as the zero value of their wire type, so a Rust struct needs
//! no `#[serde(default)]` for them; an `Option` field that is absent is `None`.

use std::cell::Cell;
use std::mem;
use std::rc::Rc;

use serde::de::value::{SeqDeserializer, StrDeserializer, U8Deserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::error::GobError;
use super::types::{Kind, ReceivedTypes, StructType};
use super::wire::Reader;
use crate::encoding::go_zero::{GoFields, Zero};

/// How many zero values one message may make appear out of nothing: the elements of an absent
/// field of a large array type, the fields of absent structs (whose fields may be structs, two
/// of each, forty deep: a few bytes of type definitions that would expand to 2^40 values).
const ZERO_BUDGET: u64 = 1 << 18;

/// Reading one message.
pub(crate) struct State<'t, 'de> {
    pub(crate) r: Reader<'de>,
    types: &'t ReceivedTypes,
    depth: usize,
    max_depth: usize,
    zero_budget: Rc<Cell<u64>>,
    /// The struct types of the values being decoded, outermost first, since the last slice,
    /// map or interface: the struct and array types that hold one another by value.
    enclosing: Vec<i64>,
    /// Whether this reads the contents of an interface value (a count of bytes Go wrote).
    in_interface: bool,
}

impl<'t, 'de> State<'t, 'de> {
    pub(crate) fn new(body: &'de [u8], types: &'t ReceivedTypes, max_depth: usize) -> Self {
        State {
            r: Reader::new(body),
            types,
            depth: 0,
            max_depth,
            zero_budget: Rc::new(Cell::new(ZERO_BUDGET)),
            enclosing: Vec::new(),
            in_interface: false,
        }
    }

    /// The start of a top-level value of type `id`: a non-struct value is a singleton, a
    /// zero field delta before the value.
    pub(crate) fn top(&mut self, id: i64) -> Result<ValueDe<'_, 't, 'de>, GobError> {
        self.types.kind(id)?;
        if !self.types.is_struct(id) && self.r.uint()? != 0 {
            return Err(GobError::malformed(
                "a non-struct value does not start with the zero that marks a singleton",
            ));
        }
        Ok(ValueDe {
            st: self,
            id,
            present: true,
        })
    }

    /// Checks that the whole message was read.
    pub(crate) fn finish(&self) -> Result<(), GobError> {
        if !self.r.is_empty() {
            return Err(GobError::malformed(format!(
                "{} bytes left over after the value",
                self.r.remaining()
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), GobError> {
        if self.depth >= self.max_depth {
            return Err(GobError::limit(format!(
                "the value nests deeper than {} levels",
                self.max_depth
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn spend_zero(&self, values: usize) -> Result<(), GobError> {
        let left = self
            .zero_budget
            .get()
            .checked_sub(values as u64)
            .ok_or_else(|| {
                GobError::limit(format!(
                    "absent fields would make more than {ZERO_BUDGET} zero values"
                ))
            })?;
        self.zero_budget.set(left);
        Ok(())
    }

    /// Reads past a value of type `id`.
    pub(crate) fn skip(&mut self, id: i64) -> Result<(), GobError> {
        let types = self.types;
        match types.kind(id)? {
            Kind::Bool | Kind::Int | Kind::Uint | Kind::Float => {
                self.r.uint()?;
            }
            Kind::Bytes | Kind::String | Kind::Opaque => {
                self.r.bytes()?;
            }
            Kind::Complex => {
                self.r.uint()?;
                self.r.uint()?;
            }
            Kind::Interface => {
                // Walked, not jumped over: types defined inside must be met.
                if let Some((id, body)) = self.open_interface()? {
                    self.enter()?;
                    let mut inner = self.inner(body);
                    inner.skip(id)?;
                    inner.finish()?;
                    self.leave();
                }
            }
            Kind::Array(elem, len) => {
                self.enter()?;
                let n = self.array_count(len)?;
                for _ in 0..n {
                    self.skip(elem)?;
                }
                self.leave();
            }
            Kind::Slice(elem) => {
                self.enter()?;
                for _ in 0..self.r.count()? {
                    self.skip(elem)?;
                }
                self.leave();
            }
            Kind::Map(key, elem) => {
                self.enter()?;
                for _ in 0..self.r.count()? {
                    self.skip(key)?;
                    self.skip(elem)?;
                }
                self.leave();
            }
            Kind::Struct(st) => {
                self.enter()?;
                let mut field = -1;
                while let Some(f) = self.field_delta(st, field)? {
                    self.skip(st.fields[f].1)?;
                    field = f as i64;
                }
                self.leave();
            }
        }
        Ok(())
    }

    fn array_count(&mut self, len: u64) -> Result<usize, GobError> {
        let n = self.r.count()?;
        if n as u64 != len {
            return Err(GobError::malformed(format!(
                "an array of type length {len} arrives with {n} elements"
            )));
        }
        Ok(n)
    }

    /// Reads the next field delta of a struct after field `after`: the next field present,
    /// or `None` at the end of the struct.
    fn field_delta(&mut self, st: &StructType, after: i64) -> Result<Option<usize>, GobError> {
        let delta = self.r.uint()?;
        if delta == 0 {
            return Ok(None);
        }
        let field = (after as u64).wrapping_add(delta);
        if field >= st.fields.len() as u64 {
            return Err(GobError::malformed(format!(
                "a value of struct type {:?} has field number {field}, but the type has {} \
                 fields",
                st.name,
                st.fields.len()
            )));
        }
        Ok(Some(field as usize))
    }

    /// Reads an interface value up to its contents: `None` for a nil interface, else the
    /// concrete type id and the bytes of the value.
    fn open_interface(&mut self) -> Result<Option<(i64, &'de [u8])>, GobError> {
        let name = self.r.bytes()?;
        if name.is_empty() {
            return Ok(None);
        }
        // Go defines the concrete type (and the types in it) here, in the first interface
        // value of it on a stream. Each definition ends the message: the value goes on in the
        // next one, which the caller joins on, length and all (the "count" Go skips).
        let mut id = self.r.int()?;
        let mut new_types = false;
        while id < 0 {
            new_types |= self.types.read_inline(id.wrapping_neg(), &mut self.r)?;
            if self.r.is_empty() && self.in_interface {
                // Go then goes on past the count of bytes it wrote for the outer value, which
                // this decoder reads within: the stream cannot be followed.
                self.types.lose_step();
                return Err(GobError::unsupported(format!(
                    "an interface value holding {:?}, inside another interface value, defines \
                     its type, which this decoder does not support; the connection cannot go on",
                    String::from_utf8_lossy(name)
                )));
            } else if self.r.is_empty() {
                self.types.set_continues();
                return Err(GobError::malformed(format!(
                    "an interface value holding {:?} goes on in the next message",
                    String::from_utf8_lossy(name)
                )));
            }
            self.r.uint()?;
            id = self.r.int()?;
        }
        if new_types {
            // Decoded again once they are defined.
            return Err(GobError::malformed(format!(
                "an interface value holding {:?} defines its type: define it \
                 (Decoder::define_inline_types) and decode the message again",
                String::from_utf8_lossy(name)
            )));
        }
        self.types.kind(id)?;
        let body = self.r.bytes()?;
        Ok(Some((id, body)))
    }

    /// A state reading the contents of an interface value, `body`.
    fn inner(&self, body: &'de [u8]) -> State<'t, 'de> {
        State {
            r: Reader::new(body),
            types: self.types,
            depth: self.depth,
            max_depth: self.max_depth,
            zero_budget: self.zero_budget.clone(),
            enclosing: Vec::new(),
            in_interface: true,
        }
    }

    /// Decodes the contents of an interface value with `f`.
    fn in_interface<R>(
        &mut self,
        id: i64,
        body: &'de [u8],
        f: impl FnOnce(ValueDe<'_, 't, 'de>) -> Result<R, GobError>,
    ) -> Result<R, GobError> {
        self.enter()?;
        let mut inner = self.inner(body);
        let v = f(inner.top(id)?)?;
        inner.finish()?;
        self.leave();
        Ok(v)
    }
}

/// One value (present in the message, or absent and so zero) of wire type `id`.
pub(crate) struct ValueDe<'s, 't, 'de> {
    st: &'s mut State<'t, 'de>,
    id: i64,
    present: bool,
}

/// Hands an interface value's contents to the same request, keeping the Rust type's hint.
macro_rules! through_interface {
    ($self:ident, $visitor:ident, $call:expr) => {
        if let Kind::Interface = $self.kind()? {
            if !$self.present {
                return $visitor.visit_unit();
            }
            return match $self.st.open_interface()? {
                None => $visitor.visit_unit(),
                Some((id, body)) => $self.st.in_interface(id, body, $call),
            };
        }
    };
}

impl<'s, 't, 'de> ValueDe<'s, 't, 'de> {
    fn kind(&self) -> Result<Kind<'t>, GobError> {
        let types: &'t ReceivedTypes = self.st.types;
        types.kind(self.id)
    }

    /// A slice (`indirect`: its elements are held apart from it) or an array.
    fn seq<V: Visitor<'de>>(
        self,
        visitor: V,
        elem: i64,
        len: usize,
        present: bool,
        indirect: bool,
    ) -> Result<V::Value, GobError> {
        self.st.enter()?;
        let enclosing = indirect.then(|| mem::take(&mut self.st.enclosing));
        let mut access = SeqDe {
            st: &mut *self.st,
            elem,
            left: len,
            present,
        };
        let v = visitor.visit_seq(&mut access)?;
        access.drain()?;
        if let Some(enclosing) = enclosing {
            access.st.enclosing = enclosing;
        }
        self.st.leave();
        Ok(v)
    }

    /// A struct value, handed over as a map: the fields of the wire type, then those of the
    /// Rust type (`rust`) that the wire type lacks, as zero values, as Go leaves them
    /// ([`GoFields`]).
    fn wire_struct<V: Visitor<'de>>(
        self,
        ty: &'t StructType,
        rust: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GobError> {
        let shared = |name: &&str| ty.fields.iter().any(|(n, _)| n == name);
        if !ty.fields.is_empty() && !rust.is_empty() && !rust.iter().any(shared) {
            return Err(GobError::mismatch(format!(
                "the struct {:?} on the wire and the Rust struct have no field names in \
                 common (gob matches fields by name; rename Rust fields with \
                 #[serde(rename = \"GoName\")])",
                ty.name
            )));
        }
        if !self.present {
            if self.st.enclosing.contains(&self.id) {
                // An absent struct within a value of its own type, held by value: in Go that
                // takes a pointer (which gob leaves out of the type), and the zero pointer is
                // nil.
                return visitor.visit_unit();
            }
            self.st.spend_zero(ty.fields.len())?;
        }
        self.st.enter()?;
        self.st.enclosing.push(self.id);
        let pending = if self.present {
            self.st.field_delta(ty, -1)?
        } else {
            None
        };
        let zero = Zero::gob(self.st.max_depth.saturating_sub(self.st.depth));
        let mut access = StructDe {
            st: &mut *self.st,
            ty,
            next: 0,
            pending,
        };
        let v = if rust.is_empty() {
            visitor.visit_map(&mut access)?
        } else {
            visitor.visit_map(GoFields::new(&mut access, rust, zero, None))?
        };
        access.drain()?;
        access.st.enclosing.pop();
        self.st.leave();
        Ok(v)
    }

    fn bytes(&mut self) -> Result<&'de [u8], GobError> {
        if self.present {
            self.st.r.bytes()
        } else {
            Ok(&[])
        }
    }
}

impl<'de> de::Deserializer<'de> for ValueDe<'_, '_, 'de> {
    type Error = GobError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, GobError> {
        let present = self.present;
        match self.kind()? {
            Kind::Bool => visitor.visit_bool(present && self.st.r.bool()?),
            Kind::Int => visitor.visit_i64(if present { self.st.r.int()? } else { 0 }),
            Kind::Uint => visitor.visit_u64(if present { self.st.r.uint()? } else { 0 }),
            Kind::Float => visitor.visit_f64(if present { self.st.r.float()? } else { 0.0 }),
            Kind::Bytes | Kind::Opaque => visitor.visit_borrowed_bytes(self.bytes()?),
            Kind::String => {
                let bytes = self.bytes()?;
                match std::str::from_utf8(bytes) {
                    Ok(s) => visitor.visit_borrowed_str(s),
                    Err(_) => visitor.visit_borrowed_bytes(bytes),
                }
            }
            Kind::Complex => {
                let (re, im) = if present {
                    (self.st.r.float()?, self.st.r.float()?)
                } else {
                    (0.0, 0.0)
                };
                let mut seq = SeqDeserializer::<_, GobError>::new([re, im].into_iter());
                let v = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(v)
            }
            Kind::Interface => {
                through_interface!(self, visitor, |de| de.deserialize_any(visitor));
                unreachable!()
            }
            Kind::Array(elem, len) => {
                if present {
                    let n = self.st.array_count(len)?;
                    self.seq(visitor, elem, n, true, false)
                } else {
                    let n = usize::try_from(len).unwrap_or(usize::MAX);
                    self.seq(visitor, elem, n, false, false)
                }
            }
            Kind::Slice(elem) => {
                let n = if present { self.st.r.count()? } else { 0 };
                self.seq(visitor, elem, n, present, true)
            }
            Kind::Map(key, elem) => {
                let n = if present { self.st.r.count()? } else { 0 };
                self.st.enter()?;
                let enclosing = mem::take(&mut self.st.enclosing);
                let mut access = MapDe {
                    st: &mut *self.st,
                    key,
                    elem,
                    left: n,
                    value_next: false,
                };
                let v = visitor.visit_map(&mut access)?;
                access.drain()?;
                access.st.enclosing = enclosing;
                self.st.leave();
                Ok(v)
            }
            Kind::Struct(ty) => self.wire_struct(ty, &[], visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GobError> {
        if !self.present {
            return visitor.visit_none();
        }
        if let Kind::Interface = self.kind()? {
            return match self.st.open_interface()? {
                None => visitor.visit_none(),
                Some((id, body)) => self.st.in_interface(id, body, |de| visitor.visit_some(de)),
            };
        }
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GobError> {
        if self.present {
            self.st.skip(self.id)?;
        }
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GobError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, GobError> {
        through_interface!(self, visitor, |de| de.deserialize_seq(visitor));
        match self.kind()? {
            Kind::Bytes | Kind::String | Kind::Opaque => {
                let bytes = self.bytes()?;
                let mut seq = SeqDeserializer::<_, GobError>::new(
                    bytes.iter().map(|&b| U8Deserializer::<GobError>::new(b)),
                );
                let v = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(v)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GobError> {
        through_interface!(self, visitor, |de| de.deserialize_char(visitor));
        let code = match self.kind()? {
            Kind::Int => {
                let x = if self.present { self.st.r.int()? } else { 0 };
                u32::try_from(x).ok()
            }
            Kind::Uint => {
                let x = if self.present { self.st.r.uint()? } else { 0 };
                u32::try_from(x).ok()
            }
            _ => return self.deserialize_any(visitor),
        };
        match code.and_then(char::from_u32) {
            Some(c) => visitor.visit_char(c),
            None => Err(GobError::mismatch(
                "an integer that is not a Unicode scalar value, where a char was expected",
            )),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GobError> {
        through_interface!(self, visitor, |de| de
            .deserialize_enum(name, variants, visitor));
        match self.kind()? {
            Kind::String => {
                let bytes = self.bytes()?;
                let s = std::str::from_utf8(bytes).map_err(|_| {
                    GobError::mismatch(format!("the variant name for enum `{name}` is not UTF-8"))
                })?;
                let access: StrDeserializer<'_, GobError> = s.into_deserializer();
                visitor.visit_enum(access)
            }
            _ => Err(GobError::mismatch(format!(
                "enum `{name}` can only be decoded from a string (its variant's name)"
            ))),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GobError> {
        through_interface!(self, visitor, |de| de
            .deserialize_struct(name, fields, visitor));
        match self.kind()? {
            Kind::Struct(ty) => self.wire_struct(ty, fields, visitor),
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 str string bytes byte_buf map
        identifier
    }
}

/// The elements of an array or slice.
struct SeqDe<'s, 't, 'de> {
    st: &'s mut State<'t, 'de>,
    elem: i64,
    left: usize,
    present: bool,
}

impl SeqDe<'_, '_, '_> {
    fn drain(&mut self) -> Result<(), GobError> {
        if self.present {
            while self.left > 0 {
                self.left -= 1;
                self.st.skip(self.elem)?;
            }
        }
        self.left = 0;
        Ok(())
    }
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_, 'de> {
    type Error = GobError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GobError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        if !self.present {
            self.st.spend_zero(1)?;
        }
        seed.deserialize(ValueDe {
            st: &mut *self.st,
            id: self.elem,
            present: self.present,
        })
        .map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The entries of a map.
struct MapDe<'s, 't, 'de> {
    st: &'s mut State<'t, 'de>,
    key: i64,
    elem: i64,
    left: usize,
    value_next: bool,
}

impl MapDe<'_, '_, '_> {
    fn drain(&mut self) -> Result<(), GobError> {
        if self.value_next {
            self.value_next = false;
            self.st.skip(self.elem)?;
        }
        while self.left > 0 {
            self.left -= 1;
            self.st.skip(self.key)?;
            self.st.skip(self.elem)?;
        }
        Ok(())
    }
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_, 'de> {
    type Error = GobError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GobError> {
        if self.value_next {
            self.value_next = false;
            self.st.skip(self.elem)?;
        }
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.value_next = true;
        seed.deserialize(ValueDe {
            st: &mut *self.st,
            id: self.key,
            present: true,
        })
        .map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GobError> {
        if !self.value_next {
            return Err(GobError::mismatch(
                "a map value was asked for before its key",
            ));
        }
        self.value_next = false;
        seed.deserialize(ValueDe {
            st: &mut *self.st,
            id: self.elem,
            present: true,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The fields of a struct: every field of the wire type, in order, those not in the message
/// presented as zero values.
struct StructDe<'s, 't, 'de> {
    st: &'s mut State<'t, 'de>,
    ty: &'t StructType,
    /// The next field to hand out.
    next: usize,
    /// The next field present in the message (`None`: the end of the struct has been read).
    pending: Option<usize>,
}

impl StructDe<'_, '_, '_> {
    fn drain(&mut self) -> Result<(), GobError> {
        while let Some(f) = self.pending {
            self.st.skip(self.ty.fields[f].1)?;
            self.pending = self.st.field_delta(self.ty, f as i64)?;
        }
        self.next = self.ty.fields.len();
        Ok(())
    }
}

impl<'de> de::MapAccess<'de> for StructDe<'_, '_, 'de> {
    type Error = GobError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GobError> {
        let ty: &StructType = self.ty;
        match ty.fields.get(self.next) {
            Some((name, _)) => {
                let key: StrDeserializer<'_, GobError> = name.as_str().into_deserializer();
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GobError> {
        let i = self.next;
        let Some(&(_, id)) = self.ty.fields.get(i) else {
            return Err(GobError::mismatch(
                "a struct value was asked for past its last field",
            ));
        };
        self.next += 1;
        let present = self.pending == Some(i);
        let v = seed.deserialize(ValueDe {
            st: &mut *self.st,
            id,
            present,
        })?;
        if present {
            self.pending = self.st.field_delta(self.ty, i as i64)?;
        }
        Ok(v)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.ty.fields.len() - self.next)
    }
}
