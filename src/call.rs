//! What a caller holds while a call is out: [`Call`], the [`Completed`] call its channel
//! yields, and [`Ignore`] for replies nobody wants.

use crossbeam_channel::Receiver;
use serde::de::{Deserialize, Deserializer, IgnoredAny};

use crate::error::Error;

/// A call started with [`Client::go`](crate::Client::go): it completes through `done`.
#[derive(Debug)]
pub struct Call<R> {
    /// The call's sequence number, as in its [`Completed`].
    pub seq: u64,
    /// The method called.
    pub service_method: String,
    /// Yields the completed call exactly once (a [crossbeam](crate::channel) receiver:
    /// `select!` on it, or wait with a timeout).
    pub done: Receiver<Completed<R>>,
}

impl<R> Call<R> {
    /// Waits for the call to complete and returns its reply.
    pub fn wait(self) -> Result<R, Error> {
        self.done.recv().map_or(Err(Error::Shutdown), |c| c.result)
    }
}

/// A completed call, as delivered on a done channel.
#[derive(Debug)]
pub struct Completed<R> {
    /// The sequence number [`Client::go`](crate::Client::go) or
    /// [`Client::go_with`](crate::Client::go_with) returned for it.
    pub seq: u64,
    /// The method called.
    pub service_method: String,
    /// The reply, or why there is none.
    pub result: Result<R, Error>,
}

/// A reply type that accepts any reply and keeps nothing, for calls made for their effect
/// (Go's `nil` reply).
///
/// ```no_run
/// # let client = netrpc::Client::dial("127.0.0.1:1234")?;
/// let netrpc::Ignore = client.call("Store.Put", &("key", 42))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ignore;

impl<'de> Deserialize<'de> for Ignore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| Ignore)
    }
}
