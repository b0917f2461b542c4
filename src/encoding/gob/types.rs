//! Gob types: the predefined ids, the shape of a Rust value's type as the encoder learns it,
//! the type definitions an encoder has sent on its stream, and those a decoder has received.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::error::GobError;
use super::wire::{put_bytes, put_int, put_uint, Reader};
use crate::hash::FastMap;

/// Predefined type ids.
pub(crate) const BOOL: i64 = 1;
pub(crate) const INT: i64 = 2;
pub(crate) const UINT: i64 = 3;
pub(crate) const FLOAT: i64 = 4;
pub(crate) const BYTES: i64 = 5;
pub(crate) const STRING: i64 = 6;
pub(crate) const COMPLEX: i64 = 7;
pub(crate) const INTERFACE: i64 = 8;
/// The first id an encoder may define.
pub(crate) const FIRST_USER_ID: i64 = 65;

/// Why part of a type could not be learnt from a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Why {
    /// `None`.
    None,
    /// An empty sequence or map (its elements would have told).
    Empty,
    /// An empty sequence, learnt from a value.
    EmptySeq,
    /// An empty map, learnt from a value.
    EmptyMap,
    /// A field its `Serialize` skipped, or a value a `Deserialize` ignored.
    Skipped,
}

/// The type of a Rust value as gob sees it, learnt from a value (`Serialize`) or traced from
/// its `Deserialize`. Options are transparent, like Go pointers; `()` is `struct{}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// Not known from the value at hand.
    Unknown(Why),
    Bool,
    Int,
    Uint,
    /// A `u8`: a `uint`, but a sequence of them is `[]byte`.
    U8,
    Float,
    String,
    Bytes,
    Slice(Box<Shape>),
    Array(Box<Shape>, usize),
    Map(Box<Shape>, Box<Shape>),
    Struct(&'static str, Vec<(&'static str, Shape)>),
    /// The struct this many struct levels out from here (0: the innermost enclosing struct),
    /// in recursive types.
    Recurse(usize),
    /// A struct in the table [`Shape::unify_structs`] builds (entry, variant); never outside it.
    Ref(usize, usize),
    /// A type that encodes itself (Go's `GobEncoder`), by its Go name: a [`super::Time`].
    Opaque(&'static str),
}

impl Shape {
    /// Whether nothing in the shape is unknown.
    pub(crate) fn is_complete(&self) -> bool {
        match self {
            Shape::Unknown(_) => false,
            Shape::Slice(e) | Shape::Array(e, _) => e.is_complete(),
            Shape::Map(k, v) => k.is_complete() && v.is_complete(),
            Shape::Struct(_, fields) => fields.iter().all(|(_, s)| s.is_complete()),
            _ => true,
        }
    }

    /// Folds what `other` shows about the type into `self`: both come from values of one
    /// type (the elements of one sequence).
    pub(crate) fn merge(&mut self, other: Shape) -> Result<(), GobError> {
        match (&mut *self, other) {
            (_, Shape::Unknown(_)) => Ok(()),
            (Shape::Unknown(_), other) => {
                *self = other;
                Ok(())
            }
            (Shape::Slice(a), Shape::Slice(b)) => a.merge(*b),
            (Shape::Array(a, n), Shape::Array(b, m)) if *n == m => a.merge(*b),
            (Shape::Map(ak, av), Shape::Map(bk, bv)) => {
                ak.merge(*bk)?;
                av.merge(*bv)
            }
            (Shape::Struct(an, af), Shape::Struct(bn, bf))
                if *an == bn
                    && af.len() == bf.len()
                    && af.iter().zip(&bf).all(|((a, _), (b, _))| a == b) =>
            {
                for ((_, a), (_, b)) in af.iter_mut().zip(bf) {
                    a.merge(b)?;
                }
                Ok(())
            }
            (a, b) if *a == b => Ok(()),
            (a, b) => Err(GobError::mismatch(format!(
                "the elements of one sequence or map have different types ({} and {}); \
                 gob's slices, arrays and maps hold one type",
                a.describe(),
                b.describe()
            ))),
        }
    }

    /// Gives every occurrence of one struct (by name and field names) one shape, merged from
    /// all of them, and folds a struct found inside itself into a recursive type: Go's decoder
    /// assumes one wire type per Go type within a value's type, so `Inner` in a field and in
    /// a `Vec<Inner>`, or a tree and its subtrees, must not become several types. Occurrences
    /// that conflict (a generic struct with different parameters) stay apart.
    pub(crate) fn unify_structs(self) -> Shape {
        let mut table = StructTable::default();
        let flat = self.flatten(&mut table);
        if table.is_empty() {
            return flat;
        }
        flat.unflatten(&table, &mut Vec::new())
    }

