//! A small blocking Neovim remote client: sets a line and reads it back, subscribes to an
//! event, and answers a request Neovim makes, printing each step.
//!
//! Start Neovim listening, then run this against it:
//!
//! ```sh
//! nvim --headless --listen 127.0.0.1:6666 &
//! cargo run --example nvim -- --addr 127.0.0.1:6666
//! # or, over a Unix socket: nvim --listen /tmp/nvim.sock, then --socket /tmp/nvim.sock
//! ```

mod common;

use std::error::Error;
use std::time::Duration;

use netrpc::rmpv::Value;
use netrpc::{Client, Ignore, Params, Service};

/// What this client offers Neovim: `rpcrequest(chan, "Add", a, b)`.
struct Handler;

impl Handler {
    fn add(&self, (a, b): (i64, i64)) -> Result<i64, String> {
        Ok(a + b)
    }
}

const USAGE: &str = "usage: nvim --addr HOST:PORT | --socket PATH

Talks to the Neovim listening there: sets a line and reads it back, subscribes to an event,
and answers a request Neovim makes.";

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["addr", "socket"], &[]);
    let builder = Client::builder().timeout(Some(Duration::from_secs(10)));
    let nvim = match (args.flag("addr"), args.flag("socket")) {
        (Some(addr), _) => builder.dial(&addr)?,
        #[cfg(unix)]
        (None, Some(path)) => builder.dial_unix(&path)?,
        _ => return Err(USAGE.into()),
    };
    nvim.register_methods(Service::new(Handler).method("Add", Handler::add))?;
    let events = nvim.notifications();

    // No arguments: params [].
    let info: Vec<Value> = nvim.call("nvim_get_api_info", &Params(()))?;
    let chan = info[0]
        .as_i64()
        .ok_or("no channel id in nvim_get_api_info")?;
    println!("connected to Neovim as channel {chan}");

    // Several arguments: params [0, 0, -1, false, [...]].
    let Ignore = nvim.call(
        "nvim_buf_set_lines",
        &Params((0, 0, -1, false, ["hello from netrpc"])),
    )?;
    let lines: Vec<String> = nvim.call("nvim_buf_get_lines", &Params((0, 0, -1, false)))?;
    println!("buffer line 1: {:?}", lines[0]);

    // A subscription: Neovim notifies this channel.
    let command = format!("call rpcnotify({chan}, 'netrpc_event', 'it works')");
    let Ignore = nvim.call("nvim_command", &Params((command,)))?;
    let event = events.recv_timeout(Duration::from_secs(10))?;
    println!("event {}: {}", event.method, event.params);

    // A request from Neovim, answered by Handler::add while this call waits.
    let expr = format!("rpcrequest({chan}, 'Add', 2, 3)");
    let sum: i64 = nvim.call("nvim_eval", &Params((expr,)))?;
    println!("Neovim asked us for Add(2, 3) and got {sum}");

    nvim.close()?;
    Ok(())
}
