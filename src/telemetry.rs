//! What netrpc tells the `metrics` facade: the names (OpenTelemetry's RPC conventions, as
//! Prometheus spells them), and handles resolved once per method, wire, server or client, so
//! that a call costs a few atomic operations, and next to nothing with no recorder installed.
//!
//! Handles are resolved from the recorder installed when they are first used: install it
//! before the first call.

use std::sync::{Once, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::wire::Wire;

/// How a call ended, as its metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The method returned a reply.
    Ok,
    /// The method returned an error.
    Error,
    /// The method panicked.
    Panic,
    /// The caller's deadline passed first (client side).
    Timeout,
    /// The call was refused before it ran: an unknown method, an argument that does not
    /// decode, a server shutting down, a client too busy, a request not sent.
    Refused,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Panic,
        Outcome::Timeout,
        Outcome::Refused,
    ];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
        }
    }
}

/// The `rpc_system` label of a wire: OpenTelemetry names the RPC system; netrpc's differ by
/// wire.
pub(crate) fn system(wire: Option<Wire>) -> &'static str {
    match wire {
        Some(Wire::Msgpack) => "msgpack_rpc",
        #[cfg(feature = "gob")]
        Some(Wire::Gob) => "go_net_rpc",
        #[cfg(feature = "json")]
        Some(Wire::Json) => "go_jsonrpc",
        _ => "netrpc",
    }
}

/// Whether a call's span may be seen: a tracing subscriber is installed (it then chooses span
/// by span), or, with none, a `log` logger takes debug records (tracing's `log` feature).
/// Where neither, a span is not made: a disabled one still costs its fields on every call.
pub(crate) fn spans_seen() -> bool {
    tracing::dispatcher::has_been_set() || log_takes_debug()
}

/// Whether, with no subscriber installed, tracing would hand a span's records to `log`.
fn log_sees_spans() -> bool {
    !tracing::dispatcher::has_been_set() && log_takes_debug()
}

fn log_takes_debug() -> bool {
    log::max_level() >= log::LevelFilter::Debug
}

/// Records how a call's span ended: its `outcome` and `duration_us` fields.
pub(crate) fn close_span(span: &tracing::Span, outcome: Outcome, took: Duration) {
    // Finding a field by name costs every call: only where someone may read it.
    if !span.is_disabled() || log_sees_spans() {
        span.record("outcome", outcome.as_str());
        span.record("duration_us", took.as_micros() as u64);
    }
}

/// Index of a wire among the handle sets a method keeps.
fn slot(wire: Option<Wire>) -> usize {
    match wire {
        Some(Wire::Msgpack) => 0,
        #[cfg(feature = "gob")]
        Some(Wire::Gob) => 1,
        #[cfg(feature = "json")]
        Some(Wire::Json) => 2,
        _ => 3,
    }
}

/// Describes every metric once, for recorders that show help text (Prometheus's `# HELP`).
fn describe() {
    static DESCRIBED: Once = Once::new();
    DESCRIBED.call_once(|| {
        metrics::describe_counter!(
            "rpc_server_calls_total",
            "Calls served, by service, method and outcome (ok, error, panic, refused)"
        );
        metrics::describe_histogram!(
            "rpc_server_call_duration_seconds",
            Unit::Seconds,
            "How long methods ran"
        );
        metrics::describe_histogram!(
            "rpc_server_request_size_bytes",
            Unit::Bytes,
            "Sizes of requests as they came on the wire"
        );
        metrics::describe_histogram!(
            "rpc_server_response_size_bytes",
            Unit::Bytes,
            "Sizes of responses as they left on the wire"
        );
        metrics::describe_gauge!("rpc_server_connections", "Connections a server is serving");
        metrics::describe_gauge!(
            "rpc_server_calls_in_flight",
            "Calls a server has read and not yet answered"
        );
        metrics::describe_gauge!(
            "netrpc_pool_threads",
            "Worker threads of a pool, busy or idle"
        );
        metrics::describe_gauge!(
            "netrpc_pool_queued_calls",
            "Calls waiting for a worker thread"
        );
        metrics::describe_counter!(
            "rpc_client_calls_total",
            "Calls a client made, by outcome (ok, error, timeout, refused)"
        );
        metrics::describe_histogram!(
            "rpc_client_call_duration_seconds",
            Unit::Seconds,
            "How long client calls took, from sending to completing"
        );
        metrics::describe_gauge!(
            "rpc_client_calls_in_flight",
            "Calls a client has sent and not yet completed"
        );
    });
}

/// A method's metrics, resolved per wire at its first call over it.
#[derive(Debug, Default)]
pub(crate) struct MethodMetrics {
    service: String,
    method: String,
    by_wire: [OnceLock<MethodHandles>; 4],
}

/// The handles of one method over one wire.
#[derive(Debug)]
pub(crate) struct MethodHandles {
    calls: [Counter; 5],
    duration: Histogram,
    request_size: Histogram,
    response_size: Histogram,
}