    /// Fills in what this shape does not show from the structs of earlier values on the
    /// stream (`memory`, by name and field names), and remembers what it does show: so a
    /// value with an empty `Vec` reuses the type an earlier, fuller value defined, rather
    /// than defining one more type. Only shapes with no reference outside themselves are
    /// remembered; one that conflicts (another struct of the same name) is left as it is.
    pub(crate) fn recall(self, memory: &mut StructMemory) -> Shape {
        match self {
            Shape::Slice(e) => Shape::Slice(Box::new(e.recall(memory))),
            Shape::Array(e, n) => Shape::Array(Box::new(e.recall(memory)), n),
            Shape::Map(k, v) => Shape::Map(Box::new(k.recall(memory)), Box::new(v.recall(memory))),
            Shape::Struct(name, fields) => {
                let fields: Vec<_> = fields
                    .into_iter()
                    .map(|(f, s)| (f, s.recall(memory)))
                    .collect();
                let key = (name, fields.iter().map(|(f, _)| *f).collect::<Vec<_>>());
                let current = Shape::Struct(name, fields);
                if !current.is_closed(0) {
                    return current;
                }
                match memory.shapes.get(&key) {
                    Some(known) => {
                        let mut merged = known.clone();
                        if merged.merge(current.clone()).is_err() {
                            return current;
                        }
                        if merged != *known {
                            memory.insert(key, merged.clone());
                        }
                        merged
                    }
                    None => {
                        if memory.shapes.len() < MEMORY_LIMIT {
                            memory.insert(key, current.clone());
                        }
                        current
                    }
                }
            }
            other => other,
        }
    }

    /// Replaces every struct by a reference into `table`, merging it there with the other
    /// occurrences it agrees with.
    fn flatten(self, table: &mut StructTable) -> Shape {
        match self {
            Shape::Slice(e) => Shape::Slice(Box::new(e.flatten(table))),
            Shape::Array(e, n) => Shape::Array(Box::new(e.flatten(table)), n),
            Shape::Map(k, v) => Shape::Map(Box::new(k.flatten(table)), Box::new(v.flatten(table))),
            Shape::Struct(name, fields) => {
                let names: Vec<&'static str> = fields.iter().map(|(f, _)| *f).collect();
                let flat = Shape::Struct(
                    name,
                    fields
                        .into_iter()
                        .map(|(f, s)| (f, s.flatten(table)))
                        .collect(),
                );
                let next = table.entries.len();
                let entry = *table.index.entry((name, names)).or_insert(next);
                if entry == next {
                    table.entries.push(Vec::new());
                }
                let variants = &mut table.entries[entry];
                for (i, merged) in variants.iter_mut().enumerate() {
                    let mut candidate = merged.clone();
                    if candidate.merge(flat.clone()).is_ok() {
                        *merged = candidate;
                        return Shape::Ref(entry, i);
                    }
                }
                variants.push(flat);
                Shape::Ref(entry, variants.len() - 1)
            }
            other => other,
        }
    }

    /// Expands the references `flatten` made, a struct inside itself becoming a `Recurse`.
    fn unflatten(&self, table: &StructTable, stack: &mut Vec<(usize, usize)>) -> Shape {
        match self {
            Shape::Slice(e) => Shape::Slice(Box::new(e.unflatten(table, stack))),
            Shape::Array(e, n) => Shape::Array(Box::new(e.unflatten(table, stack)), *n),
            Shape::Map(k, v) => Shape::Map(
                Box::new(k.unflatten(table, stack)),
                Box::new(v.unflatten(table, stack)),
            ),
            Shape::Ref(entry, variant) => {
                let me = (*entry, *variant);
                if let Some(pos) = stack.iter().rposition(|s| *s == me) {
                    return Shape::Recurse(stack.len() - 1 - pos);
                }
                let Shape::Struct(name, fields) = &table.entries[*entry][*variant] else {
                    unreachable!("the table holds structs only");
                };
                stack.push(me);
                let fields = fields
                    .iter()
                    .map(|(f, s)| (*f, s.unflatten(table, stack)))
                    .collect();
                stack.pop();
                Shape::Struct(name, fields)
            }
            other => other.clone(),
        }
    }

    /// Fills in what a value cannot show, for an RPC body whose Go type is not known: an
    /// empty sequence becomes `[]struct{}`, an empty map `map[string]struct{}`, any other
    /// unknown element `struct{}` and an unknown map key `string` (Go decodes a wire
    /// `struct{}` into any struct). Structs are left as they are: a field whose type is
    /// unknown is left out of the type.
    pub(crate) fn fill_unknown(self, key: bool) -> Shape {
        match self {
            Shape::Unknown(_) if key => Shape::String,
            Shape::Unknown(Why::EmptySeq) => Shape::Slice(Box::new(Shape::Struct("", Vec::new()))),
            Shape::Unknown(Why::EmptyMap) => Shape::Map(
                Box::new(Shape::String),
                Box::new(Shape::Struct("", Vec::new())),
            ),
            Shape::Unknown(_) => Shape::Struct("", Vec::new()),
            Shape::Slice(e) => Shape::Slice(Box::new(e.fill_unknown(false))),
            Shape::Array(e, n) => Shape::Array(Box::new(e.fill_unknown(false)), n),
            Shape::Map(k, v) => Shape::Map(
                Box::new(k.fill_unknown(true)),
                Box::new(v.fill_unknown(false)),
            ),
            other => other,
        }
    }

