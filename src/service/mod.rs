//! Services: a value plus a table of its methods, and the type-erased dispatch behind them.

pub(crate) mod pool;

use std::any::{type_name, Any};
use std::collections::HashMap;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;

use serde::de::Error as _;

use crate::error::RegisterError;
use crate::panic::panic_message;
use crate::service::pool::Hint;

/// A decoded argument on its way from the connection's reader to a worker.
pub(crate) type Arg = Box<dyn Any + Send>;
/// A method's reply on its way to the codec.
pub(crate) type Reply = Box<dyn erased_serde::Serialize + Send>;

type DecodeFn = fn(&mut dyn erased_serde::Deserializer<'_>) -> Result<Arg, erased_serde::Error>;
type CallFn = Box<dyn Fn(Arg) -> Result<Reply, String> + Send + Sync>;

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
    methods: Vec<MethodSpec>,
}

struct MethodSpec {
    name: String,
    arg_type: &'static str,
    reply_type: &'static str,
    decode: DecodeFn,
    call: CallFn,
}

impl<T: Send + Sync + 'static> Service<T> {
    /// A service around `receiver`, with no methods yet.
    pub fn new(receiver: T) -> Self {
        Service {
            receiver: Arc::new(receiver),
            methods: Vec::new(),
        }
    }

    /// Adds a method, called remotely as `"Service.name"`.
    pub fn method<A, R, E, F>(mut self, name: &str, method: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Display,
        F: Fn(&T, A) -> Result<R, E> + Send + Sync + 'static,
    {
        let receiver = Arc::clone(&self.receiver);
        let call: CallFn = Box::new(move |arg: Arg| {
            let arg = arg
                .downcast::<A>()
                .map_err(|_| "rpc: internal error: argument of the wrong type".to_owned())?;
            match method(&receiver, *arg) {
                Ok(reply) => Ok(Box::new(reply) as Reply),
                Err(e) => Err(e.to_string()),
            }
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

    /// The name [`Server::register`](crate::Server::register) gives the service: the name of
    /// `T` without its module path or generic parameters. A service in one of the usual
    /// wrappers for shared state (`Arc`, `Box`, `Mutex`, `RwLock`) is named after the type
    /// inside, as Go names a service after the type its pointer points to.
    pub fn name(&self) -> &'static str {
        short_type_name(type_name::<T>())
    }
}

impl<T> std::fmt::Debug for Service<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<&str> = self.methods.iter().map(|m| m.name.as_str()).collect();
        f.debug_struct("Service")
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

/// The services a server has registered, by name.
#[derive(Default)]
pub(crate) struct Registry {
    services: RwLock<HashMap<String, Arc<ServiceEntry>>>,
}

impl Registry {
    /// Registers `service` under `name`, as Go's `RegisterName` does.
    pub(crate) fn register<T: Send + Sync + 'static>(
        &self,
        name: &str,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        self.insert(ServiceEntry::new(name, service)?)
    }

    /// Registers the methods of `service` under their bare names (see [`ServiceEntry::root`]),
    /// beside those registered so before; a name taken already is an error.
    pub(crate) fn register_root<T: Send + Sync + 'static>(
        &self,
        service: Service<T>,
    ) -> Result<(), RegisterError> {
        let mut entry = ServiceEntry::root(service)?;
        let mut services = self.services.write();
        if let Some(before) = services.get(&entry.name) {
            if let Some(taken) = entry
                .methods
                .keys()
                .find(|m| before.methods.contains_key(*m))
            {
                return Err(RegisterError::DuplicateMethod(taken.clone()));
            }
            entry.methods.extend(
                before
                    .methods
                    .iter()
                    .map(|(name, method)| (name.clone(), Arc::clone(method))),
            );
        }
        services.insert(entry.name.clone(), Arc::new(entry));
        Ok(())
    }

    fn insert(&self, entry: ServiceEntry) -> Result<(), RegisterError> {
        let mut services = self.services.write();
        if services.contains_key(&entry.name) {
            return Err(RegisterError::Duplicate(entry.name));
        }
        services.insert(entry.name.clone(), Arc::new(entry));
        Ok(())
    }

    /// Finds the method for `"Service.Method"`, or the error text Go sends.
    pub(crate) fn lookup(&self, service_method: &str) -> Result<Arc<Method>, String> {
        let services = self.services.read();
        let Some((service, method)) = service_method.rsplit_once('.') else {
            // A bare name: a method registered with `register_root`, or Go's complaint.
            return services
                .get("")
                .and_then(|root| root.methods.get(service_method).cloned())
                .ok_or_else(|| {
                    format!("rpc: service/method request ill-formed: {service_method}")
                });
        };
        let Some(service) = services.get(service) else {
            return Err(format!("rpc: can't find service {service_method}"));
        };
        service
            .methods
            .get(method)
            .cloned()
            .ok_or_else(|| format!("rpc: can't find method {service_method}"))
    }

    /// The registered services, sorted by name (the bare-named methods first).
    pub(crate) fn services(&self) -> Vec<Arc<ServiceEntry>> {
        let mut services: Vec<_> = self.services.read().values().cloned().collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        services
    }
}

