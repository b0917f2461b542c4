//! Learning a type's gob type from its `Deserialize`, with no value at hand.
//!
//! A tracing deserializer answers every request with a zero value and records what was
//! requested: a struct and its fields, a sequence (one element is traced), a map (one entry),
//! an option (its inner type). So an empty `Vec<T>` or a `None` still have a known type.
//!
//! Recursive types are cut where they come round again: a sequence or map holding the struct
//! being traced stops after recording it; an `Option` holding it makes the trace start over,
//! this time answering `None` there, until every such option is known.

use std::any::type_name;
use std::collections::HashMap;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

use super::error::GobError;
use super::types::{Shape, Why};

/// How many times a trace may start over (one per recursive option).
const MAX_PASSES: usize = 64;
/// The deepest nesting a traced type may have.
const MAX_DEPTH: usize = 100;

/// A step from the root of the traced type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Step {
    Field(usize),
    Elem(usize),
    Key,
    Value,
    Some,
}

struct State {
    /// The structs being traced, outermost first: serde's name and the visitor's Rust type.
    stack: Vec<(&'static str, &'static str)>,
    /// Options known from earlier passes, answered with `None`.
    known: HashMap<Vec<Step>, Shape>,
    /// Options learnt in this pass.
    learned: Vec<(Vec<Step>, Shape)>,
}

/// The gob shape of `T`, before [`Shape::finalize`].
pub(crate) fn trace<T: DeserializeOwned>() -> Result<Shape, GobError> {
    let mut state = State {
        stack: Vec::new(),
        known: HashMap::new(),
        learned: Vec::new(),
    };
    for _ in 0..MAX_PASSES {
        let mut slot = None;
        let tracer = Tracer {
            st: &mut state,
            slot: &mut slot,
            path: Vec::new(),
        };
        match T::deserialize(tracer) {
            Ok(_) => {
                return slot.ok_or_else(|| {
                    GobError::unsupported(format!(
                        "`{}` asked nothing of the deserializer, so it has no gob type",
                        type_name::<T>()
                    ))
                })
            }
            Err(e) if e.is_recursion() && !state.learned.is_empty() => {
                let learned = std::mem::take(&mut state.learned);
                state.known.extend(learned);
                state.stack.clear();
            }
            Err(e) if e.is_recursion() => {
                return Err(GobError::unsupported(format!(
                    "`{}` contains itself other than through an Option, a sequence or a map, \
                     so its gob type cannot be traced",
                    type_name::<T>()
                )))
            }
            Err(e) => {
                return Err(GobError::unsupported(format!(
                    "cannot trace the gob type of `{}`: {}",
                    type_name::<T>(),
                    e.message()
                )))
            }
        }
    }
    Err(GobError::unsupported(format!(
        "`{}` is too recursive to trace its gob type",
        type_name::<T>()
    )))
}

struct Tracer<'a> {
    st: &'a mut State,
    slot: &'a mut Option<Shape>,
    path: Vec<Step>,
}

impl<'a> Tracer<'a> {
    fn set(&mut self, shape: Shape) {
        *self.slot = Some(shape);
    }