    /// Makes the shape ready to be sent: a sequence of `u8` becomes `[]byte`, struct fields
    /// whose type is unknown (their value is absent) leave the type, and any other unknown
    /// part is an error naming where it is.
    pub(crate) fn finalize(self, path: &mut String) -> Result<Shape, GobError> {
        Ok(match self {
            Shape::Unknown(why) => {
                let what = match why {
                    Why::None => "None",
                    Why::Empty => "an empty sequence or map",
                    Why::EmptySeq => "an empty sequence",
                    Why::EmptyMap => "an empty map",
                    Why::Skipped => "a skipped value",
                };
                let at = if path.is_empty() {
                    "the top-level value".to_string()
                } else {
                    format!("`{path}`")
                };
                return Err(GobError::unsupported(format!(
                    "cannot tell the type of {at} from this value ({what}), and gob must \
                     send a type with every part; send a value that shows it, or encode with \
                     Encoder::encode_typed / Schema::of, which learn the type from Deserialize"
                )));
            }
            Shape::U8 => Shape::Uint,
            Shape::Slice(e) if *e == Shape::U8 => Shape::Bytes,
            Shape::Slice(e) => {
                path.push_str("[]");
                let e = e.finalize(path)?;
                path.truncate(path.len() - 2);
                Shape::Slice(Box::new(e))
            }
            Shape::Array(e, n) => {
                path.push_str("[]");
                let e = e.finalize(path)?;
                path.truncate(path.len() - 2);
                Shape::Array(Box::new(e), n)
            }
            Shape::Map(k, v) => {
                let mark = path.len();
                path.push_str("{key}");
                let k = k.finalize(path)?;
                path.truncate(mark);
                path.push_str("{value}");
                let v = v.finalize(path)?;
                path.truncate(mark);
                Shape::Map(Box::new(k), Box::new(v))
            }
            Shape::Struct(name, fields) => {
                let mark = path.len();
                let mut kept = Vec::with_capacity(fields.len());
                for (field, shape) in fields {
                    if let Shape::Unknown(_) = shape {
                        continue;
                    }
                    if path.is_empty() {
                        path.push_str(name);
                    }
                    let _ = write!(path, ".{field}");
                    kept.push((field, shape.finalize(path)?));
                    path.truncate(mark);
                }
                Shape::Struct(name, kept)
            }
            other => other,
        })
    }

    /// A short description for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Shape::Unknown(_) => "unknown".into(),
            Shape::Bool => "bool".into(),
            Shape::Int => "int".into(),
            Shape::Uint | Shape::U8 => "uint".into(),
            Shape::Float => "float".into(),
            Shape::String => "string".into(),
            Shape::Bytes => "[]byte".into(),
            Shape::Slice(e) => format!("[]{}", e.describe()),
            Shape::Array(e, n) => format!("[{n}]{}", e.describe()),
            Shape::Map(k, v) => format!("map[{}]{}", k.describe(), v.describe()),
            Shape::Struct("", _) => "struct".into(),
            Shape::Struct(name, _) => format!("struct {name}"),
            Shape::Recurse(_) | Shape::Ref(..) => "a recursive struct".into(),
            Shape::Opaque(name) => (*name).into(),
        }
    }

    /// Whether every `Recurse` in the shape points inside it (`depth`: struct levels entered).
    fn is_closed(&self, depth: usize) -> bool {
        match self {
            Shape::Recurse(n) => *n < depth,
            Shape::Slice(e) | Shape::Array(e, _) => e.is_closed(depth),
            Shape::Map(k, v) => k.is_closed(depth) && v.is_closed(depth),
            Shape::Struct(_, fields) => fields.iter().all(|(_, s)| s.is_closed(depth + 1)),
            _ => true,
        }
    }
}

/// The struct shapes an encoder has seen on its stream, by name and field names.
#[derive(Debug, Default)]
pub(crate) struct StructMemory {
    shapes: FastMap<(&'static str, Vec<&'static str>), Shape>,
    /// Counts the changes to `shapes`: what was worked out from them holds until the next.
    generation: u64,
}

impl StructMemory {
    /// How many changes it has seen.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    fn insert(&mut self, key: (&'static str, Vec<&'static str>), shape: Shape) {
        self.shapes.insert(key, shape);
        self.generation += 1;
    }
}

/// How many structs an encoder remembers.
const MEMORY_LIMIT: usize = 4096;

/// The shapes of the structs in one value, while [`Shape::unify_structs`] runs: by name and
/// field names, the variants that do not agree with each other.
#[derive(Default)]
struct StructTable {
    index: FastMap<(&'static str, Vec<&'static str>), usize>,
    entries: Vec<Vec<Shape>>,
}

