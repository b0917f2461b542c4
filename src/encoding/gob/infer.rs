//! Learning a value's gob type from its `Serialize` (the first of the encoder's two passes).
//!
//! Whatever the value does not show (the element type of an empty sequence, what a `None`
//! would hold) stays [`Shape::Unknown`]; [`Shape::finalize`] then drops such struct fields from
//! the type (their values are absent anyway) and refuses the rest.

use serde::ser::{self, Serialize};

use super::error::GobError;
use super::types::{Shape, Why};

/// The deepest nesting a value may have.
pub(crate) const MAX_DEPTH: usize = 100;

/// Learns the shape of `value`.
pub(crate) fn infer<T: Serialize + ?Sized>(value: &T) -> Result<Shape, GobError> {
    value.serialize(Infer { depth: 0 })
}

fn enum_error(name: &str, variant: &str) -> GobError {
    GobError::unsupported(format!(
        "`{name}::{variant}` is an enum variant with data, which gob cannot express (Go has no \
         enums); use a struct with optional fields"
    ))
}

#[derive(Clone, Copy)]
struct Infer {
    depth: usize,
}

impl Infer {
    fn nested(self) -> Result<Infer, GobError> {
        if self.depth >= MAX_DEPTH {
            return Err(GobError::limit(format!(
                "the value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Infer {
            depth: self.depth + 1,
        })
    }
}

impl ser::Serializer for Infer {
    type Ok = Shape;
    type Error = GobError;
    type SerializeSeq = Seq;
    type SerializeTuple = Tuple;
    type SerializeTupleStruct = Tuple;
    type SerializeTupleVariant = ser::Impossible<Shape, GobError>;
    type SerializeMap = Map;
    type SerializeStruct = Struct;
    type SerializeStructVariant = ser::Impossible<Shape, GobError>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, _: bool) -> Result<Shape, GobError> {
        Ok(Shape::Bool)
    }
    fn serialize_i8(self, _: i8) -> Result<Shape, GobError> {
        Ok(Shape::Int)
    }
    fn serialize_i16(self, _: i16) -> Result<Shape, GobError> {
        Ok(Shape::Int)
    }
    fn serialize_i32(self, _: i32) -> Result<Shape, GobError> {
        Ok(Shape::Int)
    }
    fn serialize_i64(self, _: i64) -> Result<Shape, GobError> {
        Ok(Shape::Int)
    }
    fn serialize_i128(self, _: i128) -> Result<Shape, GobError> {
        Err(GobError::unsupported(
            "i128 does not fit gob's 64-bit integers",
        ))
    }
    fn serialize_u8(self, _: u8) -> Result<Shape, GobError> {
        Ok(Shape::U8)
    }
    fn serialize_u16(self, _: u16) -> Result<Shape, GobError> {
        Ok(Shape::Uint)
    }
    fn serialize_u32(self, _: u32) -> Result<Shape, GobError> {
        Ok(Shape::Uint)
    }
    fn serialize_u64(self, _: u64) -> Result<Shape, GobError> {
        Ok(Shape::Uint)
    }
    fn serialize_u128(self, _: u128) -> Result<Shape, GobError> {
        Err(GobError::unsupported(
            "u128 does not fit gob's 64-bit integers",
        ))
    }
    fn serialize_f32(self, _: f32) -> Result<Shape, GobError> {
        Ok(Shape::Float)
    }
    fn serialize_f64(self, _: f64) -> Result<Shape, GobError> {
        Ok(Shape::Float)
    }
    fn serialize_char(self, _: char) -> Result<Shape, GobError> {
        Ok(Shape::Int)
    }
    fn serialize_str(self, _: &str) -> Result<Shape, GobError> {
        Ok(Shape::String)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Shape, GobError> {
        Ok(Shape::Bytes)
    }
    fn serialize_none(self) -> Result<Shape, GobError> {
        Ok(Shape::Unknown(Why::None))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Shape, GobError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Shape, GobError> {
        Ok(Shape::Struct("", Vec::new()))
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<Shape, GobError> {
        Ok(Shape::Struct(name, Vec::new()))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<Shape, GobError> {
        Ok(Shape::String)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Shape, GobError> {
        if name == super::time::NAME || name == super::time::ZERO_NAME {
            return Ok(Shape::Opaque(super::time::GO_NAME));
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<Shape, GobError> {
        Err(enum_error(name, variant))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq, GobError> {
        Ok(Seq {
            inner: self.nested()?,
            elem: Shape::Unknown(Why::Empty),
            empty: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Tuple, GobError> {
        Ok(Tuple {
            inner: self.nested()?,
            elem: Shape::Unknown(Why::Empty),
            len,
        })
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Tuple, GobError> {
        self.serialize_tuple(len)
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
    fn serialize_map(self, _: Option<usize>) -> Result<Map, GobError> {
        Ok(Map {
            inner: self.nested()?,
            key: Shape::Unknown(Why::Empty),
            value: Shape::Unknown(Why::Empty),
            empty: true,
            skip_value: false,
        })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Struct, GobError> {
        Ok(Struct {
            inner: self.nested()?,
            name,
            fields: Vec::with_capacity(len),
        })
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

/// A sequence: once the element type is fully known, later elements are not looked at
/// (the second pass checks that they agree).
pub(crate) struct Seq {
    inner: Infer,
    elem: Shape,
    empty: bool,
}

impl ser::SerializeSeq for Seq {
    type Ok = Shape;
    type Error = GobError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        self.empty = false;
        if self.elem.is_complete() {
            return Ok(());
        }
        let shape = value.serialize(self.inner)?;
        let shape = match shape {
            // A None element: the second pass refuses it; its type says nothing here.
            Shape::Unknown(Why::None) => return Ok(()),
            s => s,
        };
        self.elem.merge(shape)
    }
    fn end(self) -> Result<Shape, GobError> {
        if self.empty {
            return Ok(Shape::Unknown(Why::EmptySeq));
        }
        Ok(Shape::Slice(Box::new(self.elem)))
    }
}

/// A tuple or fixed-size array: a Go array, so every element must have one type.
pub(crate) struct Tuple {
    inner: Infer,
    elem: Shape,
    len: usize,
}

impl ser::SerializeTuple for Tuple {
    type Ok = Shape;
    type Error = GobError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        let shape = value.serialize(self.inner)?;
        self.elem.merge(shape).map_err(|_| {
            GobError::unsupported(
                "a tuple whose elements have different types: gob sends tuples as Go arrays, \
                 which hold one type; use a struct",
            )
        })
    }
    fn end(self) -> Result<Shape, GobError> {
        if self.len == 0 {
            return Ok(Shape::Unknown(Why::EmptySeq));
        }
        Ok(Shape::Array(Box::new(self.elem), self.len))
    }
}

impl ser::SerializeTupleStruct for Tuple {
    type Ok = Shape;
    type Error = GobError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        ser::SerializeTuple::serialize_element(self, value)
    }
    fn end(self) -> Result<Shape, GobError> {
        ser::SerializeTuple::end(self)
    }
}

/// A map: like a sequence, keys and values stop being looked at once fully known.
pub(crate) struct Map {
    inner: Infer,
    key: Shape,
    value: Shape,
    empty: bool,
    skip_value: bool,
}

impl ser::SerializeMap for Map {
    type Ok = Shape;
    type Error = GobError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), GobError> {
        self.empty = false;
        self.skip_value = self.key.is_complete() && self.value.is_complete();
        if self.skip_value || self.key.is_complete() {
            return Ok(());
        }
        let shape = key.serialize(self.inner)?;
        self.key.merge(shape)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GobError> {
        if self.skip_value || self.value.is_complete() {
            return Ok(());
        }
        match value.serialize(self.inner)? {
            Shape::Unknown(Why::None) => Ok(()),
            shape => self.value.merge(shape),
        }
    }
    fn end(self) -> Result<Shape, GobError> {
        if self.empty {
            return Ok(Shape::Unknown(Why::EmptyMap));
        }
        Ok(Shape::Map(Box::new(self.key), Box::new(self.value)))
    }
}

/// A struct: its fields in the order `Serialize` gives them; skipped ones stay unknown.
pub(crate) struct Struct {
    inner: Infer,
    name: &'static str,
    fields: Vec<(&'static str, Shape)>,
}

impl ser::SerializeStruct for Struct {
    type Ok = Shape;
    type Error = GobError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), GobError> {
        let shape = value.serialize(self.inner)?;
        self.fields.push((key, shape));
        Ok(())
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), GobError> {
        self.fields.push((key, Shape::Unknown(Why::Skipped)));
        Ok(())
    }
    fn end(self) -> Result<Shape, GobError> {
        Ok(Shape::Struct(self.name, self.fields))
    }
}
