//! Go's zero values for what a message leaves out, shared by the JSON and gob decoders.
//!
//! Go decodes into a value that starts out zero, so a struct field that a message leaves out
//! keeps its type's zero value. [`GoFields`] wraps the map a struct is read from: it passes
//! the message's members through and, once they end, gives the struct each field it asked for
//! (serde names them: `deserialize_struct(name, fields, visitor)`) that the message did not
//! give, with [`Zero`] as its value. A message is so read once, whatever it leaves out.
//!
//! Serde's field list also holds a field's `#[serde(alias)]`es, which look like more fields
//! left out (the struct then finds a duplicate field), and a field left out is Go's zero, not
//! its `#[serde(default)]`: neither can be seen from outside the struct's `Deserialize`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Gives whatever type asks its Go zero value: 0, `false`, `""`, empty sequences and maps,
/// `None`, unit, and structs, tuples and arrays of zeros.
pub(crate) struct Zero<E> {
    /// How much deeper structs, tuples and newtypes may nest: a type can hold itself by value
    /// through a `Box`, and so have a zero value that never ends.
    depth: usize,
    human_readable: bool,
    /// Go has no enums, so no zero for one: whether it is its first variant, or an error.
    first_variant: bool,
    error: PhantomData<fn() -> E>,
}

impl<E> Clone for Zero<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Zero<E> {}

impl<E: de::Error> Zero<E> {
    /// Zero values as Go's `encoding/json` leaves them: human-readable, and none for an enum.
    #[cfg(feature = "json")]
    pub(crate) fn json() -> Self {
        Zero {
            // serde_json's own limit on nesting.
            depth: 128,
            human_readable: true,
            first_variant: false,
            error: PhantomData,
        }
    }

    /// Zero values as gob leaves them, nesting at most `depth` deep: not human-readable, and
    /// an enum (sent by its variant's name) is its first variant.
    #[cfg(feature = "gob")]
    pub(crate) fn gob(depth: usize) -> Self {
        Zero {
            depth,
            human_readable: false,
            first_variant: true,
            error: PhantomData,
        }
    }

    /// The zero of a value one level down.
    fn nested(self) -> Result<Self, E> {
        match self.depth.checked_sub(1) {
            Some(depth) => Ok(Zero { depth, ..self }),
            None => Err(E::custom(
                "the zero value of a field left out nests too deep",
            )),
        }
    }
}

