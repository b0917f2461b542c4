//! `#[netrpc::service]`: one Rust trait gives a blocking client and a server of
//! [netrpc](https://docs.rs/netrpc), on every wire it speaks. Use it through `netrpc` (its
//! default feature `macros`), as `#[netrpc::service]`; the generated code names `::netrpc`.

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

mod expand_client;
mod expand_server;
mod names;
mod parse;

use proc_macro::TokenStream;
use quote::quote;

/// Makes a trait a netrpc service: the trait gains `into_service`, which turns any value that
/// implements it into a `netrpc::Service` to register on a server, and a blocking client,
/// `<Trait>Client`, calls it.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// #[serde(rename_all = "PascalCase")]
/// pub struct Args {
///     pub a: i64,
///     pub b: i64,
/// }
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// #[serde(rename_all = "PascalCase")]
/// pub struct Quotient {
///     pub quo: i64,
///     pub rem: i64,
/// }
///
/// /// Why a division failed: a typed error, which MessagePack-RPC carries as a value.
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// pub enum DivideError {
///     ByZero,
/// }
///
/// impl std::fmt::Display for DivideError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("divide by zero") // what Go's wires carry
///     }
/// }
///
/// #[netrpc::service] // the service `Arith`; `#[netrpc::service(name = "Calc")]` names it
/// pub trait Arith {
///     /// `Arith.Multiply`.
///     fn multiply(&self, args: Args) -> Result<i64, String>;
///     /// `Arith.Divide`, whose error is typed.
///     fn divide(&self, args: Args) -> Result<Quotient, DivideError>;
///     /// `Arith.Add`: several parameters travel as MessagePack-RPC's argument list, `[a, b]`.
///     fn add(&self, a: i64, b: i64) -> Result<i64, String>;
///     /// `Arith.Mul2`, a name of its own.
///     #[netrpc(name = "Mul2")]
///     fn double(&self, x: i64) -> Result<i64, String>;
/// }
///
/// struct MyArith;
///
/// impl Arith for MyArith {
///     fn multiply(&self, args: Args) -> Result<i64, String> {
///         Ok(args.a * args.b)
///     }
///     fn divide(&self, args: Args) -> Result<Quotient, DivideError> {
///         if args.b == 0 {
///             return Err(DivideError::ByZero);
///         }
///         Ok(Quotient { quo: args.a / args.b, rem: args.a % args.b })
///     }
///     fn add(&self, a: i64, b: i64) -> Result<i64, String> {
///         Ok(a + b)
///     }
///     fn double(&self, x: i64) -> Result<i64, String> {
///         Ok(2 * x)
///     }
/// }
///
/// let server = netrpc::Server::new();
/// server.register(MyArith.into_service())?; // as "Arith", whatever the type
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// std::thread::spawn(move || server.accept(&listener));
///
/// let arith = ArithClient::new(netrpc::Client::dial(addr)?);
/// assert_eq!(arith.multiply(&Args { a: 7, b: 8 })?, 56);
/// assert_eq!(arith.add(&2, &3)?, 5);
/// assert_eq!(arith.double(&21)?, 42);
/// let call: netrpc::Call<Quotient> = arith.divide_go(&Args { a: 15, b: 4 });
/// assert_eq!(call.done.recv()?.result?, Quotient { quo: 3, rem: 3 });
/// let err = arith.divide(&Args { a: 1, b: 0 }).unwrap_err();
/// assert_eq!(err.remote::<DivideError>(), Some(DivideError::ByZero));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # The service
///
/// It is named after the trait, or `name = ".."`; with `name = ""` its methods are called by
/// bare names, as Neovim's (`nvim_eval`) are. A method is called as `Service.Method`, its name
/// in Go's exported form (`get_value` is `GetValue`), or as `rename_all = "camelCase"`
/// (`getValue`) or `"snake_case"` (`get_value`, as written) say for every method, or as
/// `#[netrpc(name = "..")]` says for one.
///
/// A method takes `&self`, then, if it wants one, the call's `&netrpc::Context` (the client
/// leaves it out), then its parameters, named and owned. It returns `Result<T, E>`: `T` is the
/// reply, and `E` any `Serialize + Display` error. On MessagePack-RPC the error travels as
/// `E`'s value, which the caller reads back with `netrpc::Error::remote::<E>()`; Go's wires
/// carry its `Display` text (`netrpc::Error::Server`), as Go sends `error.Error()`. A `String`
/// error is its text on every wire. A method that returns nothing is a notification: the
/// client sends it with `netrpc::Client::notify`, and no answer comes.
///
/// One parameter travels as itself (MessagePack-RPC's `[args]`, and Go's one argument);
/// several as MessagePack-RPC's argument list, `[a, b]`, and none as `[]`. Go's `net/rpc`
/// methods take exactly one argument: on gob and JSON-RPC the client refuses a call of
/// several parameters, before it sends anything. (None is sent as Go's empty struct.)
///
/// # The client
///
/// `<Trait>Client::new(client)` wraps a `netrpc::Client` (`client()` and `into_client()` give
/// it back). Each method `m` gives `m(&self, ..) -> Result<T, netrpc::Error>`, which blocks
/// for the reply, and `m_go(&self, ..) -> netrpc::Call<T>`, which returns at once (Go's
/// `client.Go`); parameters are taken by reference. Calls wait as long as the client's
/// timeout allows, or `with_timeout(..)`'s.
///
/// # What it refuses
///
/// Generic traits and methods, `async fn`, methods that take `&mut self` or `self`,
/// parameters that are patterns or borrowed, a return type other than `Result<T, E>`, two
/// methods with one wire name, and a method named as a generated item (`into_service`,
/// the client's `new`, `with_timeout`, `client`, `into_client`, or `m_go` beside `m`): each
/// with a message that says what to write instead.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut item = match parse::service_trait(item.into()) {
        Ok(item) => item,
        Err(error) => return error.to_compile_error().into(),
    };
    match parse::service(attr.into(), &mut item) {
        Ok(service) => {
            let server = expand_server::service_trait(&service);
            let client = expand_client::client(&service);
            quote!(#server #client).into()
        }
        // The trait stays, so that code using it fails for these errors alone.
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#error #item).into()
        }
    }
}
