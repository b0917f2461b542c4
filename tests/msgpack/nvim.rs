//! netrpc's client against a real Neovim (`nvim --headless --listen`): positional params,
//! notifications and requests from Neovim, and error values that are no strings.
//!
//! Needs `nvim` on the PATH (Debian's `neovim`; `.ci/run` installs it). Without it the tests
//! say so and pass, except under CI, where they fail.

use crate::common;

use std::process::Command;
use std::thread;

use crate::common::nvim::Nvim;
use crate::common::WAIT;
use netrpc::rmpv::Value;
use netrpc::{Client, Error, Ignore, Params, Service};

/// This connection's channel id, which `rpcnotify` and `rpcrequest` take.
fn channel(client: &Client) -> i64 {
    let info: Vec<Value> = client.call("nvim_get_api_info", &Params(())).unwrap();
    info[0].as_i64().expect("a channel id")
}

struct Handler;

impl Handler {
    fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
        Ok(a + b)
    }
}

#[test]
fn calls_with_no_and_with_several_arguments() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    let info: Vec<Value> = client.call("nvim_get_api_info", &Params(())).unwrap();
    assert_eq!(info.len(), 2);
    assert!(info[1].is_map(), "api metadata: {:?}", info[1]);
    let abs: i64 = client
        .call("nvim_call_function", &Params(("abs", [-5])))
        .unwrap();
    assert_eq!(abs, 5);
}

#[test]
fn buffer_lines_set_and_read_back() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    let Ignore = client
        .call(
            "nvim_buf_set_lines",
            &Params((0, 0, -1, false, ["hello", "from netrpc"])),
        )
        .unwrap();
    let lines: Vec<String> = client
        .call("nvim_buf_get_lines", &Params((0, 0, -1, false)))
        .unwrap();
    assert_eq!(lines, ["hello", "from netrpc"]);
}

#[test]
fn a_subscription_reaches_the_client_through_rpcnotify() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    let events = client.notifications();
    let chan = channel(&client);
    let command = format!("call rpcnotify({chan}, 'netrpc_event', 1, 'two')");
    let Ignore = client.call("nvim_command", &Params((command,))).unwrap();
    let event = events.recv_timeout(WAIT).expect("no notification");
    assert_eq!(event.method, "netrpc_event");
    assert_eq!(
        event.params,
        Value::Array(vec![Value::from(1), Value::from("two")])
    );
}

#[test]
fn neovim_calls_a_method_the_client_registered() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    client
        .register_methods(Service::new(Handler).method("Add", Handler::add))
        .unwrap();
    let chan = channel(&client);
    // Neovim blocks in rpcrequest until the client answers, while the client waits on
    // nvim_eval: the answer must not wait on the reader.
    let sum: i64 = client
        .call(
            "nvim_eval",
            &Params((format!("rpcrequest({chan}, 'Add', 2, 3)"),)),
        )
        .unwrap();
    assert_eq!(sum, 5);
    // A method nobody registered is an error in Neovim, and the connection goes on.
    let unknown = client.call::<_, Value>(
        "nvim_eval",
        &Params((format!("rpcrequest({chan}, 'Nope', 1)"),)),
    );
    let text = unknown.expect_err("an unknown method answered").to_string();
    assert!(text.contains("Nope"), "{text}");
    let abs: i64 = client
        .call("nvim_call_function", &Params(("abs", [-9])))
        .unwrap();
    assert_eq!(abs, 9);
}

#[test]
fn a_hundred_concurrent_calls() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    thread::scope(|s| {
        for t in 0..10i64 {
            let client = &client;
            s.spawn(move || {
                for i in 0..10i64 {
                    let n = t * 10 + i;
                    let abs: i64 = client
                        .call("nvim_call_function", &Params(("abs", [-n])))
                        .unwrap();
                    assert_eq!(abs, n);
                }
            });
        }
    });
}

#[test]
fn the_connection_survives_nvim_error_event() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    let events = client.notifications();
    // A notified command that fails: Neovim answers with a notification of its own.
    client
        .notify("nvim_command", &Params(("this_is_no_command",)))
        .unwrap();
    let event = events.recv_timeout(WAIT).expect("no nvim_error_event");
    assert_eq!(event.method, "nvim_error_event");
    let abs: i64 = client
        .call("nvim_call_function", &Params(("abs", [-3])))
        .unwrap();
    assert_eq!(abs, 3);
}

#[test]
fn neovims_error_values_stay_readable() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    match client.call::<_, Value>("nvim_no_such_function", &Params(())) {
        Err(Error::ServerValue { text, value }) => {
            let parts = value.as_array().expect("[code, message]");
            assert!(parts[0].is_i64() || parts[0].is_u64(), "{value:?}");
            let message = parts[1].as_str().unwrap_or_default();
            assert!(message.contains("nvim_no_such_function"), "{message}");
            assert!(text.contains("nvim_no_such_function"), "{text}");
        }
        other => panic!("expected Neovim's [code, message], got {other:?}"),
    }
}

#[test]
fn the_example_talks_to_neovim() {
    let Some(nvim) = Nvim::start() else { return };
    let stdout = common::output_of(
        Command::new(common::example("nvim")).args(["--addr", &nvim.addr.to_string()]),
    );
    common::assert_has_lines(
        &stdout,
        &[
            "buffer line 1: \"hello from netrpc\"",
            "event netrpc_event: [\"it works\"]",
            "Neovim asked us for Add(2, 3) and got 5",
        ],
    );
}
