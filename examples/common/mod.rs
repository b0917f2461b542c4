//! The `Arith` and `Echo` services of Go's `net/rpc` documentation, shared by the examples,
//! a small command-line flag reader, and the logger that shows netrpc's warnings.

#![allow(dead_code)] // Each example uses its own part of this module.

use std::convert::Infallible;

use netrpc::{RegisterError, Server, Service};
use serde::{Deserialize, Serialize};

/// The arguments of `Arith.Multiply` and `Arith.Divide`; the field names are Go's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Args {
    #[serde(rename = "A")]
    pub a: i64,
    #[serde(rename = "B")]
    pub b: i64,
}

/// The reply of `Arith.Divide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quotient {
    #[serde(rename = "Quo")]
    pub quo: i64,
    #[serde(rename = "Rem")]
    pub rem: i64,
}

pub struct Arith;

impl Arith {
    pub fn multiply(&self, args: Args) -> Result<i64, Infallible> {
        Ok(args.a.wrapping_mul(args.b)) // Go's int arithmetic wraps
    }

    pub fn divide(&self, args: Args) -> Result<Quotient, &'static str> {
        if args.b == 0 {
            return Err("divide by zero");
        }
        match (args.a.checked_div(args.b), args.a.checked_rem(args.b)) {
            (Some(quo), Some(rem)) => Ok(Quotient { quo, rem }),
            _ => Err("integer overflow"),
        }
    }
}

/// Returns its argument unchanged, whatever value it is.
pub struct Echo;

impl Echo {
    pub fn echo(&self, value: rmpv::Value) -> Result<Echoed, Infallible> {
        Ok(Echoed(value))
    }
}

/// A value sent back as it came. A map whose keys are all strings goes back as a struct with
/// those fields: MessagePack and JSON send it as the same map, and Go's gob, which tells
/// structs from maps, needs Go's `EchoReply` to be a struct.
pub struct Echoed(pub rmpv::Value);

impl Serialize for Echoed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EchoedRef(&self.0).serialize(serializer)
    }
}

struct EchoedRef<'a>(&'a rmpv::Value);

impl Serialize for EchoedRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};
        match self.0 {
            rmpv::Value::Map(entries) => {
                let names: Option<Vec<&'static str>> = entries
                    .iter()
                    .map(|(k, _)| k.as_str().and_then(field_name))
                    .collect();
                let Some(names) = names else {
                    return self.0.serialize(serializer);
                };
                let mut st = serializer.serialize_struct("Echo", entries.len())?;
                for (name, (_, v)) in names.into_iter().zip(entries) {
                    st.serialize_field(name, &EchoedRef(v))?;
                }
                st.end()
            }
            rmpv::Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&EchoedRef(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// `name` as a `&'static str` for a struct field, from a table of at most 1,024 names
/// (serde names fields statically); `None` once it is full.
fn field_name(name: &str) -> Option<&'static str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = names.get(name) {
        return Some(known);
    }
    if names.len() >= 1024 {
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}

/// The argument of `Work.Sleep`; the field name is Go's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SleepArgs {
    #[serde(rename = "Micros")]
    pub micros: u64,
}

/// Stands in for a method that blocks (a database query, a file read, a call to another
/// service): `Sleep` waits `Micros` microseconds and returns `Micros`.
pub struct Work;

impl Work {
    pub fn sleep(&self, args: SleepArgs) -> Result<u64, Infallible> {
        std::thread::sleep(std::time::Duration::from_micros(args.micros));
        Ok(args.micros)
    }
}

/// Registers `Arith`, `Echo` and `Work` on `server`.
/// Prints what netrpc logs at `RUST_LOG`'s level (`off`, `error`, `warn`, `info`, `debug`,
/// `trace`), warnings by default: a connection at its limit, a call it could not answer, a
/// thread the system refused. Any `tracing` subscriber, or any `log` logger, would do as well.
pub fn show_logs() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|level| level.parse().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::WARN);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
}

pub fn register(server: &Server) -> Result<(), RegisterError> {
    server.register(
        Service::new(Arith)
            .method("Multiply", Arith::multiply)
            .method("Divide", Arith::divide),
    )?;
    server.register(Service::new(Echo).method("Echo", Echo::echo))?;
    server.register(Service::new(Work).method("Sleep", Work::sleep))
}

/// The command line of an example, read once: `--name VALUE` or `--name=VALUE` flags, and
/// `--name` switches.
pub struct CommandLine {
    /// Each flag given, with its last value, as Go's `flag` package takes it.
    flags: std::collections::HashMap<String, String>,
    switches: Vec<String>,
}

impl CommandLine {
    /// Reads the command line against what the example takes: `flags` and `switches`.
    /// `--help` prints `usage` and exits; anything else, or a flag without its value, prints
    /// what is wrong and `usage`, and exits with 2.
    pub fn read(usage: &str, flags: &[&str], switches: &[&str]) -> CommandLine {
        let mut line = CommandLine {
            flags: Default::default(),
            switches: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let name = arg.strip_prefix("--").unwrap_or_default();
            let (name, inline_value) = match name.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (name, None),
            };
            let wrong = if flags.contains(&name) {
                let value = inline_value.or_else(|| args.next().filter(|v| !v.starts_with("--")));
                match value {
                    Some(value) => {
                        line.flags.insert(name.to_owned(), value);
                        None
                    }
                    None => Some(format!("{arg} needs a value")),
                }
            } else if switches.contains(&name) && inline_value.is_none() {
                line.switches.push(name.to_owned());
                None
            } else {
                Some(format!("unexpected argument {arg:?}"))
            };
            if let Some(wrong) = wrong {
                eprintln!("error: {wrong}\n\n{usage}");
                std::process::exit(2);
            }
        }
        line
    }

    /// The value of the flag `--name`, if it was given.
    pub fn flag(&self, name: &str) -> Option<String> {
        self.flags.get(name).cloned()
    }

    /// Whether the switch `--name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}
