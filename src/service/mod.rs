//! Services: a value plus a table of its methods, and the type-erased dispatch behind them.

mod context;
pub(crate) mod pool;
mod registry;
mod typed;

pub use context::Context;
pub(crate) use context::{Caller, HangUp};

pub(crate) use registry::{Method, Registry, ServiceEntry};

use std::any::{type_name, Any};
use std::fmt::Display;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::Failure;

/// A decoded argument on its way from the connection's reader to a worker.
pub(crate) type Arg = Box<dyn Any + Send>;
/// A method's reply on its way to the codec.
pub(crate) type Reply = Box<dyn erased_serde::Serialize + Send>;

pub(super) type DecodeFn =
    fn(&mut dyn erased_serde::Deserializer<'_>) -> Result<Arg, erased_serde::Error>;
pub(super) type CallFn = Box<dyn Fn(&Context, Arg) -> Result<Reply, Failure> + Send + Sync>;

/// A value whose methods can be called remotely, built with [`Service::method`] and handed to
/// [`Server::register`](crate::Server::register).
///
/// A method is any `Fn(&T, A) -> Result<R, E>`: its argument `A` is decoded from the request,
/// its reply `R` is encoded into the response, and an error `E` reaches the client as its
/// `Display` text (and then no reply is sent), as in Go.
///
/// ```
/// use netrpc::Service;
///
/// struct Counter;
///
/// impl Counter {
///     fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
///         a.checked_add(b).ok_or_else(|| "overflow".to_string())
///     }
/// }
///
/// let service = Service::new(Counter).method("Add", Counter::add);
/// assert_eq!(service.name(), "Counter");
/// ```
pub struct Service<T> {
    receiver: Arc<T>,
    /// Set by [`Service::named`]; otherwise the service is named after `T`.
    name: Option<&'static str>,
    pub(super) methods: Vec<MethodSpec>,
}

/// A method as [`Service::method`] describes it, before it is registered.
pub(super) struct MethodSpec {
    pub(super) name: String,
    pub(super) arg_type: &'static str,
    pub(super) reply_type: &'static str,
    pub(super) decode: DecodeFn,
    pub(super) call: CallFn,
}

impl<T: Send + Sync + 'static> Service<T> {
    /// A service around `receiver`, with no methods yet.
    pub fn new(receiver: T) -> Self {
        Service {
            receiver: Arc::new(receiver),
            name: None,
            methods: Vec::new(),
        }
    }

    /// Names the service `name` for [`Server::register`](crate::Server::register) and
    /// [`Client::register`](crate::Client::register), whatever the type of its value, as a
    /// [`#[service]`](crate::service) trait's service is named after the trait.
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Adds a method, called remotely as `"Service.name"`.
    pub fn method<A, R, E, F>(self, name: &str, method: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Display,
        F: Fn(&T, A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.method_with_context(name, move |receiver, _: &Context, arg| {
            method(receiver, arg)
        })
    }

    /// Adds a method that takes the call's [`Context`] before its argument: who called, and a
    /// channel that tells when the caller is gone, for a method that blocks for long.
    pub fn method_with_context<A, R, E, F>(self, name: &str, method: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Display,
        F: Fn(&T, &Context, A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.add_method(name, move |receiver, ctx, arg| {
            method(receiver, ctx, arg).map_err(|e| Failure::from(e.to_string()))
        })
    }

    /// Adds `method`, whose error is a [`Failure`] already.
    fn add_method<A, R, F>(mut self, name: &str, method: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(&T, &Context, A) -> Result<R, Failure> + Send + Sync + 'static,
    {
        let receiver = Arc::clone(&self.receiver);
        let call: CallFn = Box::new(move |ctx: &Context, arg: Arg| {
            let arg = arg.downcast::<A>().map_err(|_| {
                Failure::from("rpc: internal error: argument of the wrong type".to_owned())
            })?;
            Ok(Box::new(method(&receiver, ctx, *arg)?) as Reply)
        });
        self.methods.push(MethodSpec {
            name: name.to_owned(),
            arg_type: type_name::<A>(),
            reply_type: type_name::<R>(),
            decode: decode_arg::<A>,
            call,
        });
        self
    }

    /// The name [`Server::register`](crate::Server::register) gives the service: the one
    /// given to [`Service::named`], or else the name of `T` without its module path or
    /// generic parameters. A service in one of the usual wrappers for shared state (`Arc`,
    /// `Box`, `Mutex`, `RwLock`) is named after the type inside, as Go names a service after
    /// the type its pointer points to.
    pub fn name(&self) -> &'static str {
        self.name
            .unwrap_or_else(|| short_type_name(type_name::<T>()))
    }
}

impl<T> std::fmt::Debug for Service<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<&str> = self.methods.iter().map(|m| m.name.as_str()).collect();
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("type", &type_name::<T>())
            .field("methods", &methods)
            .finish()
    }
}

fn decode_arg<A: DeserializeOwned + Send + 'static>(
    de: &mut dyn erased_serde::Deserializer<'_>,
) -> Result<Arg, erased_serde::Error> {
    Ok(Box::new(erased_serde::deserialize::<A>(de)?))
}

/// Wrappers that name a service after the type inside.
const WRAPPERS: [&str; 4] = ["Arc", "Box", "Mutex", "RwLock"];

/// `a::b::Arith<c::D>` → `Arith`; `alloc::sync::Arc<a::Arith>` → `Arith`.
fn short_type_name(full: &'static str) -> &'static str {
    let mut name = full;
    loop {
        let (base, generics) = match name.split_once('<') {
            Some((base, rest)) => (base, rest.strip_suffix('>')),
            None => (name, None),
        };
        let base = base.rsplit("::").next().unwrap_or(base);
        match generics {
            // `parking_lot`'s `Mutex<RawMutex, T>` has the value last.
            Some(generics) if WRAPPERS.contains(&base) => name = last_argument(generics),
            _ => return base,
        }
    }
}

/// The last of a list of generic arguments, which may have generics of their own.
fn last_argument(arguments: &str) -> &str {
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in arguments.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => start = i + 1,
            _ => {}
        }
    }
    arguments[start..].trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_paths_and_generics() {
        assert_eq!(short_type_name("a::b::Arith"), "Arith");
        assert_eq!(short_type_name("a::Wrapper<b::Inner>"), "Wrapper");
        assert_eq!(short_type_name("i32"), "i32");
        assert_eq!(short_type_name("alloc::sync::Arc<a::Arith>"), "Arith");
        assert_eq!(
            short_type_name("alloc::boxed::Box<std::sync::mutex::Mutex<a::Arith<b::C>>>"),
            "Arith"
        );
        assert_eq!(
            short_type_name("lock_api::mutex::Mutex<parking_lot::raw_mutex::RawMutex, a::Arith>"),
            "Arith"
        );
    }
}