impl StructTable {
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A type the encoder has defined on its stream, with the ids of its parts.
#[derive(Debug)]
pub(crate) enum Def {
    Slice(i64),
    Array(i64, usize),
    Map(i64, i64),
    Struct(Vec<(&'static str, i64)>),
    /// A type that encodes itself: its values are byte strings.
    Opaque,
}

/// The types an encoder has defined on its stream.
#[derive(Debug, Default)]
pub(crate) struct SentTypes {
    /// `defs[i]` defines id `FIRST_USER_ID + i`.
    defs: Vec<Def>,
    /// SipHash, not [`FastMap`]: the shapes of a dynamic value (a [`Value`](super::Value)
    /// echoed back, say) follow the data, so a peer may choose them.
    ids: HashMap<Shape, i64>,
    /// The last shapes given an id, as the encoder holds them (settled, or a schema's): found
    /// again by address, so that a value of a type sent before hashes nothing. Holding the
    /// `Arc` keeps its address from being reused.
    recent: Vec<(Arc<Shape>, i64)>,
}

/// How many shapes [`SentTypes`] finds by address: a header's and a few bodies'.
const RECENT: usize = 8;

/// Undoes the definitions made for a value that then failed to encode.
pub(crate) struct Mark {
    defs: usize,
    added: Vec<Shape>,
}

impl SentTypes {
    /// The definition of a user type id.
    pub(crate) fn def(&self, id: i64) -> &Def {
        &self.defs[(id - FIRST_USER_ID) as usize]
    }

    /// A mark to [`rollback`](Self::rollback) to.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            defs: self.defs.len(),
            added: Vec::new(),
        }
    }

    /// Forgets the definitions made since `mark`.
    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.recent.clear();
        self.defs.truncate(mark.defs);
        for shape in mark.added {
            self.ids.remove(&shape);
        }
    }

    /// The id of `shape` (finalized), defining it and its parts where they are new: each new
    /// definition is appended to `out` as a complete message, in the order Go sends them.
    pub(crate) fn id_of(
        &mut self,
        shape: &Arc<Shape>,
        out: &mut Vec<u8>,
        mark: &mut Mark,
    ) -> Result<i64, GobError> {
        if let Some(&(_, id)) = self.recent.iter().find(|(s, _)| Arc::ptr_eq(s, shape)) {
            return Ok(id);
        }
        let mut enclosing = Vec::new();
        let mut defs = Vec::new();
        let id = self.assign(shape, false, &mut defs, mark, &mut enclosing)?;
        for def in defs {
            out.extend_from_slice(&def);
        }
        // Only a shape with no reference outside itself keeps its id: another is defined anew.
        if shape.is_closed(0) {
            if self.recent.len() == RECENT {
                self.recent.remove(0);
            }
            self.recent.push((Arc::clone(shape), id));
        }
        Ok(id)
    }

    /// Ids are given in Go's order: a struct before its fields, a slice, array or map after
    /// its parts. `field`: the shape is the type of a struct field, which Go names.
    fn assign(
        &mut self,
        shape: &Shape,
        field: bool,
        out: &mut Vec<Vec<u8>>,
        mark: &mut Mark,
        enclosing: &mut Vec<i64>,
    ) -> Result<i64, GobError> {
        match shape {
            Shape::Bool => return Ok(BOOL),
            Shape::Int => return Ok(INT),
            Shape::Uint | Shape::U8 => return Ok(UINT),
            Shape::Float => return Ok(FLOAT),
            Shape::String => return Ok(STRING),
            Shape::Bytes => return Ok(BYTES),
            Shape::Unknown(_) | Shape::Ref(..) => {
                return Err(GobError::unsupported(
                    "part of the type is unknown".to_string(),
                ))
            }
            Shape::Recurse(n) => {
                return enclosing
                    .len()
                    .checked_sub(n + 1)
                    .map(|i| enclosing[i])
                    .ok_or_else(|| GobError::unsupported("a recursive type points nowhere"));
            }
            _ => {}
        }
        // A shape with no references outside it means the same wherever it appears.
        let closed = shape.is_closed(0);
        if closed {
            if let Some(&id) = self.ids.get(shape) {
                return Ok(id);
            }
        }
        // Go sends a type before the types of its parts.
        let slot = out.len();
        out.push(Vec::new());
        let def = match shape {
            Shape::Slice(e) => Def::Slice(self.assign(e, false, out, mark, enclosing)?),
            Shape::Array(e, n) => Def::Array(self.assign(e, false, out, mark, enclosing)?, *n),
            Shape::Map(k, v) => {
                let k = self.assign(k, false, out, mark, enclosing)?;
                Def::Map(k, self.assign(v, false, out, mark, enclosing)?)
            }
            Shape::Opaque(_) => Def::Opaque,
            _ => Def::Struct(Vec::new()),
        };
        let id = FIRST_USER_ID + self.defs.len() as i64;
        // A placeholder until a struct's fields have ids; recursive fields refer to `id`.
        self.defs.push(Def::Struct(Vec::new()));
        if closed {
            self.ids.insert(shape.clone(), id);
            mark.added.push(shape.clone());
        }
        let def = match shape {
            Shape::Struct(_, fields) => {
                enclosing.push(id);
                let mut ids = Vec::with_capacity(fields.len());
                for (name, s) in fields {
                    match self.assign(s, true, out, mark, enclosing) {
                        Ok(fid) => ids.push((*name, fid)),
                        Err(e) => {
                            enclosing.pop();
                            return Err(e);
                        }
                    }
                }
                enclosing.pop();
                Def::Struct(ids)
            }
            _ => def,
        };
        let name = match shape {
            Shape::Struct(name, _) | Shape::Opaque(name) if !name.is_empty() => name.to_string(),
            _ if field => go_name(shape),
            _ => String::new(),
        };
        write_definition(&mut out[slot], id, &name, &def);
        self.defs[(id - FIRST_USER_ID) as usize] = def;
        Ok(id)
    }
}

