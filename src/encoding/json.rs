//! What makes serde_json speak Go's `encoding/json`: bytes as base64 text both ways, and Go's
//! zero values ([`super::go_zero`]) for what a message leaves out or sends as `null`.
//!
//! [`Ser`] and [`De`] wrap a serde_json serializer and deserializer and pass everything
//! through, except bytes (`serialize_bytes`, `deserialize_bytes`/`deserialize_byte_buf`:
//! `serde_bytes`, `ByteBuf`), which travel as base64 strings (standard alphabet, padded), as
//! Go sends `[]byte`. The wrapping follows the value all the way down: bytes in a field of a
//! struct inside a `Vec` are base64 too. When decoding bytes, a JSON array of numbers is also
//! taken (what netrpc sent before), and `null` is empty (Go's nil slice).
//!
//! Unit (`()`, unit structs) is `{}`, as Go sends its empty struct, and decodes from `{}` (any
//! members ignored) or `null`.
//!
//! Structs decode as Go decodes them: members match fields by name, exactly or else in any
//! case; a field the object lacks is zero, in the same pass ([`GoFields`]); `null` for a
//! number, a string, a sequence or a map is its zero value, and for a struct an object
//! without members.
//!
//! Text that is not UTF-8 reads as Go reads it ([`go_text`]): where serde_json refuses a byte
//! that is not UTF-8, or an escaped UTF-16 surrogate that is not half of a pair, Go reads
//! U+FFFD.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde::ser::{self, Serialize, Serializer};

use super::go_zero::{GoFields, Zero};
use crate::error::CodecError;

/// What a JSON message's strings hold that serde_json may read otherwise than Go: noted by the
/// scanner that finds where the message ends.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OddText {
    /// A byte that is not ASCII, which may not be UTF-8.
    pub(crate) non_ascii: bool,
    /// A `\u` escape of a UTF-16 surrogate, which may not be half of a pair.
    pub(crate) surrogate_escapes: bool,
}

/// The replacement character, U+FFFD, in UTF-8.
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// A JSON message as Go's `encoding/json` reads it, where serde_json would refuse it, or
/// `None` if it reads the same either way: each byte that does not begin a UTF-8 character
/// becomes U+FFFD, as does each `\u` escape of a UTF-16 surrogate that is not half of a pair
/// (as `\ufffd`). `odd` says what the message may hold; a message that holds neither is
/// not looked at. U+FFFD is three bytes: a message that grows past `limit` so is refused.
pub(crate) fn go_text(
    message: &[u8],
    odd: OddText,
    limit: usize,
) -> Result<Option<Vec<u8>>, CodecError> {
    if !odd.surrogate_escapes && (!odd.non_ascii || std::str::from_utf8(message).is_ok()) {
        return Ok(None);
    }
    let mut out = Vec::new();
    // `message[..copied]` is in `out`, as it is or replaced.
    let mut copied = 0;
    let mut replace = |out: &mut Vec<u8>, at: usize, len: usize, with: &[u8]| {
        out.extend_from_slice(&message[copied..at]);
        out.extend_from_slice(with);
        copied = at + len;
    };
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\\' => match surrogate_at(message, i) {
                Some(0xD800..=0xDBFF)
                    if matches!(surrogate_at(message, i + 6), Some(0xDC00..=0xDFFF)) =>
                {
                    i += 12
                }
                Some(_) => {
                    replace(&mut out, i, 6, b"\\ufffd");
                    i += 6;
                }
                // Any other escape is two bytes long, or six for a `\u` outside the
                // surrogates; a malformed one fails in serde_json as it does in Go.
                None => i += 2,
            },
            byte if byte < 0x80 => i += 1,
            byte => {
                let width = match byte {
                    0xC0..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    0xF0..=0xF7 => 4,
                    _ => 0,
                };
                let character = message.get(i..i + width).filter(|_| width > 0);
                if character.is_some_and(|c| std::str::from_utf8(c).is_ok()) {
                    i += width;
                } else {
                    replace(&mut out, i, 1, REPLACEMENT);
                    i += 1;
                    let at_least = out.len() + (message.len() - i);
                    if at_least > limit {
                        return Err(CodecError::TooLarge {
                            size: at_least as u64,
                            limit,
                        });
                    }
                }
            }
        }
    }
    if copied == 0 {
        return Ok(None);
    }
    out.extend_from_slice(&message[copied..]);
    Ok(Some(out))
}