impl MethodMetrics {
    /// The metrics of `service_method` (`"Service.Method"`, or a bare method name).
    pub(crate) fn new(service_method: &str) -> MethodMetrics {
        let (service, method) = service_method
            .rsplit_once('.')
            .unwrap_or(("", service_method));
        MethodMetrics {
            service: service.to_owned(),
            method: method.to_owned(),
            by_wire: Default::default(),
        }
    }

    /// The service's name, as the `rpc_service` label has it.
    pub(crate) fn service(&self) -> &str {
        &self.service
    }

    /// The method's name, as the `rpc_method` label has it.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }

    /// The handles for calls over `wire`.
    pub(crate) fn on(&self, wire: Option<Wire>) -> &MethodHandles {
        self.by_wire[slot(wire)].get_or_init(|| {
            describe();
            let labels = [
                ("rpc_system", system(wire).to_owned()),
                ("rpc_service", self.service.clone()),
                ("rpc_method", self.method.clone()),
            ];
            MethodHandles {
                calls: Outcome::ALL.map(|outcome| {
                    let mut labels = labels.to_vec();
                    labels.push(("outcome", outcome.as_str().to_owned()));
                    metrics::counter!("rpc_server_calls_total", &labels)
                }),
                duration: metrics::histogram!("rpc_server_call_duration_seconds", &labels),
                request_size: metrics::histogram!("rpc_server_request_size_bytes", &labels),
                response_size: metrics::histogram!("rpc_server_response_size_bytes", &labels),
            }
        })
    }
}

impl MethodHandles {
    /// Counts a call that ran for `took` and ended as `outcome`.
    pub(crate) fn ran(&self, outcome: Outcome, took: Duration) {
        self.calls[outcome as usize].increment(1);
        self.duration.record(took.as_secs_f64());
    }

    /// Counts a call refused before it ran.
    pub(crate) fn refused(&self) {
        self.calls[Outcome::Refused as usize].increment(1);
    }

    /// Notes the size of a request as it came.
    pub(crate) fn request_size(&self, bytes: usize) {
        if bytes > 0 {
            self.request_size.record(bytes as f64);
        }
    }

    /// Notes the size of a response as it left.
    pub(crate) fn response_size(&self, bytes: usize) {
        self.response_size.record(bytes as f64);
    }
}

/// The handles of calls to methods no one registered: one set, whatever their names, so that
/// a peer cannot make a metric per name it invents (OpenTelemetry's `_OTHER`).
pub(crate) fn unknown_method() -> &'static MethodMetrics {
    static OTHER: OnceLock<MethodMetrics> = OnceLock::new();
    OTHER.get_or_init(|| MethodMetrics::new("_OTHER._OTHER"))
}

/// A server's gauges.
#[derive(Debug)]
pub(crate) struct ServerGauges {
    pub(crate) connections: Gauge,
    pub(crate) in_flight: Gauge,
}

impl ServerGauges {
    pub(crate) fn new() -> ServerGauges {
        describe();
        ServerGauges {
            connections: metrics::gauge!("rpc_server_connections"),
            in_flight: metrics::gauge!("rpc_server_calls_in_flight"),
        }
    }
}

/// Counts one more on a gauge until it drops.
pub(crate) struct Counted<'a>(&'a Gauge);

impl<'a> Counted<'a> {
    pub(crate) fn new(gauge: &'a Gauge) -> Counted<'a> {
        gauge.increment(1.0);
        Counted(gauge)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// A worker pool's gauges.
#[derive(Debug)]
pub(crate) struct PoolGauges {
    pub(crate) busy: Gauge,
    pub(crate) idle: Gauge,
    pub(crate) queued: Gauge,
}

impl PoolGauges {
    pub(crate) fn new() -> PoolGauges {
        describe();
        PoolGauges {
            busy: metrics::gauge!("netrpc_pool_threads", "state" => "busy"),
            idle: metrics::gauge!("netrpc_pool_threads", "state" => "idle"),
            queued: metrics::gauge!("netrpc_pool_queued_calls"),
        }
    }
}
/// A client's metrics.
#[derive(Debug)]
pub(crate) struct ClientMetrics {
    calls: [Counter; 5],
    duration: Histogram,
    pub(crate) in_flight: Gauge,
}

impl ClientMetrics {
    pub(crate) fn new(wire: Option<Wire>) -> ClientMetrics {
        describe();
        let system = system(wire);
        ClientMetrics {
            calls: Outcome::ALL.map(|outcome| {
                metrics::counter!(
                    "rpc_client_calls_total",
                    "rpc_system" => system,
                    "outcome" => outcome.as_str()
                )
            }),
            duration: metrics::histogram!("rpc_client_call_duration_seconds", "rpc_system" => system),
            in_flight: metrics::gauge!("rpc_client_calls_in_flight", "rpc_system" => system),
        }
    }

    /// Counts a call that took `took` and ended as `outcome`.
    pub(crate) fn completed(&self, outcome: Outcome, took: Duration) {
        self.calls[outcome as usize].increment(1);
        self.duration.record(took.as_secs_f64());
    }
}