/// Go's name for an unnamed type (as `reflect.Type.String` gives it, less package paths).
fn go_name(shape: &Shape) -> String {
    match shape {
        Shape::Bool => "bool".into(),
        Shape::Int => "int".into(),
        Shape::Uint => "uint".into(),
        Shape::U8 => "uint8".into(),
        Shape::Float => "float64".into(),
        Shape::String => "string".into(),
        Shape::Bytes => "[]uint8".into(),
        Shape::Slice(e) => format!("[]{}", go_name(e)),
        Shape::Array(e, n) => format!("[{n}]{}", go_name(e)),
        Shape::Map(k, v) => format!("map[{}]{}", go_name(k), go_name(v)),
        Shape::Struct("", _) => "struct {}".into(),
        Shape::Struct(name, _) | Shape::Opaque(name) => (*name).into(),
        Shape::Unknown(_) | Shape::Recurse(_) | Shape::Ref(..) => String::new(),
    }
}

/// Appends the message defining `id` as `def`: `-id` then a `wireType` value.
fn write_definition(out: &mut Vec<u8>, id: i64, name: &str, def: &Def) {
    let mut body = Vec::with_capacity(32);
    put_int(&mut body, -id);
    // wireType field number: ArrayT 0, SliceT 1, StructT 2, MapT 3, GobEncoderT 4.
    let field = match def {
        Def::Array(..) => 0,
        Def::Slice(_) => 1,
        Def::Struct(_) => 2,
        Def::Map(..) => 3,
        Def::Opaque => 4,
    };
    put_uint(&mut body, field + 1);
    // Field 0 of every xxxType is its CommonType {Name, Id}; zero values are left out.
    body.push(1);
    if !name.is_empty() {
        body.push(1);
        put_bytes(&mut body, name.as_bytes());
        body.push(1);
    } else {
        body.push(2);
    }
    put_int(&mut body, id);
    body.push(0);
    match def {
        Def::Slice(elem) => {
            body.push(1);
            put_int(&mut body, *elem);
        }
        Def::Array(elem, len) => {
            body.push(1);
            put_int(&mut body, *elem);
            if *len != 0 {
                body.push(1);
                put_int(&mut body, *len as i64);
            }
        }
        Def::Map(key, elem) => {
            body.push(1);
            put_int(&mut body, *key);
            body.push(1);
            put_int(&mut body, *elem);
        }
        Def::Struct(fields) => {
            if !fields.is_empty() {
                body.push(1);
                put_uint(&mut body, fields.len() as u64);
                for (name, fid) in fields {
                    // fieldType {Name string; Id typeId}
                    if !name.is_empty() {
                        body.push(1);
                        put_bytes(&mut body, name.as_bytes());
                        body.push(1);
                    } else {
                        body.push(2);
                    }
                    put_int(&mut body, *fid);
                    body.push(0);
                }
            }
        }
        // gobEncoderType is its CommonType alone.
        Def::Opaque => {}
    }
    body.push(0); // end of the xxxType
    body.push(0); // end of the wireType
    put_uint(out, body.len() as u64);
    out.extend_from_slice(&body);
}

/// A type a decoder has received.
#[derive(Debug)]
pub(crate) enum WireType {
    Array {
        elem: i64,
        len: u64,
    },
    Slice {
        elem: i64,
    },
    Struct(StructType),
    Map {
        key: i64,
        elem: i64,
    },
    /// A type that encodes itself (`GobEncoder`, `BinaryMarshaler`, `TextMarshaler`): its
    /// values are byte strings.
    Opaque,
}

/// A struct type a decoder has received.
#[derive(Debug)]
pub(crate) struct StructType {
    pub(crate) name: String,
    pub(crate) fields: Vec<(String, i64)>,
}

/// The kind of a type id, predefined or received.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind<'t> {
    Bool,
    Int,
    Uint,
    Float,
    Bytes,
    String,
    Complex,
    Interface,
    Array(i64, u64),
    Slice(i64),
    Struct(&'t StructType),
    Map(i64, i64),
    Opaque,
}

/// The types a decoder has received on its stream.
#[derive(Debug, Default)]
pub(crate) struct ReceivedTypes {
    types: ById,
    /// Struct fields defined so far, all types together.
    fields: usize,
    /// Type definitions met inside a value being decoded (Go defines a type inside the first
    /// interface value of it on a stream), as their bytes: they are defined once the value
    /// is done with, and the value is decoded again.
    inline: std::cell::RefCell<Vec<(i64, Vec<u8>)>>,
    /// Set when a value being decoded went on past its message after such definitions: Go
    /// sends the rest in the next message, to be read with it.
    continues: std::cell::Cell<bool>,
    /// Set when definitions went by that this decoder cannot follow: the stream cannot go on.
    lost: std::cell::Cell<bool>,
}

