//! Methods whose errors are typed: sent as values on a wire that carries any value.

use std::fmt::Display;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Context, Service};
use crate::codec::Failure;

impl<T: Send + Sync + 'static> Service<T> {
    /// Adds a method, as [`Service::method_with_context`] does, whose error travels as a value
    /// where the wire allows: on MessagePack-RPC the response's error is `E` encoded as a
    /// reply is (a struct as a map), for the caller to read back typed with
    /// [`Error::remote`](crate::Error::remote); Go's wires carry text, so there it is `E`'s
    /// `Display` text, as Go sends `error.Error()`. A `String` error travels exactly as
    /// [`Service::method_with_context`] sends it. The methods of a
    /// [`#[service]`](crate::service) trait are registered so.
    ///
    /// ```
    /// use netrpc::{Context, Service};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, Serialize, Deserialize)]
    /// enum DivideError {
    ///     ByZero,
    /// }
    ///
    /// impl std::fmt::Display for DivideError {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("divide by zero")
    ///     }
    /// }
    ///
    /// struct Arith;
    ///
    /// impl Arith {
    ///     fn divide(&self, _: &Context, (a, b): (i64, i64)) -> Result<i64, DivideError> {
    ///         a.checked_div(b).ok_or(DivideError::ByZero)
    ///     }
    /// }
    ///
    /// let service = Service::new(Arith).method_with_typed_error("Divide", Arith::divide);
    /// # drop(service);
    /// ```
    pub fn method_with_typed_error<A, R, E, F>(self, name: &str, method: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Serialize + Display,
        F: Fn(&T, &Context, A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.add_method(name, move |receiver, ctx, arg| {
            method(receiver, ctx, arg).map_err(|error| failure(ctx, &error))
        })
    }
}

/// `error`'s text, and its value unless that is the text again (a `String`'s), which adds
/// nothing, or nil (a unit struct's), which MessagePack-RPC reads as success.
fn failure<E: Serialize + Display>(ctx: &Context, error: &E) -> Failure {
    let text = error.to_string();
    let value = rmp_serde::to_vec_named(error).map(|bytes| {
        rmpv::decode::read_value(&mut bytes.as_slice())
            .expect("rmp_serde writes whole MessagePack values")
    });
    match value {
        Ok(rmpv::Value::String(s)) if s.as_str() == Some(text.as_str()) => Failure::from(text),
        Ok(rmpv::Value::Nil) => Failure::from(text),
        Ok(value) => Failure {
            text,
            value: Some(value),
        },
        Err(e) => {
            tracing::warn!(
                "rpc: the error of {} cannot be encoded as a value ({e}): sending its text",
                ctx.service_method()
            );
            Failure::from(text)
        }
    }
}