macro_rules! zero {
    ($($method:ident => $visit:ident($($value:expr)?);)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de, E: de::Error> Deserializer<'de> for Zero<E> {
    type Error = E;

    zero! {
        deserialize_any => visit_unit();
        deserialize_bool => visit_bool(false);
        deserialize_i8 => visit_i8(0);
        deserialize_i16 => visit_i16(0);
        deserialize_i32 => visit_i32(0);
        deserialize_i64 => visit_i64(0);
        deserialize_i128 => visit_i128(0);
        deserialize_u8 => visit_u8(0);
        deserialize_u16 => visit_u16(0);
        deserialize_u32 => visit_u32(0);
        deserialize_u64 => visit_u64(0);
        deserialize_u128 => visit_u128(0);
        deserialize_f32 => visit_f32(0.0);
        deserialize_f64 => visit_f64(0.0);
        deserialize_char => visit_char('\0');
        deserialize_str => visit_borrowed_str("");
        deserialize_string => visit_borrowed_str("");
        deserialize_identifier => visit_borrowed_str("");
        deserialize_bytes => visit_borrowed_bytes(b"");
        deserialize_byte_buf => visit_borrowed_bytes(b"");
        deserialize_option => visit_none();
        deserialize_unit => visit_unit();
        deserialize_ignored_any => visit_unit();
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self.nested()?)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_seq(ZeroSeq {
            left: 0,
            zero: self,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, E> {
        visitor.visit_seq(ZeroSeq {
            left: len,
            zero: self.nested()?,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, E> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_map(no_members::<E>())
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_map(GoFields::new(no_members(), fields, self.nested()?, None))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        match variants.first().filter(|_| self.first_variant) {
            Some(&first) => visitor.visit_enum(BorrowedStrDeserializer::new(first)),
            None => Err(E::custom(format!(
                "the enum {name} was left out, and has no zero value"
            ))),
        }
    }

    fn is_human_readable(&self) -> bool {
        self.human_readable
    }
}

/// A map without members.
fn no_members<'de, E: de::Error>() -> MapDeserializer<'de, std::iter::Empty<((), ())>, E> {
    MapDeserializer::new(std::iter::empty())
}

/// The elements of a tuple or array, `left` more, each zero (none for a sequence).
struct ZeroSeq<E> {
    left: usize,
    zero: Zero<E>,
}

impl<'de, E: de::Error> SeqAccess<'de> for ZeroSeq<E> {
    type Error = E;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, E> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(self.zero).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The members of the map a struct is read from (`A`, whose error is `E`), then each of the
/// struct's fields that they did not give, with its zero value.
pub(crate) struct GoFields<A, E> {
    map: A,
    fields: &'static [&'static str],
    given: Given,
    zero: Zero<E>,
    /// Whether a member name that is no field's may still name a field not given yet: JSON's
    /// names match in any case.
    same_name: Option<fn(&str, &str) -> bool>,
    /// Once the members have ended: the field from which to look for those not given.
    zeros_from: Option<usize>,
    /// Whether the value asked for next is a zero.
    zero_next: bool,
}

impl<A, E> GoFields<A, E> {
    /// The struct with `fields` read from `map`, with `zero` for the fields it lacks; a member
    /// name matches a field exactly, or else by `same_name` to a field not given yet.
    pub(crate) fn new(
        map: A,
        fields: &'static [&'static str],
        zero: Zero<E>,
        same_name: Option<fn(&str, &str) -> bool>,
    ) -> Self {
        GoFields {
            map,
            fields,
            given: Given::default(),
            zero,
            same_name,
            zeros_from: None,
            zero_next: false,
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for GoFields<A, A::Error> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // Lent to the member, so that it is still here if the members have ended.
        let mut seed = Some(seed);
        if self.zeros_from.is_none() {
            let member = self.map.next_key_seed(Member {
                seed: &mut seed,
                fields: self.fields,
                given: &self.given,
                same_name: self.same_name,
            })?;
            match member {
                Some((key, field)) => {
                    if let Some(i) = field {
                        self.given.add(i);
                    }
                    return Ok(Some(key));
                }
                None => self.zeros_from = Some(0),
            }
        }
        let from = self.zeros_from.unwrap_or(0);
        let Some(i) = (from..self.fields.len()).find(|&i| !self.given.has(i)) else {
            self.zeros_from = Some(self.fields.len());
            return Ok(None);
        };
        self.zeros_from = Some(i + 1);
        self.zero_next = true;
        match seed {
            Some(seed) => seed
                .deserialize(BorrowedStrDeserializer::new(self.fields[i]))
                .map(Some),
            None => Err(de::Error::custom("the members ended after a name was read")),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        if std::mem::take(&mut self.zero_next) {
            return seed.deserialize(self.zero);
        }
        self.map.next_value_seed(seed)
    }
}

/// Which of a struct's fields the message gave: a bit each, on the heap only past 64 fields.
#[derive(Default)]
struct Given {
    first: u64,
    rest: Vec<bool>,
}

impl Given {
    fn has(&self, i: usize) -> bool {
        match i.checked_sub(64) {
            None => self.first >> i & 1 == 1,
            Some(i) => self.rest.get(i).copied().unwrap_or(false),
        }
    }

    fn add(&mut self, i: usize) {
        match i.checked_sub(64) {
            None => self.first |= 1 << i,
            Some(i) => {
                if self.rest.len() <= i {
                    self.rest.resize(i + 1, false);
                }
                self.rest[i] = true;
            }
        }
    }
}

/// Reads a member's name and hands the struct's seed the field it names: the one so named,
/// or else one not given yet that `same_name` matches; else the name as it is (a second member
/// for a field, in another case, is no field's, and skipped, where Go would take the last).
/// Gives the key and the field.
struct Member<'a, K> {
    seed: &'a mut Option<K>,
    fields: &'static [&'static str],
    given: &'a Given,
    same_name: Option<fn(&str, &str) -> bool>,
}

impl<'de, K: DeserializeSeed<'de>> Member<'_, K> {
    fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| *f == name).or_else(|| {
            let same = self.same_name?;
            (0..self.fields.len()).find(|&i| !self.given.has(i) && same(self.fields[i], name))
        })
    }

    /// Hands the seed `name`, which names `field`.
    fn hand<D: Deserializer<'de>>(
        self,
        name: D,
        field: Option<usize>,
    ) -> Result<(K::Value, Option<usize>), D::Error> {
        match self.seed.take() {
            Some(seed) => seed.deserialize(name).map(|key| (key, field)),
            None => Err(de::Error::custom("a member's name was read twice")),
        }
    }
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for Member<'_, K> {
    type Value = (K::Value, Option<usize>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for Member<'_, K> {
    type Value = (K::Value, Option<usize>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        let field = self.field(v);
        let name = field.map_or(v, |i| self.fields[i]);
        self.hand(BorrowedStrDeserializer::new(name), field)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let fields = self.fields;
        match self.field(v) {
            Some(i) => self.hand(BorrowedStrDeserializer::new(fields[i]), Some(i)),
            None => self.hand(StrDeserializer::new(v), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_holds_fields_past_64() {
        let mut given = Given::default();
        for i in [0, 63, 64, 200] {
            assert!(!given.has(i));
            given.add(i);
            assert!(given.has(i));
        }
        assert!(!given.has(1) && !given.has(65) && !given.has(199));
    }

    #[cfg(feature = "json")]
    #[test]
    fn a_zero_that_never_ends_is_an_error() {
        use serde::Deserialize;
        // Its zero holds its zero, and so on: no value, but a type serde can be asked for.
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Endless {
            next: Box<Endless>,
        }
        let e = Endless::deserialize(Zero::<de::value::Error>::json()).unwrap_err();
        assert!(e.to_string().contains("nests too deep"), "{e}");
    }
}
