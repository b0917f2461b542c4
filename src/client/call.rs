//! What a caller hands over and gets back: [`Params`] for argument lists, [`Call`], the
//! [`Completed`] call its channel yields, and [`Ignore`] for replies nobody wants.

use std::sync::OnceLock;

use crossbeam_channel::Receiver;
use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde::ser::{self, Impossible, Serialize, Serializer};

use crate::client::Client;
use crate::error::Error;

/// A call started with [`Client::go`](crate::Client::go): it completes through `done`.
///
/// A `Call` is a handle on its connection, as a [`Client`] is: the call completes even if
/// every `Client` is dropped meanwhile, and the connection closes once the last of them all
/// is gone. A `Call` dropped unanswered keeps nothing open.
#[non_exhaustive]
pub struct Call<R> {
    /// The call's sequence number, as in its [`Completed`].
    pub seq: u64,
    /// The method called.
    pub service_method: String,
    /// Yields the completed call exactly once (a [crossbeam](crate::channel) receiver:
    /// `select!` on it, or wait with a timeout).
    pub done: Receiver<Completed<R>>,
    /// Keeps the connection open for the call.
    pub(crate) _connection: Client,
}

impl<R> std::fmt::Debug for Call<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("seq", &self.seq)
            .field("service_method", &self.service_method)
            .finish_non_exhaustive()
    }
}

impl<R> Call<R> {
    /// Waits for the call to complete and returns its reply.
    pub fn wait(self) -> Result<R, Error> {
        self.done.recv().map_or(Err(Error::Shutdown), |c| c.result)
    }
}

/// A completed call, as delivered on a done channel.
#[derive(Debug)]
#[non_exhaustive]
pub struct Completed<R> {
    /// The sequence number [`Client::go`](crate::Client::go) or
    /// [`Client::go_with`](crate::Client::go_with) returned for it.
    pub seq: u64,
    /// The method called.
    pub service_method: String,
    /// The reply, or why there is none.
    pub result: Result<R, Error>,
}

/// A reply type that accepts any reply and keeps nothing, for calls made for their effect
/// (Go's `nil` reply).
///
/// ```no_run
/// # let client = netrpc::Client::dial("127.0.0.1:1234")?;
/// let netrpc::Ignore = client.call("Store.Put", &("key", 42))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ignore;

impl<'de> Deserialize<'de> for Ignore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| Ignore)
    }
}

/// An argument list, sent as MessagePack-RPC's `params` as it is, for peers whose methods take
/// no argument or several: `Params(())` sends `[]`, `Params(("abs", [-5]))` sends
/// `["abs", [-5]]`, `Params(vec![1, 2, 3])` sends `[1, 2, 3]`. `T` must serialize as a
/// sequence (a tuple, an array, a `Vec`) or be `()`.
///
/// Any other argument `a` is sent as the one-element list `[a]`, which netrpc's and Go's
/// servers expect. Go's methods take one argument: JSON-RPC sends a `Params` of one element
/// or none, gob only `Params(())` (as Go's empty struct), and both refuse a longer list
/// before sending it. Pass a `Params` itself (or a reference to it), not boxed or behind a
/// `dyn Serialize`.
///
/// ```no_run
/// use netrpc::Params;
///
/// let nvim = netrpc::Client::dial("127.0.0.1:6666")?;
/// let abs: i64 = nvim.call("nvim_call_function", &Params(("abs", [-5])))?;
/// let info: netrpc::rmpv::Value = nvim.call("nvim_get_api_info", &Params(()))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params<T>(pub T);

/// The newtype name [`Params`] serializes under, for codecs to recognise it.
pub(crate) const PARAMS: &str = "netrpc::Params";

impl<T: Serialize> Serialize for Params<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(PARAMS, &self.0)
    }
}

/// A call's argument on its way to the encoder, and whether it is a whole argument list.
#[derive(Clone, Copy)]
pub(crate) struct Argument<'a> {
    pub(crate) value: &'a dyn erased_serde::Serialize,
    pub(crate) is_list: bool,
}

impl<'a> Argument<'a> {
    /// The caller's `args`, taken by reference so that any `A`, sized or not, can be erased.
    pub(crate) fn new<A: Serialize + ?Sized>(args: &'a &'a A) -> Self {
        Argument {
            value: args,
            is_list: is_argument_list(*args),
        }
    }
}