/// Received type definitions by id. A Go encoder numbers its types from [`FIRST_USER_ID`] up,
/// one by one, so such ids index a vector, and the decoder hashes nothing on each value. An id
/// far past the others (a peer's choice) goes to a table hashed with SipHash, so that a peer
/// can neither crowd a bucket nor make the vector large.
#[derive(Debug, Default)]
struct ById {
    /// `slots[id - FIRST_USER_ID]`: one more than the index in `defs` of `id`'s definition; 0
    /// where that id has none here.
    slots: Vec<u32>,
    defs: Vec<WireType>,
    sparse: HashMap<i64, WireType>,
}

/// How far past the highest id in the vector a new id may be and still join it (Go sends the
/// types of a struct's fields after the struct, so ids come a little out of order).
const ID_SLACK: usize = 64;

impl ById {
    /// Where `id` would stand in `slots`, were the vector long enough.
    fn index(id: i64) -> Option<usize> {
        usize::try_from(id.checked_sub(FIRST_USER_ID)?).ok()
    }

    fn get(&self, id: i64) -> Option<&WireType> {
        match Self::index(id).and_then(|i| self.slots.get(i)) {
            Some(&n) if n > 0 => self.defs.get(n as usize - 1),
            _ => self.sparse.get(&id),
        }
    }

    fn contains(&self, id: i64) -> bool {
        self.get(id).is_some()
    }

    fn len(&self) -> usize {
        self.defs.len() + self.sparse.len()
    }

    /// Adds the definition of `id`, which has none yet.
    fn insert(&mut self, id: i64, def: WireType) {
        let index = Self::index(id).filter(|&i| i < self.slots.len() + ID_SLACK);
        match (index, u32::try_from(self.defs.len() + 1)) {
            (Some(i), Ok(n)) => {
                if i >= self.slots.len() {
                    self.slots.resize(i + 1, 0);
                }
                self.slots[i] = n;
                self.defs.push(def);
            }
            _ => {
                self.sparse.insert(id, def);
            }
        }
    }
}

/// The most struct fields the type definitions of one stream may declare: a field costs a
/// byte on the wire and 32 in memory, so without a bound a peer could make a connection hold
/// 32 times the bytes it sent, for each of its type definitions.
const MAX_FIELDS: usize = 1 << 18;

impl ReceivedTypes {
    /// Notes that definitions went by that this decoder cannot follow.
    pub(crate) fn lose_step(&self) {
        self.lost.set(true);
    }

    /// Whether definitions went by that this decoder cannot follow.
    pub(crate) fn lost_step(&self) -> bool {
        self.lost.get()
    }

    /// Notes that the value being decoded goes on in the next message.
    pub(crate) fn set_continues(&self) {
        self.continues.set(true);
    }

    /// Whether the value last decoded went on in the next message; forgets it.
    pub(crate) fn take_continues(&self) -> bool {
        self.continues.replace(false)
    }

    /// Reads past the definition of type `id` met inside a value, keeping it for
    /// [`ReceivedTypes::define_inline`] unless the type is known already; whether it is new.
    pub(crate) fn read_inline(&self, id: i64, r: &mut Reader<'_>) -> Result<bool, GobError> {
        let start = r.clone();
        let mut fields_left = MAX_FIELDS - self.fields;
        parse_wire_type(r, &mut fields_left)?;
        let new = !self.types.contains(id);
        if new {
            let bytes = &start.unread()[..start.remaining() - r.remaining()];
            self.inline.borrow_mut().push((id, bytes.to_vec()));
        }
        Ok(new)
    }

    /// Defines the types [`ReceivedTypes::read_inline`] kept; whether there were any, and so
    /// whether the value that brought them is worth decoding again.
    pub(crate) fn define_inline(&mut self, max_types: usize) -> Result<bool, GobError> {
        let inline = std::mem::take(self.inline.get_mut());
        let any = !inline.is_empty();
        for (id, bytes) in inline {
            if !self.types.contains(id) {
                self.define(id, &mut Reader::new(&bytes), max_types)?;
            }
        }
        Ok(any)
    }

    /// How many types have been defined.
    pub(crate) fn len(&self) -> usize {
        self.types.len()
    }

