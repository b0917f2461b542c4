//! Writing a value against its gob type (the encoder's second pass).
//!
//! The type has been settled and defined before this pass runs; the serializer walks the value
//! and the type together, leaving out zero-valued struct fields as Go does, and refuses any
//! part of the value that does not fit the type.

use serde::ser::{self, Serialize};

use super::error::GobError;
use super::infer::MAX_DEPTH;
use super::types::{Def, SentTypes, BOOL, BYTES, FLOAT, INT, STRING, UINT};
use super::wire::{put_bytes, put_float, put_int, put_uint};

/// What writing a value produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Emitted {
    /// A value that is not zero for its type.
    Value,
    /// A zero value (0, "", false, an empty slice or map): a struct leaves it out.
    Zero,
    /// The zero value of a type that encodes itself (a zero `time.Time`): a struct leaves it
    /// out too, but not behind a pointer, which Go sends when it is not nil.
    ZeroEncoded,
    /// Nothing at all (`None`).
    Absent,
}

/// What the type expects at this point of the value.
#[derive(Clone, Copy)]
enum Want<'a> {
    Bool,
    Int,
    Uint,
    Float,
    Bytes,
    String,
    Slice(i64),
    Array(i64, usize),
    Map(i64, i64),
    Struct(&'a [(&'static str, i64)]),
    /// One byte of a `[]byte` given as a sequence of `u8`.
    Byte,
    /// A type that encodes itself: a [`super::Time`].
    Opaque,
    /// A struct field the type does not have: only an absent or empty value fits.
    Nothing(&'static str),
}

impl Want<'_> {
    fn describe(&self) -> String {
        match self {
            Want::Bool => "bool".into(),
            Want::Int => "int".into(),
            Want::Uint => "uint".into(),
            Want::Float => "float".into(),
            Want::Bytes => "[]byte".into(),
            Want::String => "string".into(),
            Want::Slice(_) => "a slice".into(),
            Want::Array(_, n) => format!("an array of {n}"),
            Want::Map(..) => "a map".into(),
            Want::Struct(_) => "a struct".into(),
            Want::Byte => "a byte".into(),
            Want::Opaque => super::time::GO_NAME.into(),
            Want::Nothing(_) => "nothing".into(),
        }
    }
}

/// Writes `value` as the body of a value message for type `id`: the id, then the value
/// (a non-struct value is a "singleton", preceded by a zero field delta).
pub(crate) fn write_value<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    types: &SentTypes,
    id: i64,
    value: &T,
) -> Result<(), GobError> {
    put_int(out, id);
    let is_struct = id >= super::types::FIRST_USER_ID && matches!(types.def(id), Def::Struct(_));
    if !is_struct {
        out.push(0);
    }
    let emit = Emit::new(out, types, id, 0)?;
    match value.serialize(emit)? {
        Emitted::Absent => Err(GobError::unsupported(
            "the top-level value is None: gob cannot send nothing (Go refuses a nil pointer); \
             send a value, or wrap the Option in a struct field",
        )),
        _ => Ok(()),
    }
}

pub(crate) struct Emit<'a> {
    out: &'a mut Vec<u8>,
    types: &'a SentTypes,
    want: Want<'a>,
    depth: usize,
}

