//! What a call tells the `tracing` and `metrics` facades: the spans and events it makes, read
//! by a test subscriber, and the metrics it moves, read from a test recorder. In a binary of
//! its own: both are installed for the whole process, and each test reads only the figures of
//! a service of its own.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use netrpc::{Client, Error, Server, Service};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use common::WAIT;

/// A span as it closed, or an event: its name and fields.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: String,
    fields: HashMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl Visit for Seen {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps every span's fields until it closes, then files it with the events.
#[derive(Default)]
struct Keep {
    open: Mutex<HashMap<u64, Seen>>,
    closed: Mutex<Vec<Seen>>,
    events: Mutex<Vec<Seen>>,
}

struct KeepLayer(Arc<Keep>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for KeepLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name().to_owned(),
            ..Seen::default()
        };
        attrs.record(&mut seen);
        self.0.open.lock().unwrap().insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(seen) = self.0.open.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(seen);
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut seen = Seen {
            name: event.metadata().name().to_owned(),
            ..Seen::default()
        };
        event.record(&mut seen);
        self.0.events.lock().unwrap().push(seen);
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        if let Some(seen) = self.0.open.lock().unwrap().remove(&id.into_u64()) {
            self.0.closed.lock().unwrap().push(seen);
        }
    }
}

/// A recorder that keeps every figure, for tests to read as often as they like.
#[derive(Clone)]
struct Figures(Arc<Registry<Key, AtomicStorage>>);

impl Recorder for Figures {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

/// The subscriber and the recorder, installed once for this process.
fn installed() -> &'static (Arc<Keep>, Figures) {
    static INSTALLED: OnceLock<(Arc<Keep>, Figures)> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let keep = Arc::new(Keep::default());
        let subscriber = tracing_subscriber::registry().with(KeepLayer(Arc::clone(&keep)));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        let figures = Figures(Arc::new(Registry::atomic()));
        metrics::set_global_recorder(figures.clone()).unwrap();
        (keep, figures)
    })
}

/// The closed spans named `name` whose `field` is `value`.
fn spans(name: &str, field: &str, value: &str) -> Vec<Seen> {
    let keep = &installed().0;
    keep.closed
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name == name && s.field(field) == Some(value))
        .cloned()
        .collect()
}

/// Whether `key` is named `name` and has each of `labels`.
fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name
        && labels
            .iter()
            .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

/// The sum of the counters `name` with `labels`.
fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    let figures = &installed().1 .0;
    figures
        .get_counter_handles()
        .into_iter()
        .filter(|(key, _)| matches(key, name, labels))
        .map(|(_, c)| c.load(std::sync::atomic::Ordering::SeqCst))
        .sum()
}

/// The sum of the gauges `name` with `labels`.
fn gauge(name: &str, labels: &[(&str, &str)]) -> f64 {
    let figures = &installed().1 .0;
    figures
        .get_gauge_handles()
        .into_iter()
        .filter(|(key, _)| matches(key, name, labels))
        .map(|(_, g)| f64::from_bits(g.load(std::sync::atomic::Ordering::SeqCst)))
        .sum()
}

/// How many samples the histograms `name` with `labels` hold.
fn samples(name: &str, labels: &[(&str, &str)]) -> usize {
    let figures = &installed().1 .0;
    figures
        .get_histogram_handles()
        .into_iter()
        .filter(|(key, _)| matches(key, name, labels))
        .map(|(_, h)| h.data().len())
        .sum()
}

struct Obs;

impl Obs {
    fn ok(&self, n: i64) -> Result<i64, String> {
        Ok(n)
    }

    fn fail(&self, _: i64) -> Result<i64, String> {
        Err("no such luck".to_owned())
    }

    fn panic(&self, _: i64) -> Result<i64, String> {
        panic!("the method broke")
    }

    fn slow(&self, ms: u64) -> Result<u64, String> {
        std::thread::sleep(Duration::from_millis(ms));
        Ok(ms)
    }
}

/// A server with `Obs` registered as `name`.
fn start(name: &str) -> (Server, std::net::SocketAddr) {
    installed();
    let server = Server::new();
    server
        .register_name(
            name,
            Service::new(Obs)
                .method("Ok", Obs::ok)
                .method("Fail", Obs::fail)
                .method("Panic", Obs::panic)
                .method("Slow", Obs::slow),
        )
        .unwrap();
    let addr = common::serve(&server);
    (server, addr)
}