    /// What `id` is.
    pub(crate) fn kind(&self, id: i64) -> Result<Kind<'_>, GobError> {
        Ok(match id {
            BOOL => Kind::Bool,
            INT => Kind::Int,
            UINT => Kind::Uint,
            FLOAT => Kind::Float,
            BYTES => Kind::Bytes,
            STRING => Kind::String,
            COMPLEX => Kind::Complex,
            INTERFACE => Kind::Interface,
            _ => match self.types.get(id) {
                Some(WireType::Array { elem, len }) => Kind::Array(*elem, *len),
                Some(WireType::Slice { elem }) => Kind::Slice(*elem),
                Some(WireType::Struct(s)) => Kind::Struct(s),
                Some(WireType::Map { key, elem }) => Kind::Map(*key, *elem),
                Some(WireType::Opaque) => Kind::Opaque,
                None => {
                    return Err(GobError::malformed(format!(
                        "type id {id} was never defined on this stream"
                    )))
                }
            },
        })
    }

    /// Whether `id` names a struct type (such values are not sent as singletons).
    pub(crate) fn is_struct(&self, id: i64) -> bool {
        matches!(self.types.get(id), Some(WireType::Struct(_)))
    }

    /// Stores the definition of `id`, read from the rest of the message in `r`.
    pub(crate) fn define(
        &mut self,
        id: i64,
        r: &mut Reader<'_>,
        max_types: usize,
    ) -> Result<(), GobError> {
        if id < FIRST_USER_ID {
            return Err(GobError::malformed(format!(
                "a type definition for id {id}, which is predefined or reserved"
            )));
        }
        if self.types.contains(id) {
            return Err(GobError::malformed(format!(
                "type id {id} is defined twice on this stream"
            )));
        }
        if self.types.len() >= max_types {
            return Err(GobError::limit(format!(
                "more than {max_types} type definitions on one stream"
            )));
        }
        let mut fields_left = MAX_FIELDS - self.fields;
        let wire = parse_wire_type(r, &mut fields_left)?;
        self.fields = MAX_FIELDS - fields_left;
        if !r.is_empty() {
            return Err(GobError::malformed(
                "extra bytes after a type definition".to_string(),
            ));
        }
        self.types.insert(id, wire);
        Ok(())
    }
}

/// Reads a struct value of a predefined type, handing each present field to `f`.
fn read_struct<'de>(
    r: &mut Reader<'de>,
    fields: u64,
    mut f: impl FnMut(u64, &mut Reader<'de>) -> Result<(), GobError>,
) -> Result<(), GobError> {
    let mut field: u64 = 0;
    loop {
        let delta = r.uint()?;
        if delta == 0 {
            return Ok(());
        }
        field = field.saturating_add(delta);
        if field > fields {
            return Err(GobError::malformed(
                "a type definition has a field number out of range".to_string(),
            ));
        }
        f(field - 1, r)?;
    }
}

fn read_type_id(r: &mut Reader<'_>) -> Result<i64, GobError> {
    let id = r.int()?;
    if id <= 0 {
        return Err(GobError::malformed(format!(
            "a type definition refers to type id {id}"
        )));
    }
    Ok(id)
}