impl<'a> Emit<'a> {
    fn new(
        out: &'a mut Vec<u8>,
        types: &'a SentTypes,
        id: i64,
        depth: usize,
    ) -> Result<Emit<'a>, GobError> {
        let want = match id {
            BOOL => Want::Bool,
            INT => Want::Int,
            UINT => Want::Uint,
            FLOAT => Want::Float,
            BYTES => Want::Bytes,
            STRING => Want::String,
            _ => match types.def(id) {
                Def::Slice(e) => Want::Slice(*e),
                Def::Array(e, n) => Want::Array(*e, *n),
                Def::Map(k, v) => Want::Map(*k, *v),
                Def::Struct(fields) => Want::Struct(fields),
                Def::Opaque => Want::Opaque,
            },
        };
        Ok(Emit {
            out,
            types,
            want,
            depth,
        })
    }

    fn mismatch(&self, got: &str) -> GobError {
        match self.want {
            Want::Nothing(field) => GobError::mismatch(format!(
                "field `{field}` has a value, but it is not part of the gob type for its struct \
                 (a type traced from Deserialize leaves out fields it does not read)"
            )),
            Want::Byte => GobError::mismatch(format!(
                "a []byte holds bytes, but an element of it is {got}"
            )),
            want => GobError::mismatch(format!(
                "the value has {got} where its gob type has {}; all values of one type must \
                 have the same shape",
                want.describe()
            )),
        }
    }

    fn nested(&self) -> Result<usize, GobError> {
        if self.depth >= MAX_DEPTH {
            return Err(GobError::limit(format!(
                "the value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(self.depth + 1)
    }

    fn int(self, x: i64) -> Result<Emitted, GobError> {
        match self.want {
            Want::Int => {
                put_int(self.out, x);
                Ok(zero_if(x == 0))
            }
            _ => Err(self.mismatch("a signed integer")),
        }
    }

    fn uint(self, x: u64) -> Result<Emitted, GobError> {
        match self.want {
            Want::Uint => {
                put_uint(self.out, x);
                Ok(zero_if(x == 0))
            }
            _ => Err(self.mismatch("an unsigned integer")),
        }
    }

    fn float(self, x: f64) -> Result<Emitted, GobError> {
        match self.want {
            Want::Float => {
                put_float(self.out, x);
                Ok(zero_if(x == 0.0))
            }
            _ => Err(self.mismatch("a float")),
        }
    }

    /// A sequence of `len` elements (`None`: not known until the end).
    fn seq(self, len: Option<usize>, tuple: bool) -> Result<EmitSeq<'a>, GobError> {
        let depth = self.nested()?;
        let (elem, fixed) = match self.want {
            Want::Slice(e) => (Some(e), None),
            Want::Bytes => (None, None),
            Want::Array(e, n) => {
                if len.is_some_and(|len| len != n) {
                    return Err(self.mismatch(&format!("{} elements", len.unwrap_or(0))));
                }
                (Some(e), Some(n))
            }
            Want::Nothing(_) if !tuple => {
                return Ok(EmitSeq {
                    out: self.out,
                    types: self.types,
                    elem: SeqElem::Nothing(self.want),
                    start: 0,
                    declared: None,
                    fixed: None,
                    count: 0,
                    depth,
                })
            }
            _ => return Err(self.mismatch("a sequence")),
        };
        let start = self.out.len();
        let declared = fixed.or(len);
        if let Some(n) = declared {
            put_uint(self.out, n as u64);
        }
        Ok(EmitSeq {
            out: self.out,
            types: self.types,
            elem: match elem {
                Some(e) => SeqElem::Typed(e),
                None => SeqElem::Byte,
            },
            start,
            declared,
            fixed,
            count: 0,
            depth,
        })
    }
}

fn zero_if(zero: bool) -> Emitted {
    if zero {
        Emitted::Zero
    } else {
        Emitted::Value
    }
}

fn enum_error(name: &str, variant: &str) -> GobError {
    GobError::unsupported(format!(
        "`{name}::{variant}` is an enum variant with data, which gob cannot express (Go has no \
         enums); use a struct with optional fields"
    ))
}

impl<'a> ser::Serializer for Emit<'a> {
    type Ok = Emitted;
    type Error = GobError;
    type SerializeSeq = EmitSeq<'a>;
    type SerializeTuple = EmitSeq<'a>;
    type SerializeTupleStruct = EmitSeq<'a>;
    type SerializeTupleVariant = ser::Impossible<Emitted, GobError>;
    type SerializeMap = EmitMap<'a>;
    type SerializeStruct = EmitStruct<'a>;
    type SerializeStructVariant = ser::Impossible<Emitted, GobError>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<Emitted, GobError> {
        match self.want {
            Want::Bool => {
                self.out.push(u8::from(v));
                Ok(zero_if(!v))
            }
            _ => Err(self.mismatch("a bool")),
        }
    }
    fn serialize_i8(self, v: i8) -> Result<Emitted, GobError> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Emitted, GobError> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Emitted, GobError> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Emitted, GobError> {
        self.int(v)
    }
    fn serialize_i128(self, _: i128) -> Result<Emitted, GobError> {
        Err(GobError::unsupported(
            "i128 does not fit gob's 64-bit integers",
        ))
    }
    fn serialize_u8(self, v: u8) -> Result<Emitted, GobError> {
        if let Want::Byte = self.want {
            self.out.push(v);
            return Ok(Emitted::Value);
        }
        self.uint(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Emitted, GobError> {
        self.uint(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Emitted, GobError> {
        self.uint(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Emitted, GobError> {
        self.uint(v)
    }
    fn serialize_u128(self, _: u128) -> Result<Emitted, GobError> {
        Err(GobError::unsupported(
            "u128 does not fit gob's 64-bit integers",
        ))
    }
    fn serialize_f32(self, v: f32) -> Result<Emitted, GobError> {
        self.float(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Emitted, GobError> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<Emitted, GobError> {
        self.int(u32::from(v).into())
    }
    fn serialize_str(self, v: &str) -> Result<Emitted, GobError> {
        match self.want {
            Want::String => {
                put_bytes(self.out, v.as_bytes());
                Ok(zero_if(v.is_empty()))
            }
            _ => Err(self.mismatch("a string")),
        }
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Emitted, GobError> {
        match self.want {
            Want::Bytes => {
                put_bytes(self.out, v);
                Ok(zero_if(v.is_empty()))
            }
            _ => Err(self.mismatch("bytes")),
        }
    }
    fn serialize_none(self) -> Result<Emitted, GobError> {
        if let Want::Byte = self.want {
            return Err(self.mismatch("None"));
        }
        Ok(Emitted::Absent)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Emitted, GobError> {
        match value.serialize(self)? {
            Emitted::ZeroEncoded => Ok(Emitted::Value),
            emitted => Ok(emitted),
        }
    }
    fn serialize_unit(self) -> Result<Emitted, GobError> {
        match self.want {
            Want::Struct(_) => {
                // No fields, just the end of the struct.
                self.out.push(0);
                Ok(Emitted::Value)
            }
            _ => Err(self.mismatch("()")),
        }
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Emitted, GobError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Emitted, GobError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Emitted, GobError> {
        let zero = match name {
            super::time::NAME => false,
            super::time::ZERO_NAME => true,
            _ => return value.serialize(self),
        };
        let Want::Opaque = self.want else {
            return Err(self.mismatch(super::time::GO_NAME));
        };
        // Its bytes go as a []byte's do; a zero time is left out of a struct, as in Go, but
        // not behind a pointer.
        value.serialize(Emit {
            want: Want::Bytes,
            ..self
        })?;
        Ok(if zero {
            Emitted::ZeroEncoded
        } else {
            Emitted::Value
        })
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<Emitted, GobError> {
        Err(enum_error(name, variant))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<EmitSeq<'a>, GobError> {
        self.seq(len, false)
    }
    fn serialize_tuple(self, len: usize) -> Result<EmitSeq<'a>, GobError> {
        self.seq(Some(len), true)
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<EmitSeq<'a>, GobError> {
        self.seq(Some(len), true)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, GobError> {
        Err(enum_error(name, variant))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<EmitMap<'a>, GobError> {
        let depth = self.nested()?;
        let (key, value) = match self.want {
            Want::Map(k, v) => (Some(k), v),
            Want::Nothing(_) => (None, 0),
            _ => return Err(self.mismatch("a map")),
        };
        let start = self.out.len();
        if let (Some(n), Some(_)) = (len, key) {
            put_uint(self.out, n as u64);
        }
        Ok(EmitMap {
            out: self.out,
            types: self.types,
            key,
            value,
            nothing: self.want,
            start,
            declared: len,
            count: 0,
            depth,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<EmitStruct<'a>, GobError> {
        let depth = self.nested()?;
        match self.want {
            Want::Struct(fields) => Ok(EmitStruct {
                out: self.out,
                types: self.types,
                fields,
                last: -1,
                depth,
            }),
            _ => Err(self.mismatch("a struct")),
        }
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, GobError> {
        Err(enum_error(name, variant))
    }
}

enum SeqElem<'a> {
    Typed(i64),
    Byte,
    Nothing(Want<'a>),
}

/// A slice, array or `[]byte` being written.
pub(crate) struct EmitSeq<'a> {
    out: &'a mut Vec<u8>,
    types: &'a SentTypes,
    elem: SeqElem<'a>,
    /// Where the count goes when it was not known at the start.
    start: usize,
    declared: Option<usize>,
    fixed: Option<usize>,
    count: usize,
    depth: usize,
}

impl EmitSeq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        self.count += 1;
        let emit = match self.elem {
            SeqElem::Typed(id) => Emit::new(self.out, self.types, id, self.depth)?,
            SeqElem::Byte => Emit {
                out: self.out,
                types: self.types,
                want: Want::Byte,
                depth: self.depth,
            },
            SeqElem::Nothing(want) => {
                return Err(Emit {
                    out: self.out,
                    types: self.types,
                    want,
                    depth: self.depth,
                }
                .mismatch("a non-empty sequence"))
            }
        };
        if value.serialize(emit)? == Emitted::Absent {
            return Err(GobError::unsupported(
                "a sequence or map holds a None: gob cannot send it (Go refuses nil pointers \
                 in slices and maps)",
            ));
        }
        Ok(())
    }

    fn finish(self) -> Result<Emitted, GobError> {
        if let SeqElem::Nothing(_) = self.elem {
            return Ok(Emitted::Absent);
        }
        finish_count(self.out, self.start, self.declared, self.count)?;
        if let Some(n) = self.fixed {
            if n != self.count {
                return Err(GobError::mismatch(format!(
                    "an array of {n} elements got {}",
                    self.count
                )));
            }
            return Ok(Emitted::Value);
        }
        Ok(zero_if(self.count == 0))
    }
}

/// Checks the count given at the start, or inserts it now that it is known.
fn finish_count(
    out: &mut Vec<u8>,
    start: usize,
    declared: Option<usize>,
    count: usize,
) -> Result<(), GobError> {
    match declared {
        Some(n) if n == count => Ok(()),
        Some(n) => Err(GobError::mismatch(format!(
            "a sequence or map said it had {n} elements but gave {count}"
        ))),
        None => {
            let mut prefix = Vec::with_capacity(9);
            put_uint(&mut prefix, count as u64);
            out.splice(start..start, prefix);
            Ok(())
        }
    }
}

impl ser::SerializeSeq for EmitSeq<'_> {
    type Ok = Emitted;
    type Error = GobError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        self.element(value)
    }
    fn end(self) -> Result<Emitted, GobError> {
        self.finish()
    }
}

impl ser::SerializeTuple for EmitSeq<'_> {
    type Ok = Emitted;
    type Error = GobError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        self.element(value)
    }
    fn end(self) -> Result<Emitted, GobError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for EmitSeq<'_> {
    type Ok = Emitted;
    type Error = GobError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        self.element(value)
    }
    fn end(self) -> Result<Emitted, GobError> {
        self.finish()
    }
}

/// A map being written.
pub(crate) struct EmitMap<'a> {
    out: &'a mut Vec<u8>,
    types: &'a SentTypes,
    /// `None`: a field the type does not have, so the map must be empty.
    key: Option<i64>,
    value: i64,
    nothing: Want<'a>,
    start: usize,
    declared: Option<usize>,
    count: usize,
    depth: usize,
}

impl EmitMap<'_> {
    fn part<T: Serialize + ?Sized>(&mut self, id: Option<i64>, v: &T) -> Result<(), GobError> {
        let Some(id) = id else {
            return Err(Emit {
                out: self.out,
                types: self.types,
                want: self.nothing,
                depth: self.depth,
            }
            .mismatch("a non-empty map"));
        };
        let emit = Emit::new(self.out, self.types, id, self.depth)?;
        if v.serialize(emit)? == Emitted::Absent {
            return Err(GobError::unsupported(
                "a map holds a None: gob cannot send it (Go refuses nil pointers in maps)",
            ));
        }
        Ok(())
    }
}

impl ser::SerializeMap for EmitMap<'_> {
    type Ok = Emitted;
    type Error = GobError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), GobError> {
        self.count += 1;
        self.part(self.key, key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        let id = self.key.map(|_| self.value);
        self.part(id, value)
    }
    fn end(self) -> Result<Emitted, GobError> {
        if self.key.is_none() {
            return Ok(Emitted::Absent);
        }
        finish_count(self.out, self.start, self.declared, self.count)?;
        Ok(zero_if(self.count == 0))
    }
}

/// A struct being written: fields by name, in the type's order, zero values left out.
pub(crate) struct EmitStruct<'a> {
    out: &'a mut Vec<u8>,
    types: &'a SentTypes,
    fields: &'a [(&'static str, i64)],
    /// The number of the last field written (-1 before the first).
    last: i64,
    depth: usize,
}

impl ser::SerializeStruct for EmitStruct<'_> {
    type Ok = Emitted;
    type Error = GobError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), GobError> {
        let from = (self.last + 1) as usize;
        let found = self.fields[from..]
            .iter()
            .position(|(name, _)| *name == key)
            .map(|i| i + from);
        let Some(index) = found else {
            if self.fields[..from].iter().any(|(name, _)| *name == key) {
                return Err(GobError::mismatch(format!(
                    "field `{key}` comes twice or out of order; gob sends fields in the order \
                     of the type"
                )));
            }
            // Not in the type: fine only when there is nothing to send.
            let emit = Emit {
                out: self.out,
                types: self.types,
                want: Want::Nothing(key),
                depth: self.depth,
            };
            return match value.serialize(emit)? {
                Emitted::Value => Err(GobError::mismatch(format!(
                    "field `{key}` has a value but is not part of the gob type"
                ))),
                _ => Ok(()),
            };
        };
        let mark = self.out.len();
        put_uint(self.out, (index as i64 - self.last) as u64);
        let emit = Emit::new(self.out, self.types, self.fields[index].1, self.depth)?;
        match value.serialize(emit) {
            Ok(Emitted::Value) => {
                self.last = index as i64;
                Ok(())
            }
            Ok(_) => {
                self.out.truncate(mark);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    fn skip_field(&mut self, _: &'static str) -> Result<(), GobError> {
        Ok(())
    }
    fn end(self) -> Result<Emitted, GobError> {
        self.out.push(0);
        Ok(Emitted::Value)
    }
}
