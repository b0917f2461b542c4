//! A typed trait over part of Neovim's API, called on a real Neovim with positional params,
//! and a typed service Neovim calls back with positional params of its own.

use std::fmt;

use netrpc::rmpv::Value;
use netrpc::Context;
use serde::{Deserialize, Serialize};

use crate::common::nvim::Nvim;

/// Neovim's error: `[code, message]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct NvimError(i64, String);

impl fmt::Display for NvimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.1, self.0)
    }
}

/// Part of Neovim's API, whose methods have bare names as written.
#[netrpc::service(name = "", rename_all = "snake_case")]
pub trait NvimApi {
    /// `[channel, metadata]`; no parameters, so `params` is `[]`.
    fn nvim_get_api_info(&self) -> Result<(i64, Value), NvimError>;
    fn nvim_eval(&self, expr: String) -> Result<Value, NvimError>;
    fn nvim_call_function(&self, name: String, args: Vec<Value>) -> Result<Value, NvimError>;
    fn nvim_buf_set_lines(
        &self,
        buffer: i64,
        start: i64,
        end: i64,
        strict: bool,
        lines: Vec<String>,
    ) -> Result<(), NvimError>;
    fn nvim_buf_get_lines(
        &self,
        buffer: i64,
        start: i64,
        end: i64,
        strict: bool,
    ) -> Result<Vec<String>, NvimError>;
    /// A notification.
    fn nvim_command(&self, command: String);
}

#[test]
fn a_typed_client_drives_neovim_with_positional_params() {
    let Some(nvim) = Nvim::start() else { return };
    let api = NvimApiClient::new(nvim.client());
    let (channel, metadata) = api.nvim_get_api_info().unwrap();
    assert!(channel > 0 && metadata.is_map(), "{channel} {metadata:?}");
    assert_eq!(api.nvim_eval(&"6 * 7".to_owned()).unwrap(), Value::from(42));
    let abs = api
        .nvim_call_function(&"abs".to_owned(), &vec![Value::from(-5)])
        .unwrap();
    assert_eq!(abs, Value::from(5));
    let lines = vec!["hello".to_owned(), "from a typed netrpc".to_owned()];
    api.nvim_buf_set_lines(&0, &0, &-1, &false, &lines).unwrap();
    assert_eq!(api.nvim_buf_get_lines(&0, &0, &-1, &false).unwrap(), lines);
    let first = api.nvim_buf_get_lines_go(&0, &0, &1, &false);
    assert_eq!(first.wait().unwrap(), ["hello"]);
    api.nvim_command(&"let g:typed = 'notified'".to_owned())
        .unwrap();
    assert_eq!(
        api.nvim_eval(&"g:typed".to_owned()).unwrap(),
        Value::from("notified")
    );
    // Neovim's `[code, message]` reads back as the trait's error type.
    let err = api
        .nvim_call_function(&"nvim_no_such".to_owned(), &vec![])
        .unwrap_err();
    let NvimError(_, message) = err.remote::<NvimError>().expect("[code, message]");
    assert!(message.contains("nvim_no_such"), "{message}");
}

/// What the client serves Neovim, by bare names.
#[netrpc::service(name = "", rename_all = "snake_case")]
trait Handler {
    fn add(&self, a: i64, b: i64) -> Result<i64, String>;
    fn greet(&self, ctx: &Context, name: String) -> Result<String, String>;
}

struct Greeter;

impl Handler for Greeter {
    fn add(&self, a: i64, b: i64) -> Result<i64, String> {
        Ok(a + b)
    }

    fn greet(&self, ctx: &Context, name: String) -> Result<String, String> {
        Ok(format!("hello {name}, from {}", ctx.service_method()))
    }
}

#[test]
fn neovim_calls_a_typed_service_with_positional_params() {
    let Some(nvim) = Nvim::start() else { return };
    let client = nvim.client();
    client.register_methods(Greeter.into_service()).unwrap();
    let api = NvimApiClient::new(client);
    let (channel, _) = api.nvim_get_api_info().unwrap();
    // Neovim sends params [2, 3], which the server decodes into `add`'s two parameters.
    let sum = api
        .nvim_eval(&format!("rpcrequest({channel}, 'add', 2, 3)"))
        .unwrap();
    assert_eq!(sum, Value::from(5));
    let greeting = api
        .nvim_eval(&format!("rpcrequest({channel}, 'greet', 'nvim')"))
        .unwrap();
    assert_eq!(greeting, Value::from("hello nvim, from greet"));
}