fn read_name(r: &mut Reader<'_>) -> Result<String, GobError> {
    let bytes = r.bytes()?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// CommonType {Name string; Id int}: the name is kept, the id is ignored as Go does.
fn read_common(r: &mut Reader<'_>) -> Result<String, GobError> {
    let mut name = String::new();
    read_struct(r, 2, |field, r| {
        match field {
            0 => name = read_name(r)?,
            _ => {
                r.int()?;
            }
        }
        Ok(())
    })?;
    Ok(name)
}

fn parse_wire_type(r: &mut Reader<'_>, fields_left: &mut usize) -> Result<WireType, GobError> {
    let mut wire = None;
    read_struct(r, 7, |field, r| {
        if wire.is_some() {
            return Err(GobError::malformed(
                "a type definition describes more than one type".to_string(),
            ));
        }
        let (mut elem, mut key, mut len) = (0, 0, 0i64);
        wire = Some(match field {
            0 => {
                read_struct(r, 3, |f, r| {
                    match f {
                        0 => drop(read_common(r)?),
                        1 => elem = read_type_id(r)?,
                        _ => len = r.int()?,
                    }
                    Ok(())
                })?;
                if len < 0 {
                    return Err(GobError::malformed(format!(
                        "an array type of length {len}"
                    )));
                }
                WireType::Array {
                    elem,
                    len: len as u64,
                }
            }
            1 => {
                read_struct(r, 2, |f, r| {
                    match f {
                        0 => drop(read_common(r)?),
                        _ => elem = read_type_id(r)?,
                    }
                    Ok(())
                })?;
                WireType::Slice { elem }
            }
            2 => {
                let mut st = StructType {
                    name: String::new(),
                    fields: Vec::new(),
                };
                read_struct(r, 2, |f, r| {
                    match f {
                        0 => st.name = read_common(r)?,
                        _ => {
                            let n = r.count()?;
                            *fields_left = fields_left.checked_sub(n).ok_or_else(|| {
                                GobError::limit(format!(
                                    "the type definitions of one stream declare more than \
                                     {MAX_FIELDS} struct fields"
                                ))
                            })?;
                            st.fields.reserve(n);
                            for _ in 0..n {
                                let (mut name, mut id) = (String::new(), 0);
                                read_struct(r, 2, |f, r| {
                                    match f {
                                        0 => name = read_name(r)?,
                                        _ => id = read_type_id(r)?,
                                    }
                                    Ok(())
                                })?;
                                st.fields.push((name, id));
                            }
                        }
                    }
                    Ok(())
                })?;
                WireType::Struct(st)
            }
            3 => {
                read_struct(r, 3, |f, r| {
                    match f {
                        0 => drop(read_common(r)?),
                        1 => key = read_type_id(r)?,
                        _ => elem = read_type_id(r)?,
                    }
                    Ok(())
                })?;
                WireType::Map { key, elem }
            }
            _ => {
                read_struct(r, 1, |_, r| read_common(r).map(drop))?;
                WireType::Opaque
            }
        });
        Ok(())
    })?;
    let wire = wire.ok_or_else(|| GobError::malformed("an empty type definition".to_string()))?;
    let missing = match &wire {
        WireType::Array { elem, .. } | WireType::Slice { elem } => *elem == 0,
        WireType::Map { key, elem } => *key == 0 || *elem == 0,
        WireType::Struct(s) => s.fields.iter().any(|(_, id)| *id == 0),
        WireType::Opaque => false,
    };
    if missing {
        return Err(GobError::malformed(
            "a type definition leaves out the type of a part".to_string(),
        ));
    }
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::super::{Encoder, Value};
    use super::*;

    /// The `n`th shape a dynamic `Value` can take (nested slices and maps over a leaf), and a
    /// `Value` of that shape.
    fn nth(mut n: u64) -> (Shape, Value) {
        const LEAVES: u64 = 5;
        let (mut shape, mut value) = match n % LEAVES {
            0 => (Shape::Int, Value::Int(1)),
            1 => (Shape::String, Value::String("a".into())),
            2 => (Shape::Bool, Value::Bool(true)),
            3 => (Shape::Float, Value::Float(1.5)),
            _ => (Shape::Bytes, Value::Bytes(vec![1])),
        };
        n /= LEAVES;
        while n > 0 {
            let key = match n % 4 {
                0 => None,
                1 => Some((Shape::String, Value::String("k".into()))),
                2 => Some((Shape::Int, Value::Int(1))),
                _ => Some((Shape::Bool, Value::Bool(true))),
            };
            n /= 4;
            (shape, value) = match key {
                None => (Shape::Slice(Box::new(shape)), Value::Seq(vec![value])),
                Some((key_shape, key)) => (
                    Shape::Map(Box::new(key_shape), Box::new(shape)),
                    Value::Map(vec![(key, value)]),
                ),
            };
        }
        (shape, value)
    }

    /// Where hashbrown places a key in a table of 256 buckets: the bucket (low bits) and the
    /// control byte's tag (top 7 bits).
    fn placement(hash: u64) -> u64 {
        (hash & 0xff) | (hash >> 57) << 8
    }

    #[test]
    fn a_peer_cannot_choose_shapes_that_crowd_one_bucket_of_the_sent_types() {
        // The attacker runs the crate's code offline, with a table of its own.
        let offline = SentTypes::default();
        let offline = offline.ids.hasher();
        let target = placement(offline.hash_one(nth(0).0));
        let crowd: Vec<(Shape, Value)> = (1..)
            .map(nth)
            .filter(|(shape, _)| placement(offline.hash_one(shape)) == target)
            .take(32)
            .collect();
        // A method that answers with a dynamic value (an echo, a proxy) defines each shape on
        // its connection's encoder: the shapes are the peer's.
        let mut enc = Encoder::new();
        for (shape, value) in &crowd {
            enc.encode(&mut Vec::new(), value).unwrap();
            assert!(enc.sent.ids.contains_key(shape), "{shape:?} is a key");
        }
        let served = enc.sent.ids.hasher();
        let crowded = crowd
            .iter()
            .filter(|(shape, _)| placement(served.hash_one(shape)) == target)
            .count();
        assert!(
            crowded < 4,
            "{crowded} of {} shapes chosen offline share one bucket and tag in a server's table",
            crowd.len()
        );
    }

    #[test]
    fn received_types_are_found_by_id_near_and_far() {
        let mut types = ById::default();
        let ids = [65, 67, 66, 200, 1 << 40, -3, 65 + 64 + 3];
        for (n, &id) in ids.iter().enumerate() {
            assert!(!types.contains(id));
            types.insert(id, WireType::Slice { elem: n as i64 });
        }
        for (n, &id) in ids.iter().enumerate() {
            assert!(
                matches!(types.get(id), Some(WireType::Slice { elem }) if *elem == n as i64),
                "{id}"
            );
        }
        assert_eq!(types.len(), ids.len());
        assert!(!types.contains(68));
        // Far ids do not make the vector large.
        assert!(types.slots.len() <= 3 + ID_SLACK, "{}", types.slots.len());
        // Once the vector grows past an id kept apart, that id is still found.
        for id in (68..=131).chain([133]) {
            types.insert(id, WireType::Opaque);
        }
        assert!(types.slots.len() > 132 - 65);
        assert!(matches!(types.get(132), Some(WireType::Slice { elem: 6 })));
        assert!(matches!(types.get(133), Some(WireType::Opaque)));
    }
}