/// The UTF-16 surrogate escaped at `message[at..]` (`\uD800` to `\uDFFF`), if one is there.
fn surrogate_at(message: &[u8], at: usize) -> Option<u16> {
    let escape = message.get(at..at + 6)?;
    if escape[..2] != *b"\\u" {
        return None;
    }
    let hex = &escape[2..];
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let unit = u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
    (0xD800..=0xDFFF).contains(&unit).then_some(unit)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` in standard, padded base64.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes standard base64, padded or not; CR and LF are skipped, as Go's decoder does.
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    let mut padding = 0;
    for &c in text.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'\r' | b'\n' => continue,
            b'=' => {
                padding += 1;
                continue;
            }
            _ => return Err(format!("illegal base64 data: byte {c:#04x}")),
        };
        if padding > 0 {
            return Err("illegal base64 data: data after padding".to_owned());
        }
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits >= 6 || padding > 2 {
        return Err("illegal base64 data: truncated".to_owned());
    }
    Ok(out)
}

/// A serializer that sends bytes as base64 strings and passes the rest to `S`.
pub(crate) struct Ser<S>(pub(crate) S);

/// A value serialized through [`Ser`].
struct Wrap<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Wrap<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Ser(serializer))
    }
}

macro_rules! forward_ser {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.0.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for Ser<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Ser<S::SerializeSeq>;
    type SerializeTuple = Ser<S::SerializeTuple>;
    type SerializeTupleStruct = Ser<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Ser<S::SerializeTupleVariant>;
    type SerializeMap = Ser<S::SerializeMap>;
    type SerializeStruct = Ser<S::SerializeStruct>;
    type SerializeStructVariant = Ser<S::SerializeStructVariant>;

    forward_ser! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_none();
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.0.serialize_str(&base64_encode(v))
    }

    /// `{}`, as Go sends `struct{}{}`: Go's client takes a `"result": null` for no result.
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        ser::SerializeMap::end(self.0.serialize_map(Some(0))?)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<S::Ok, S::Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Wrap(value))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Wrap(value))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Wrap(value))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(Ser)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(Ser)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(Ser)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(Ser)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(Ser)
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len).map(Ser)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(Ser)
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident $(, $key:ident: $kty:ty)?) => {
        impl<S: ser::$trait> ser::$trait for Ser<S> {
            type Ok = S::Ok;
            type Error = S::Error;

            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($key: $kty,)?
                value: &T,
            ) -> Result<(), S::Error> {
                self.0.$method($($key,)? &Wrap(value))
            }

            fn end(self) -> Result<S::Ok, S::Error> {
                self.0.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, key: &'static str);
compound!(SerializeStructVariant, serialize_field, key: &'static str);

impl<S: ser::SerializeMap> ser::SerializeMap for Ser<S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.0.serialize_key(&Wrap(key))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.0.serialize_value(&Wrap(value))
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

/// A deserializer that takes bytes from base64 strings and passes the rest to `D`.
pub(crate) struct De<D>(pub(crate) D);

/// A visitor whose nested deserializers are wrapped in [`De`].
struct WrapVisitor<V>(V);

/// A seed whose deserializer is wrapped in [`De`].
struct WrapSeed<T>(T);

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for WrapSeed<T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T::Value, D::Error> {
        self.0.deserialize(De(deserializer))
    }
}

macro_rules! forward_de {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* WrapVisitor(visitor))
        })*
    };
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method(v)
        })*
    };
}

/// [`forward_visit!`] for every value that is no compound.
macro_rules! forward_scalar_visits {
    () => {
        forward_visit! {
            visit_bool(bool);
            visit_i8(i8);
            visit_i16(i16);
            visit_i32(i32);
            visit_i64(i64);
            visit_i128(i128);
            visit_u8(u8);
            visit_u16(u16);
            visit_u32(u32);
            visit_u64(u64);
            visit_u128(u128);
            visit_f32(f32);
            visit_f64(f64);
            visit_char(char);
            visit_str(&str);
            visit_borrowed_str(&'de str);
            visit_string(String);
            visit_bytes(&[u8]);
            visit_borrowed_bytes(&'de [u8]);
            visit_byte_buf(Vec<u8>);
        }
    };
}

/// Asks for any value, so that `null` is seen, and gives it as the zero value of the type
/// asked for, as Go leaves a field that is sent as `null`.
macro_rules! null_is_zero {
    ($($method:ident;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_any(NullIsZero(visitor, |v| Zero::json().$method(v)))
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for De<D> {
    type Error = D::Error;

    forward_de! {
        deserialize_any();
        deserialize_i128();
        deserialize_u128();
        deserialize_option();
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    null_is_zero! {
        deserialize_bool;
        deserialize_i8;
        deserialize_i16;
        deserialize_i32;
        deserialize_i64;
        deserialize_u8;
        deserialize_u16;
        deserialize_u32;
        deserialize_u64;
        deserialize_f32;
        deserialize_f64;
        deserialize_char;
        deserialize_str;
        deserialize_string;
        deserialize_seq;
        deserialize_map;
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(StructVisitor { visitor, fields })
    }

    /// A fixed-size array (or tuple), as Go reads one: `null` is all zero, missing elements
    /// are zero, and elements past its length are skipped.
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(ArrayVisitor { visitor, len })
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(BytesVisitor(visitor))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(BytesVisitor(visitor))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(UnitVisitor(visitor))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(UnitVisitor(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A value asked for whose `null` is its zero value, made by the function.
struct NullIsZero<V, F>(V, F);

impl<'de, V, F> Visitor<'de> for NullIsZero<V, F>
where
    V: Visitor<'de>,
    F: FnOnce(V) -> Result<V::Value, de::value::Error>,
{
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_scalar_visits!();

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        (self.1)(self.0).map_err(E::custom)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        WrapVisitor(self.0).visit_some(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        WrapVisitor(self.0).visit_newtype_struct(d)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        WrapVisitor(self.0).visit_seq(seq)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        WrapVisitor(self.0).visit_map(map)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        WrapVisitor(self.0).visit_enum(data)
    }
}

/// A struct asked for, read as Go's `encoding/json` reads one: `null` is an object without
/// members, and an object's members are matched to fields by name, exactly or else in any
/// case; fields it lacks are zero.
struct StructVisitor<V> {
    visitor: V,
    fields: &'static [&'static str],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StructVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    /// `null`: as an object without members.
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_map(de::value::MapDeserializer::<_, E>::new(
            std::iter::empty::<((), ())>(),
        ))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(WrapAccess(seq))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(GoFields::new(
            WrapAccess(map),
            self.fields,
            Zero::json(),
            Some(equal_folded),
        ))
    }
}

/// A fixed-size array asked for; see [`De::deserialize_tuple`].
struct ArrayVisitor<V> {
    visitor: V,
    len: usize,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for ArrayVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        Zero::json().deserialize_tuple(self.len, self.visitor)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<V::Value, A::Error> {
        let value = self.visitor.visit_seq(Padded {
            seq: &mut seq,
            left: self.len,
            ended: false,
        })?;
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(value)
    }
}

/// The elements of an array, then zeros up to its length.
struct Padded<'a, A> {
    seq: &'a mut A,
    left: usize,
    ended: bool,
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Padded<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        // The seed is lent, so that it is still here if the array has ended.
        let mut seed = Some(seed);
        if !self.ended {
            if let Some(value) = self.seq.next_element_seed(Lend(&mut seed))? {
                return Ok(Some(value));
            }
            self.ended = true;
        }
        match seed {
            Some(seed) => seed.deserialize(Zero::json()).map(Some),
            None => Err(de::Error::custom("an array element was asked for twice")),
        }
    }
}

/// A seed taken only if it is used; wraps its deserializer in [`De`].
struct Lend<'s, T>(&'s mut Option<T>);

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Lend<'_, T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T::Value, D::Error> {
        match self.0.take() {
            Some(seed) => seed.deserialize(De(deserializer)),
            None => Err(de::Error::custom("an array element was asked for twice")),
        }
    }
}

/// Whether two names are equal but for case, as Go's `strings.EqualFold` has it (near enough:
/// by character, either lower case or upper case alike, so the Kelvin sign is `k` and `ſ`
/// is `s`).
fn equal_folded(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().count() == b.chars().count()
        && a.chars().zip(b.chars()).all(|(x, y)| {
            x == y || x.to_lowercase().eq(y.to_lowercase()) || x.to_uppercase().eq(y.to_uppercase())
        })
}

/// Unit asked for: `null`, or an object, whose members are ignored (Go's `struct{}`).
struct UnitVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for UnitVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<V::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        self.0.visit_unit()
    }
}

/// Bytes asked for: a base64 string, or an array of numbers, or `null` for none.
struct BytesVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for BytesVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("base64 text")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        let bytes = base64_decode(v).map_err(E::custom)?;
        self.0.visit_byte_buf(bytes)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_byte_buf(Vec::new())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(WrapAccess(seq))
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for WrapVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_scalar_visits!();

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(De(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(De(d))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(WrapAccess(seq))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(WrapAccess(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(WrapAccess(data))
    }
}

/// Sequence, map, enum and variant access whose deserializers are wrapped in [`De`].
struct WrapAccess<A>(A);

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for WrapAccess<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(WrapSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for WrapAccess<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // Keys as serde_json reads them: a number or `true` in a string, as Go writes the
        // keys of `map[int64]T`, is the number asked for.
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(WrapSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for WrapAccess<A> {
    type Error = A::Error;
    type Variant = WrapAccess<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        self.0
            .variant_seed(WrapSeed(seed))
            .map(|(v, variant)| (v, WrapAccess(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for WrapAccess<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(WrapSeed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, WrapVisitor(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, WrapVisitor(visitor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn base64_round_trips_as_go_writes_it() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (&[0xff, 0xfe, 0x00][..], "//4A"),
        ] {
            assert_eq!(base64_encode(bytes), text);
            assert_eq!(base64_decode(text).unwrap(), bytes);
        }
        assert_eq!(base64_decode("Zm9v\r\nYg==").unwrap(), b"foob");
        assert!(base64_decode("Zm9v!").is_err());
        assert!(base64_decode("Zg==Zg").is_err());
        assert!(base64_decode("Z").is_err());
    }

    #[test]
    fn go_text_mends_only_what_serde_json_refuses() {
        let both = OddText {
            non_ascii: true,
            surrogate_escapes: true,
        };
        let mend = |text: &[u8]| {
            let mended = go_text(text, both, 1 << 20).unwrap();
            mended.map(|t| String::from_utf8(t).unwrap())
        };
        assert_eq!(mend("é \\ud83d\\ude00 \\u0041".as_bytes()), None);
        assert_eq!(mend(b"\xff\xff").as_deref(), Some("\u{fffd}\u{fffd}"));
        // Cut short at the end of the message: each byte on its own, as Go's utf8.DecodeRune.
        assert_eq!(
            mend(b"a\xf0\x9f\x98").as_deref(),
            Some("a\u{fffd}\u{fffd}\u{fffd}")
        );
        assert_eq!(
            mend(b"\xed\xa0\x80").as_deref(),
            Some("\u{fffd}\u{fffd}\u{fffd}")
        );
        assert_eq!(mend(br"\ud83d").as_deref(), Some(r"\ufffd"));
        assert_eq!(
            mend(br"\ud83d\ud83d\ude00").as_deref(),
            Some(r"\ufffd\ud83d\ude00")
        );
        // Escapes cut short or malformed are left to serde_json to refuse, as Go does.
        assert_eq!(mend(br"\ud83"), None);
        assert_eq!(mend(br"\u+d80"), None);
        assert_eq!(mend(br"\"), None);
        // What the scanner did not flag is not looked at.
        assert_eq!(go_text(b"\xff", OddText::default(), 10).unwrap(), None);
        // Three bytes for one: past the limit, the message is refused.
        assert!(go_text(b"\xff\xff\xff\xff", both, 11).is_err());
        assert!(go_text(b"\xff\xff\xff\xff", both, 12).is_ok());
    }

    #[derive(serde::Serialize, Deserialize, Debug, PartialEq, Default)]
    struct Blob {
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        plain: Vec<u8>,
        inner: Vec<Option<serde_bytes::ByteBuf>>,
    }

    #[test]
    fn bytes_are_base64_all_the_way_down() {
        let blob = Blob {
            data: b"foo".to_vec(),
            plain: vec![1, 2],
            inner: vec![Some(serde_bytes::ByteBuf::from(b"fo".to_vec())), None],
        };
        let mut out = Vec::new();
        blob.serialize(Ser(&mut serde_json::Serializer::new(&mut out)))
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"data":"Zm9v","plain":[1,2],"inner":["Zm8=",null]}"#
        );
        let mut de = serde_json::Deserializer::from_str(&text);
        assert_eq!(Blob::deserialize(De(&mut de)).unwrap(), blob);
        // Arrays of numbers and null are taken too.
        let mut de = serde_json::Deserializer::from_str(r#"{"data":[102],"plain":[],"inner":[]}"#);
        let got = Blob::deserialize(De(&mut de)).unwrap();
        assert_eq!(got.data, b"f");
    }

    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct GoArgs {
        #[serde(rename = "A")]
        a: i64,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Tags")]
        tags: Vec<String>,
        #[serde(rename = "Inner")]
        inner: Inner,
        #[serde(rename = "Opt")]
        opt: Option<i64>,
    }

    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct Inner {
        #[serde(rename = "X")]
        x: f64,
        #[serde(rename = "Ok")]
        ok: bool,
    }

    fn go_decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        T::deserialize(De(&mut serde_json::Deserializer::from_str(json)))
    }

    #[test]
    fn a_field_left_out_is_go_s_zero_whatever_serde_says() {
        fn five() -> i64 {
            5
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Rusty {
            name: String,
            #[serde(default = "five")]
            n: i64,
        }
        // The zero comes in the one pass: serde's default would come only after it.
        let got: Rusty = go_decode(r#"{"name":"a"}"#).unwrap();
        assert_eq!(got.n, 0);
        // A second member for one field, in another case, is skipped.
        let got: Rusty = go_decode(r#"{"name":"a","NAME":"b"}"#).unwrap();
        assert_eq!(got.name, "a");
        // An alias looks like one more field left out, so the struct gets its field twice.
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Aliased {
            #[serde(alias = "nm")]
            name: String,
        }
        assert!(go_decode::<Aliased>(r#"{"nm":"a"}"#).is_err());
    }

    #[test]
    fn structs_decode_as_go_decodes_them() {
        // Fields left out (Go's `omitempty`) and fields sent as null are zero.
        assert_eq!(go_decode::<GoArgs>("{}").unwrap(), GoArgs::default());
        assert_eq!(
            go_decode::<GoArgs>(r#"{"A":null,"Name":null,"Tags":null,"Inner":null,"Opt":null}"#)
                .unwrap(),
            GoArgs::default()
        );
        assert_eq!(go_decode::<GoArgs>("null").unwrap(), GoArgs::default());
        // Names match exactly, or else in any case; unknown members are skipped.
        let got = go_decode::<GoArgs>(
            r#"{"a":7,"NAME":"x","tags":["t"],"inner":{"x":1.5},"opt":3,"Extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            GoArgs {
                a: 7,
                name: "x".into(),
                tags: vec!["t".into()],
                inner: Inner { x: 1.5, ok: false },
                opt: Some(3),
            }
        );
        // Keys of Go's map[int64]T and map[bool]T are numbers and booleans in strings.
        let keys = go_decode::<(
            std::collections::HashMap<i64, String>,
            std::collections::BTreeMap<bool, u8>,
        )>(r#"[{"-5":"m"},{"true":1}]"#)
        .unwrap();
        assert_eq!(keys.0[&-5], "m");
        assert_eq!(keys.1[&true], 1);
        // Arrays: null is zero, short ones are padded with zeros, long ones cut.
        assert_eq!(
            go_decode::<([u8; 4], [u8; 2], [u8; 2])>("[null, [1], [1, 2, 3]]").unwrap(),
            ([0; 4], [1, 0], [1, 2])
        );
        // Names folded beyond ASCII, as Go's EqualFold: the Kelvin sign is k.
        #[derive(Deserialize, Debug, PartialEq)]
        struct Folded {
            #[serde(rename = "ñame")]
            name: String,
            kind: String,
        }
        assert_eq!(
            go_decode::<Folded>(r#"{"ÑAME":"x","\u212aind":"kelvin"}"#).unwrap(),
            Folded {
                name: "x".into(),
                kind: "kelvin".into()
            }
        );
        // A value of the wrong type is still an error, in serde's words.
        let e = go_decode::<GoArgs>(r#"{"A":"seven"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid type: string \"seven\", expected i64"),
            "{e}"
        );
    }

    #[test]
    fn fields_left_out_deep_in_a_vec_are_zero_in_one_pass() {
        thread_local! {
            static DECODED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        /// A number that counts how many times it is decoded.
        #[derive(Debug, PartialEq, Default)]
        struct Counted(i64);
        impl<'de> Deserialize<'de> for Counted {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                DECODED.with(|n| n.set(n.get() + 1));
                i64::deserialize(d).map(Counted)
            }
        }
        #[derive(Deserialize, Debug, PartialEq, Default)]
        struct Leaf {
            x: i64,
            name: String,
            tags: Vec<String>,
        }
        #[derive(Deserialize, Debug, PartialEq, Default)]
        struct Item {
            counted: Counted,
            leaf: Leaf,
            n: u8,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Outer {
            items: Vec<Item>,
            total: i64,
        }
        let got: Outer = go_decode(
            r#"{"items":[{"counted":1,"leaf":{"x":2}},{"counted":2,"leaf":{"name":"b"},"n":3},{"counted":3}]}"#,
        )
        .unwrap();
        let leaf = |x: i64, name: &str| Leaf {
            x,
            name: name.into(),
            tags: Vec::new(),
        };
        assert_eq!(
            got,
            Outer {
                items: vec![
                    Item {
                        counted: Counted(1),
                        leaf: leaf(2, ""),
                        n: 0
                    },
                    Item {
                        counted: Counted(2),
                        leaf: leaf(0, "b"),
                        n: 3
                    },
                    Item {
                        counted: Counted(3),
                        ..Item::default()
                    },
                ],
                total: 0,
            }
        );
        // Each element was decoded once: the fields left out cost no second reading.
        assert_eq!(DECODED.with(|n| n.get()), 3);
    }

    #[test]
    fn unit_is_gos_empty_struct() {
        #[derive(serde::Serialize, Deserialize, Debug, PartialEq)]
        struct Marker;
        let mut out = Vec::new();
        ((), Marker, Some(()))
            .serialize(Ser(&mut serde_json::Serializer::new(&mut out)))
            .unwrap();
        assert_eq!(out, br#"[{},{},{}]"#);
        let mut de = serde_json::Deserializer::from_str(r#"[{}, {"ignored": [1]}, null]"#);
        assert_eq!(
            <((), Marker, ())>::deserialize(De(&mut de)).unwrap(),
            ((), Marker, ())
        );
        let mut de = serde_json::Deserializer::from_str("3");
        assert!(<()>::deserialize(De(&mut de)).is_err());
    }

    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct Args {
        a: i64,
        s: String,
        v: Vec<u8>,
        o: Option<Box<Args>>,
        t: (u8, bool),
        m: std::collections::HashMap<String, i64>,
    }

    #[test]
    fn zero_is_gos_zero_value() {
        let zero = Zero::<de::value::Error>::json;
        assert_eq!(Args::deserialize(zero()).unwrap(), Args::default());
        assert_eq!(i64::deserialize(zero()).unwrap(), 0);
        assert_eq!(String::deserialize(zero()).unwrap(), "");
        assert_eq!(<Option<i64>>::deserialize(zero()).unwrap(), None);
        assert_eq!(<()>::deserialize(zero()).unwrap(), ());
    }
}