/// A registered service, as the server keeps it.
pub(crate) struct ServiceEntry {
    pub(crate) name: String,
    pub(crate) methods: HashMap<String, Arc<Method>>,
}

impl ServiceEntry {
    /// Checks `service` as Go's `Register` does and names it `name`.
    pub(crate) fn new<T: Send + Sync + 'static>(
        name: &str,
        service: Service<T>,
    ) -> Result<ServiceEntry, RegisterError> {
        if name.is_empty() {
            return Err(RegisterError::NoName(type_name::<T>().to_owned()));
        }
        Self::named(name, service)
    }

    /// A service whose methods are called by their bare names (`"Add"`), as MessagePack-RPC
    /// peers such as Neovim call them.
    pub(crate) fn root<T: Send + Sync + 'static>(
        service: Service<T>,
    ) -> Result<ServiceEntry, RegisterError> {
        Self::named("", service)
    }

    fn named<T: Send + Sync + 'static>(
        name: &str,
        service: Service<T>,
    ) -> Result<ServiceEntry, RegisterError> {
        if service.methods.is_empty() {
            let name = if name.is_empty() {
                service.name()
            } else {
                name
            };
            return Err(RegisterError::NoMethods(name.to_owned()));
        }
        let mut methods = HashMap::with_capacity(service.methods.len());
        for spec in service.methods {
            let full_name = match name {
                "" => spec.name.clone(),
                name => format!("{name}.{}", spec.name),
            };
            if spec.name.is_empty() || spec.name.contains('.') {
                return Err(RegisterError::InvalidMethod(full_name));
            }
            if methods.contains_key(&spec.name) {
                return Err(RegisterError::DuplicateMethod(full_name));
            }
            let method = Method {
                name: full_name,
                arg_type: spec.arg_type,
                reply_type: spec.reply_type,
                decode: spec.decode,
                call: spec.call,
                calls: AtomicU64::new(0),
                hint: Arc::default(),
            };
            methods.insert(spec.name, Arc::new(method));
        }
        Ok(ServiceEntry {
            name: name.to_owned(),
            methods,
        })
    }
}

/// One callable method of a registered service.
pub(crate) struct Method {
    /// `"Service.Method"`.
    pub(crate) name: String,
    pub(crate) arg_type: &'static str,
    pub(crate) reply_type: &'static str,
    decode: DecodeFn,
    call: CallFn,
    calls: AtomicU64,
    /// Whether the method's calls block, as the worker pool has seen them.
    pub(crate) hint: Arc<Hint>,
}

impl Method {
    /// Decodes an argument of this method's type. A `Deserialize` that panics is an error
    /// for this call only.
    pub(crate) fn decode(
        &self,
        de: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<Arg, erased_serde::Error> {
        catch_unwind(AssertUnwindSafe(|| (self.decode)(de))).unwrap_or_else(|payload| {
            Err(erased_serde::Error::custom(format_args!(
                "the argument's Deserialize panicked: {}",
                panic_message(&*payload)
            )))
        })
    }

    /// Runs the method. A panic becomes an error, so the worker and the connection survive it.
    pub(crate) fn invoke(&self, arg: Arg) -> Result<Reply, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        catch_unwind(AssertUnwindSafe(|| (self.call)(arg))).unwrap_or_else(|payload| {
            Err(format!(
                "rpc: method {} panicked: {}",
                self.name,
                panic_message(&*payload)
            ))
        })
    }

    /// How many times the method was called.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
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

    struct Calc;

    impl Calc {
        fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
            Ok(a + b)
        }
    }

    #[test]
    fn bare_methods_may_be_registered_in_parts_but_once_each() {
        let registry = Registry::default();
        registry
            .register_root(Service::new(Calc).method("Add", Calc::add))
            .unwrap();
        registry
            .register_root(Service::new(Calc).method("Sum", Calc::add))
            .unwrap();
        assert!(registry.lookup("Add").is_ok() && registry.lookup("Sum").is_ok());
        assert_eq!(
            registry.register_root(Service::new(Calc).method("Add", Calc::add)),
            Err(RegisterError::DuplicateMethod("Add".to_owned()))
        );
        assert!(registry.lookup("Sum").is_ok());
    }
}
