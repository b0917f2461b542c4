//! Who sees a call's span. Spans are made only where someone may see them: with neither a
//! tracing subscriber nor a `log` logger, none; a `log` logger at debug, with no subscriber,
//! sees each span end with its outcome (tracing's `log` feature); a subscriber installed
//! after calls have run sees the later calls'. In a test binary of its own, because whether a
//! logger or a subscriber was ever installed is the process's, and the other tests install a
//! subscriber first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use netrpc::{Client, Server, Service};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A `log` logger that keeps every record's text.
struct Logged(Mutex<Vec<String>>);

impl log::Log for Logged {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static LOGGED: Logged = Logged(Mutex::new(Vec::new()));

/// A subscriber that keeps the spans' names and the outcomes recorded on them.
#[derive(Default)]
struct Kept {
    next: AtomicU64,
    names: Mutex<Vec<(u64, &'static str)>>,
    outcomes: Mutex<Vec<(u64, String)>>,
}

struct Outcome<'a>(&'a mut Option<String>);

impl Visit for Outcome<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "outcome" {
            *self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "outcome" {
            *self.0 = Some(value.to_owned());
        }
    }
}

impl Subscriber for &'static Kept {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.names
            .lock()
            .unwrap()
            .push((id, span.metadata().name()));
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut outcome = None;
        values.record(&mut Outcome(&mut outcome));
        if let Some(outcome) = outcome {
            self.outcomes
                .lock()
                .unwrap()
                .push((span.into_u64(), outcome));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

struct Echo;

#[test]
fn a_call_s_span_reaches_whoever_may_see_it() {
    let server = Server::new();
    server
        .register_name(
            "Echo",
            Service::new(Echo).method("Say", |_: &Echo, n: i64| Ok::<_, String>(n)),
        )
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || server.accept(&listener));
    let client = Client::dial(addr).unwrap();
    // Nobody listens: calls run, and no span is made.
    assert_eq!(client.call::<_, i64>("Echo.Say", &6).unwrap(), 6);

    // A log logger at debug, and still no subscriber.
    log::set_logger(&LOGGED).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    assert_eq!(client.call::<_, i64>("Echo.Say", &7).unwrap(), 7);
    let logged = LOGGED.0.lock().unwrap().clone();
    for span in ["rpc.server.call", "rpc.client.call"] {
        assert!(
            logged
                .iter()
                .any(|text| text.starts_with(span) && text.contains("outcome=\"ok\"")),
            "no end of {span} among {logged:#?}"
        );
    }

    // A subscriber, installed after all that.
    let kept: &'static Kept = Box::leak(Box::default());
    tracing::subscriber::set_global_default(kept).unwrap();
    assert_eq!(client.call::<_, i64>("Echo.Say", &8).unwrap(), 8);
    let names = kept.names.lock().unwrap().clone();
    let outcomes = kept.outcomes.lock().unwrap().clone();
    for span in ["rpc.server.call", "rpc.client.call"] {
        let ids: Vec<u64> = names
            .iter()
            .filter(|(_, name)| *name == span)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(ids.len(), 1, "{span} among {names:?}");
        assert!(
            outcomes.iter().any(|(id, o)| *id == ids[0] && o == "ok"),
            "{span}'s outcome among {outcomes:?}"
        );
    }
}