    fn child<'b>(
        st: &'b mut State,
        slot: &'b mut Option<Shape>,
        path: &[Step],
        step: Step,
    ) -> Result<Tracer<'b>, GobError> {
        if path.len() >= MAX_DEPTH {
            return Err(GobError::limit(format!(
                "the type nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let mut path = path.to_vec();
        path.push(step);
        Ok(Tracer { st, slot, path })
    }
}

macro_rules! primitive {
    ($($method:ident => $shape:expr, $visit:ident($zero:expr);)*) => {
        $(
            fn $method<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, GobError> {
                self.set($shape);
                visitor.$visit($zero)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = GobError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GobError> {
        Err(GobError::unsupported(
            "a part of it decides its shape from the data (deserialize_any: untagged enums, \
             #[serde(flatten)], self-describing types like serde_json::Value); encode such \
             values with Encoder::encode, which learns the type from the value",
        ))
    }

    primitive! {
        deserialize_bool => Shape::Bool, visit_bool(false);
        deserialize_i8 => Shape::Int, visit_i8(0);
        deserialize_i16 => Shape::Int, visit_i16(0);
        deserialize_i32 => Shape::Int, visit_i32(0);
        deserialize_i64 => Shape::Int, visit_i64(0);
        deserialize_u8 => Shape::U8, visit_u8(0);
        deserialize_u16 => Shape::Uint, visit_u16(0);
        deserialize_u32 => Shape::Uint, visit_u32(0);
        deserialize_u64 => Shape::Uint, visit_u64(0);
        deserialize_f32 => Shape::Float, visit_f32(0.0);
        deserialize_f64 => Shape::Float, visit_f64(0.0);
        deserialize_char => Shape::Int, visit_char('\0');
        deserialize_str => Shape::String, visit_borrowed_str("");
        deserialize_string => Shape::String, visit_borrowed_str("");
        deserialize_identifier => Shape::String, visit_borrowed_str("");
        deserialize_bytes => Shape::Bytes, visit_borrowed_bytes(b"");
        deserialize_byte_buf => Shape::Bytes, visit_borrowed_bytes(b"");
    }

    fn deserialize_i128<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GobError> {
        Err(GobError::unsupported(
            "i128 does not fit gob's 64-bit integers",
        ))
    }

    fn deserialize_u128<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GobError> {
        Err(GobError::unsupported(
            "u128 does not fit gob's 64-bit integers",
        ))
    }

    fn deserialize_unit<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, GobError> {
        self.set(Shape::Struct("", Vec::new()));
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        self.set(Shape::Struct(name, Vec::new()));
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        mut self,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        self.set(Shape::Unknown(Why::Skipped));
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GobError> {
        let mut path = self.path.clone();
        path.push(Step::Some);
        if let Some(shape) = self.st.known.get(&path) {
            *self.slot = Some(shape.clone());
            return visitor.visit_none();
        }
        let mut inner = None;
        let result = {
            let tracer = Tracer::child(&mut *self.st, &mut inner, &self.path, Step::Some)?;
            visitor.visit_some(tracer)
        };
        match result {
            Ok(v) => {
                *self.slot = inner;
                Ok(v)
            }
            Err(e) => {
                if e.is_recursion() {
                    if let Some(shape) = inner {
                        self.st.learned.push((path, shape.clone()));
                        *self.slot = Some(shape);
                    }
                }
                Err(e)
            }
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        if name == super::time::NAME {
            self.set(Shape::Opaque(super::time::GO_NAME));
            return visitor.visit_borrowed_bytes(b"");
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GobError> {
        let mut elem = None;
        let result = visitor.visit_seq(SeqTracer {
            st: &mut *self.st,
            slot: &mut elem,
            path: &self.path,
            done: false,
        });
        if let Some(elem) = elem {
            *self.slot = Some(Shape::Slice(Box::new(elem)));
        } else {
            *self.slot = Some(Shape::Unknown(Why::Empty));
        }
        result
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        let mut slots = vec![None; len];
        let v = visitor.visit_seq(TupleTracer {
            st: &mut *self.st,
            slots: &mut slots,
            path: &self.path,
            next: 0,
        })?;
        let mut elem = Shape::Unknown(Why::Empty);
        for shape in slots.into_iter().flatten() {
            elem.merge(shape).map_err(|_| {
                GobError::unsupported(
                    "a tuple whose elements have different types: gob sends tuples as Go \
                     arrays, which hold one type; use a struct",
                )
            })?;
        }
        *self.slot = Some(if len == 0 {
            Shape::Unknown(Why::Empty)
        } else {
            Shape::Array(Box::new(elem), len)
        });
        Ok(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, GobError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GobError> {
        let (mut key, mut value) = (None, None);
        let result = visitor.visit_map(MapTracer {
            st: &mut *self.st,
            key: &mut key,
            value: &mut value,
            path: &self.path,
            state: 0,
        });
        *self.slot = Some(Shape::Map(
            Box::new(key.unwrap_or(Shape::Unknown(Why::Empty))),
            Box::new(value.unwrap_or(Shape::Unknown(Why::Empty))),
        ));
        result
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GobError> {
        let key = (name, type_name::<V>());
        if let Some(k) = self.st.stack.iter().rposition(|s| *s == key) {
            *self.slot = Some(Shape::Recurse(self.st.stack.len() - 1 - k));
            return Err(GobError::recursion());
        }
        self.st.stack.push(key);
        let mut slots = vec![None; fields.len()];
        let result = visitor.visit_map(FieldsTracer {
            st: &mut *self.st,
            fields,
            slots: &mut slots,
            path: &self.path,
            next: 0,
        });
        self.st.stack.pop();
        let v = result?;
        let fields = fields
            .iter()
            .zip(slots)
            .map(|(name, slot)| (*name, slot.unwrap_or(Shape::Unknown(Why::Skipped))))
            .collect();
        *self.slot = Some(Shape::Struct(name, fields));
        Ok(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GobError> {
        let Some(first) = variants.first() else {
            return Err(GobError::unsupported(format!(
                "enum `{name}` has no variants"
            )));
        };
        *self.slot = Some(Shape::String);
        visitor.visit_enum(EnumTracer {
            name,
            variant: first,
        })
    }
}

struct SeqTracer<'a> {
    st: &'a mut State,
    slot: &'a mut Option<Shape>,
    path: &'a [Step],
    done: bool,
}

impl<'de> de::SeqAccess<'de> for SeqTracer<'_> {
    type Error = GobError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GobError> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        let tracer = Tracer::child(&mut *self.st, &mut *self.slot, self.path, Step::Elem(0))?;
        match seed.deserialize(tracer) {
            Ok(v) => Ok(Some(v)),
            // The element is a struct being traced: it is recorded, and the sequence empty.
            Err(e) if e.is_recursion() && self.slot.is_some() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

struct TupleTracer<'a> {
    st: &'a mut State,
    slots: &'a mut [Option<Shape>],
    path: &'a [Step],
    next: usize,
}

impl<'de> de::SeqAccess<'de> for TupleTracer<'_> {
    type Error = GobError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GobError> {
        let i = self.next;
        let Some(slot) = self.slots.get_mut(i) else {
            return Ok(None);
        };
        self.next += 1;
        let tracer = Tracer::child(&mut *self.st, slot, self.path, Step::Elem(i))?;
        seed.deserialize(tracer).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.slots.len() - self.next)
    }
}

struct MapTracer<'a> {
    st: &'a mut State,
    key: &'a mut Option<Shape>,
    value: &'a mut Option<Shape>,
    path: &'a [Step],
    /// 0: before the entry, 1: key given, 2: done.
    state: u8,
}

impl<'de> de::MapAccess<'de> for MapTracer<'_> {
    type Error = GobError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GobError> {
        if self.state != 0 {
            return Ok(None);
        }
        self.state = 1;
        let tracer = Tracer::child(&mut *self.st, &mut *self.key, self.path, Step::Key)?;
        seed.deserialize(tracer).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GobError> {
        self.state = 2;
        let tracer = Tracer::child(&mut *self.st, &mut *self.value, self.path, Step::Value)?;
        seed.deserialize(tracer)
    }
    fn next_entry_seed<K: DeserializeSeed<'de>, V: DeserializeSeed<'de>>(
        &mut self,
        kseed: K,
        vseed: V,
    ) -> Result<Option<(K::Value, V::Value)>, GobError> {
        let Some(k) = self.next_key_seed(kseed)? else {
            return Ok(None);
        };
        self.state = 2;
        let tracer = Tracer::child(&mut *self.st, &mut *self.value, self.path, Step::Value)?;
        match vseed.deserialize(tracer) {
            Ok(v) => Ok(Some((k, v))),
            Err(e) if e.is_recursion() && self.value.is_some() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

struct FieldsTracer<'a> {
    st: &'a mut State,
    fields: &'static [&'static str],
    slots: &'a mut [Option<Shape>],
    path: &'a [Step],
    next: usize,
}

impl<'de> de::MapAccess<'de> for FieldsTracer<'_> {
    type Error = GobError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GobError> {
        match self.fields.get(self.next) {
            Some(name) => seed
                .deserialize(BorrowedStrDeserializer::<GobError>::new(name))
                .map(Some),
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GobError> {
        let i = self.next;
        self.next += 1;
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(GobError::unsupported(
                "a struct asked for more fields than it has",
            ));
        };
        let tracer = Tracer::child(&mut *self.st, slot, self.path, Step::Field(i))?;
        seed.deserialize(tracer)
    }
}

struct EnumTracer {
    name: &'static str,
    variant: &'static str,
}

impl<'de> de::EnumAccess<'de> for EnumTracer {
    type Error = GobError;
    type Variant = EnumTracer;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, EnumTracer), GobError> {
        let v = seed.deserialize(BorrowedStrDeserializer::<GobError>::new(self.variant))?;
        Ok((v, self))
    }
}

impl EnumTracer {
    fn data(&self) -> GobError {
        GobError::unsupported(format!(
            "`{}::{}` is an enum variant with data, which gob cannot express (Go has no \
             enums); only enums of unit variants travel, as strings",
            self.name, self.variant
        ))
    }
}

impl<'de> de::VariantAccess<'de> for EnumTracer {
    type Error = GobError;
    fn unit_variant(self) -> Result<(), GobError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, GobError> {
        Err(self.data())
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, GobError> {
        Err(self.data())
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, GobError> {
        Err(self.data())
    }
}
