//! The services a server (or a client, for its peer) has registered, and the methods a
//! request is looked up among.

use std::any::type_name;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde::de::Error as _;

use super::pool::Hint;
use super::{Arg, CallFn, Context, DecodeFn, Reply, Service};
use crate::codec::Failure;
use crate::error::RegisterError;
use crate::hash::FastMap;
use crate::panic::panic_message;
use crate::telemetry::{self, MethodMetrics, Outcome};

/// The services a server has registered, by name.
#[derive(Default)]
pub(crate) struct Registry {
    services: RwLock<FastMap<String, Arc<ServiceEntry>>>,
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
    pub(crate) methods: FastMap<String, Arc<Method>>,
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
        let mut methods =
            FastMap::with_capacity_and_hasher(service.methods.len(), Default::default());
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
                arg_type: spec.arg_type,
                reply_type: spec.reply_type,
                decode: spec.decode,
                call: spec.call,
                calls: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                busy_nanos: AtomicU64::new(0),
                longest_nanos: AtomicU64::new(0),
                hint: Arc::default(),
                metrics: MethodMetrics::new(&full_name),
                name: full_name,
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
    /// Calls that returned an error or panicked.
    errors: AtomicU64,
    /// Time spent in the method, all calls together, and the longest call, in nanoseconds.
    busy_nanos: AtomicU64,
    longest_nanos: AtomicU64,
    /// Whether the method's calls block, as the worker pool has seen them.
    pub(crate) hint: Arc<Hint>,
    pub(crate) metrics: MethodMetrics,
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

    /// Runs the method for the caller `ctx` tells of, in a span of its own, and counts it. A
    /// panic becomes an error, so the worker and the connection survive it.
    pub(crate) fn invoke(&self, ctx: &Context, arg: Arg) -> Result<Reply, Failure> {
        let span = if telemetry::spans_seen() {
            tracing::debug_span!(
                "rpc.server.call",
                rpc.system = telemetry::system(ctx.wire()),
                rpc.service = self.metrics.service(),
                rpc.method = self.metrics.method(),
                net.peer = ctx.peer(),
                seq = ctx.seq(),
                outcome = tracing::field::Empty,
                duration_us = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        let _in_span = span.enter();
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (self.call)(ctx, arg)));
        let took = started.elapsed();
        let (outcome, result) = match result {
            Ok(Ok(reply)) => (Outcome::Ok, Ok(reply)),
            Ok(Err(error)) => (Outcome::Error, Err(error)),
            Err(payload) => {
                let error = format!(
                    "rpc: method {} panicked: {}",
                    self.name,
                    panic_message(&*payload)
                );
                tracing::error!("{error}");
                (Outcome::Panic, Err(Failure::from(error)))
            }
        };
        self.count(outcome, took);
        self.metrics.on(ctx.wire()).ran(outcome, took);
        telemetry::close_span(&span, outcome, took);
        result
    }

    /// Keeps the figures of the debug page.
    fn count(&self, outcome: Outcome, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if outcome != Outcome::Ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.longest_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// How many of its calls returned an error or panicked.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The time its calls took on average, and the longest; zero before the first.
    pub(crate) fn latency(&self) -> (Duration, Duration) {
        let calls = self.calls().max(1);
        (
            Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed) / calls),
            Duration::from_nanos(self.longest_nanos.load(Ordering::Relaxed)),
        )
    }

    /// How many times the method was called.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;

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