/// Whether `args` is a [`Params`] (or a reference to one).
///
/// Only a value whose type is named `Params` is asked, by serializing it into a serializer
/// that stops at the first thing it is given (a `Params` stops at its own newtype, before its
/// list): any other argument's `Serialize` runs only when the argument is sent, so a
/// `Serialize` that can run only once, or that takes its time, is not run twice. The type's
/// name only says which values to ask; the answer is the serializer's.
pub(crate) fn is_argument_list<A: Serialize + ?Sized>(args: &A) -> bool {
    /// A type's name without the references before it.
    fn unreferenced(mut name: &'static str) -> &'static str {
        while let Some(rest) = name.strip_prefix('&') {
            name = rest.strip_prefix("mut ").unwrap_or(rest);
        }
        name
    }
    // Every call asks, so the path of `Params` is found once and then only compared.
    static PARAMS: OnceLock<&str> = OnceLock::new();
    let params = PARAMS.get_or_init(|| {
        let name = std::any::type_name::<Params<()>>();
        name.split('<').next().unwrap_or(name)
    });
    unreferenced(std::any::type_name::<A>())
        .strip_prefix(params)
        .is_some_and(|generics| generics.is_empty() || generics.starts_with('<'))
        && erased_serde::serialize(args, Probe).unwrap_or(false)
}

/// Says whether the value it is given is a [`Params`], and takes nothing else.
struct Probe;

/// What [`Probe`] answers for anything but a newtype.
#[derive(Debug)]
struct NotParams;

impl std::fmt::Display for NotParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not an argument list")
    }
}

impl std::error::Error for NotParams {}

impl ser::Error for NotParams {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        NotParams
    }
}

/// `fn $name(self, ...) -> Result<bool, NotParams> { Err(NotParams) }` for each method.
macro_rules! not_params {
    ($($name:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, NotParams> {
            Err(NotParams)
        })*
    };
}

impl Serializer for Probe {
    type Ok = bool;
    type Error = NotParams;
    type SerializeSeq = Impossible<bool, NotParams>;
    type SerializeTuple = Impossible<bool, NotParams>;
    type SerializeTupleStruct = Impossible<bool, NotParams>;
    type SerializeTupleVariant = Impossible<bool, NotParams>;
    type SerializeMap = Impossible<bool, NotParams>;
    type SerializeStruct = Impossible<bool, NotParams>;
    type SerializeStructVariant = Impossible<bool, NotParams>;

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: &T,
    ) -> Result<bool, NotParams> {
        Ok(name == PARAMS)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<bool, NotParams> {
        Err(NotParams)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, NotParams> {
        Err(NotParams)
    }

    not_params! {
        serialize_bool(bool) -> bool;
        serialize_i8(i8) -> bool;
        serialize_i16(i16) -> bool;
        serialize_i32(i32) -> bool;
        serialize_i64(i64) -> bool;
        serialize_u8(u8) -> bool;
        serialize_u16(u16) -> bool;
        serialize_u32(u32) -> bool;
        serialize_u64(u64) -> bool;
        serialize_f32(f32) -> bool;
        serialize_f64(f64) -> bool;
        serialize_char(char) -> bool;
        serialize_str(&str) -> bool;
        serialize_bytes(&[u8]) -> bool;
        serialize_none() -> bool;
        serialize_unit() -> bool;
        serialize_unit_struct(&'static str) -> bool;
        serialize_unit_variant(&'static str, u32, &'static str) -> bool;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_lists_are_told_from_arguments() {
        assert!(is_argument_list(&Params(())));
        assert!(is_argument_list(&Params(("abs", [-5]))));
        assert!(!is_argument_list(&("abs", [-5])));
        assert!(!is_argument_list(&42));
        assert!(!is_argument_list(&()));
        assert!(is_argument_list(&&Params(vec![1])));
        assert!(is_argument_list(&&mut Params([1, 2])));
    }

    /// Serializes as 1, counting the times it is asked to.
    struct Counted(std::cell::Cell<usize>);

    impl Serialize for Counted {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0.set(self.0.get() + 1);
            serializer.serialize_u64(1)
        }
    }

    #[test]
    fn an_argument_that_is_no_list_is_not_serialized_to_tell() {
        let argument = Counted(std::cell::Cell::new(0));
        assert!(!is_argument_list(&argument));
        assert!(!is_argument_list(&&argument));
        assert_eq!(argument.0.get(), 0);
    }
}