#[test]
fn each_outcome_of_a_call_has_its_span_and_its_count() {
    let (_server, addr) = start("Obs");
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    assert_eq!(client.call::<_, i64>("Obs.Ok", &7).unwrap(), 7);
    assert!(matches!(
        client.call::<_, i64>("Obs.Fail", &7),
        Err(Error::Server(_))
    ));
    assert!(matches!(
        client.call::<_, i64>("Obs.Panic", &7),
        Err(Error::Server(_))
    ));
    let refused = client.call::<_, i64>("Obs.Nope", &7).unwrap_err();
    assert_eq!(refused.to_string(), "rpc: can't find method Obs.Nope");
    let timeout = client.call_timeout::<_, u64>("Obs.Slow", &300u64, Duration::from_millis(50));
    assert!(matches!(timeout, Err(Error::Timeout)), "{timeout:?}");
    std::thread::sleep(Duration::from_millis(400)); // The slow call ends on the server.

    let obs = [("rpc_service", "Obs"), ("rpc_system", "msgpack_rpc")];
    for (method, outcome) in [
        ("Ok", "ok"),
        ("Fail", "error"),
        ("Panic", "panic"),
        ("Slow", "ok"),
    ] {
        let span = spans("rpc.server.call", "rpc.method", method)
            .into_iter()
            .find(|s| s.field("rpc.service") == Some("Obs"))
            .unwrap_or_else(|| panic!("no span for Obs.{method}"));
        assert_eq!(span.field("outcome"), Some(outcome), "{span:?}");
        assert_eq!(span.field("rpc.system"), Some("msgpack_rpc"), "{span:?}");
        assert!(span.field("duration_us").is_some(), "{span:?}");
        assert!(
            span.field("net.peer")
                .is_some_and(|p| p.starts_with("127.0.0.1:")),
            "{span:?}"
        );
        assert!(span.field("seq").is_some(), "{span:?}");
        let labels = [obs[0], obs[1], ("rpc_method", method), ("outcome", outcome)];
        assert_eq!(
            counter("rpc_server_calls_total", &labels),
            1,
            "Obs.{method}"
        );
        let labels = [obs[0], obs[1], ("rpc_method", method)];
        assert_eq!(samples("rpc_server_call_duration_seconds", &labels), 1);
        assert_eq!(samples("rpc_server_request_size_bytes", &labels), 1);
        assert_eq!(samples("rpc_server_response_size_bytes", &labels), 1);
    }
    // The panic is an error event too.
    let events = installed().0.events.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e
            .field("message")
            .is_some_and(|m| m.contains("Obs.Panic panicked: the method broke"))),
        "{events:?}"
    );
    // The client's side of the same calls: a span each, and counts by outcome.
    for (method, outcome) in [
        ("Obs.Ok", "ok"),
        ("Obs.Fail", "error"),
        ("Obs.Panic", "error"),
        ("Obs.Nope", "error"),
        ("Obs.Slow", "timeout"),
    ] {
        let span = spans("rpc.client.call", "rpc.method", method)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no client span for {method}"));
        assert_eq!(span.field("outcome"), Some(outcome), "{span:?}");
        assert!(span.field("duration_us").is_some(), "{span:?}");
    }
    let client_calls = |outcome| {
        counter(
            "rpc_client_calls_total",
            &[("rpc_system", "msgpack_rpc"), ("outcome", outcome)],
        )
    };
    assert!(client_calls("ok") >= 1 && client_calls("error") >= 3 && client_calls("timeout") >= 1);
    assert!(
        samples(
            "rpc_client_call_duration_seconds",
            &[("rpc_system", "msgpack_rpc")]
        ) >= 5
    );
    // A call the client cannot send was refused, not run.
    let refused_before = client_calls("refused");
    client.close().unwrap();
    assert!(matches!(
        client.call::<_, i64>("Obs.Ok", &1),
        Err(Error::Shutdown)
    ));
    assert!(client_calls("refused") > refused_before);

    // An unknown method counts under one name, whatever it was called.
    let unknown = [
        ("rpc_service", "_OTHER"),
        ("rpc_method", "_OTHER"),
        ("outcome", "refused"),
    ];
    assert!(counter("rpc_server_calls_total", &unknown) >= 1);
}

#[test]
fn the_server_s_gauges_follow_its_connections_and_calls() {
    let (server, addr) = start("Gauged");
    let client = Client::builder().timeout(Some(WAIT)).dial(addr).unwrap();
    let call = client.go::<_, u64>("Gauged.Slow", &300u64);
    std::thread::sleep(Duration::from_millis(100));
    // Other tests run beside this one: the figures are at least ours.
    assert!(gauge("rpc_server_connections", &[]) >= 1.0);
    assert!(gauge("rpc_server_calls_in_flight", &[]) >= 1.0);
    assert!(gauge("netrpc_pool_threads", &[("state", "busy")]) >= 1.0);
    assert!(gauge("rpc_client_calls_in_flight", &[]) >= 1.0);
    assert_eq!(call.done.recv_timeout(WAIT).unwrap().result.unwrap(), 300);
    drop(client);
    server.shutdown(WAIT);
}
