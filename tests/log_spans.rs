//! An application with a `log` logger and no tracing subscriber still sees each call's span,
//! its outcome included (tracing's `log` feature): in its own test binary, because whether a
//! subscriber was ever installed is the process's, and the other tests install one.

use std::sync::Mutex;

use netrpc::{Client, Server, Service};

/// Keeps every record's text.
struct Keep(Mutex<Vec<String>>);

impl log::Log for Keep {
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

static KEPT: Keep = Keep(Mutex::new(Vec::new()));

struct Echo;

#[test]
fn a_log_logger_sees_each_call_s_span_end_with_its_outcome() {
    log::set_logger(&KEPT).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
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
    assert_eq!(client.call::<_, i64>("Echo.Say", &7).unwrap(), 7);
    let kept = KEPT.0.lock().unwrap().clone();
    for span in ["rpc.server.call", "rpc.client.call"] {
        assert!(
            kept.iter()
                .any(|text| text.starts_with(span) && text.contains("outcome=\"ok\"")),
            "no end of {span} among {kept:#?}"
        );
    }
}
