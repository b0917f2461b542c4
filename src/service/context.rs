//! What a method may learn of the call it serves: [`Context`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use super::Method;
use crate::wire::Wire;

/// What a method learns of the call it serves: who called, over which wire, which method,
/// and whether the caller is still there. A method takes it before its argument when it is
/// registered with [`Service::method_with_context`](crate::Service::method_with_context).
///
/// A method that blocks for long (a watch, a long poll, a slow query) can stop once its caller
/// is gone, the connection closed or the server shut down past its grace, instead of working
/// for no one:
///
/// ```
/// use std::time::Duration;
/// use netrpc::channel::{after, select};
/// use netrpc::{Context, Service};
///
/// struct Feed;
///
/// impl Feed {
///     /// Waits up to `ms` for news; gives up as soon as the caller is gone.
///     fn watch(&self, ctx: &Context, ms: u64) -> Result<String, String> {
///         select! {
///             recv(ctx.done()) -> _ => Err(format!("{} left", ctx.peer())),
///             recv(after(Duration::from_millis(ms))) -> _ => Ok("no news".to_owned()),
///         }
///     }
/// }
///
/// let service = Service::new(Feed).method_with_context("Watch", Feed::watch);
/// # drop(service);
/// ```
#[derive(Clone)]
pub struct Context {
    caller: Arc<Caller>,
    method: Arc<Method>,
    seq: u64,
}

impl Context {
    pub(crate) fn new(caller: &Arc<Caller>, method: Arc<Method>, seq: u64) -> Context {
        Context {
            caller: Arc::clone(caller),
            method,
            seq,
        }
    }

    /// The method called.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The caller's address, as its connection gives it (`127.0.0.1:50123`, a socket path).
    pub fn peer(&self) -> &str {
        &self.caller.peer
    }

    /// The wire the call came over; `None` on a codec of the server's user
    /// ([`Server::serve_codec`](crate::Server::serve_codec)).
    pub fn wire(&self) -> Option<Wire> {
        self.caller.wire
    }

    /// The method called, as `"Service.Method"`.
    pub fn service_method(&self) -> &str {
        &self.method.name
    }

    /// The sequence number the caller gave the call (MessagePack-RPC's msgid, Go's `Seq`).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A channel that becomes ready once the caller is gone: its connection closed, or the
    /// server shut down past its grace. Nothing is ever sent on it; it disconnects, so that
    /// `recv` returns at once from then on, and `select!` takes it.
    pub fn done(&self) -> &Receiver<()> {
        self.caller.done()
    }

    /// Whether the caller is gone: what [`done`](Self::done) tells, without waiting.
    pub fn is_done(&self) -> bool {
        self.caller.gone.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("peer", &self.peer())
            .field("wire", &self.wire())
            .field("service_method", &self.service_method())
            .field("seq", &self.seq)
            .field("done", &self.is_done())
            .finish()
    }
}

/// The connection a call came over, as its [`Context`]s see it.
pub(crate) struct Caller {
    peer: String,
    wire: Option<Wire>,
    /// Set, under `hang_up`'s lock, once the caller is gone.
    gone: AtomicBool,
    /// Dropped when the caller is gone, which disconnects `done`.
    hang_up: Mutex<Option<Sender<()>>>,
    /// Made when a method first asks for it: most never do, and the connection's thread is
    /// spared making it.
    done: OnceLock<Receiver<()>>,
}

impl Caller {
    pub(crate) fn new(peer: &str, wire: Option<Wire>) -> Arc<Caller> {
        Arc::new(Caller {
            peer: peer.to_owned(),
            wire,
            gone: AtomicBool::new(false),
            hang_up: Mutex::new(None),
            done: OnceLock::new(),
        })
    }

    /// The channel that disconnects once the caller is gone; already disconnected if it is.
    fn done(&self) -> &Receiver<()> {
        self.done.get_or_init(|| {
            let (hang_up, done) = bounded(0);
            let mut slot = self.hang_up.lock();
            if !self.gone.load(Ordering::Acquire) {
                *slot = Some(hang_up);
            }
            done
        })
    }

    /// Tells every context of this connection that the caller is gone.
    pub(crate) fn hang_up(&self) {
        let mut slot = self.hang_up.lock();
        self.gone.store(true, Ordering::Release);
        slot.take();
    }
}

/// Hangs the caller up when dropped, however the connection's reader ends.
pub(crate) struct HangUp(pub(crate) Arc<Caller>);

impl Drop for HangUp {
    fn drop(&mut self) {
        self.0.hang_up();
    }
}

#[cfg(test)]
mod tests {
    use crossbeam_channel::TryRecvError;

    use super::Caller;

    #[test]
    fn done_disconnects_when_the_caller_hangs_up() {
        let caller = Caller::new("127.0.0.1:1", None);
        assert_eq!(caller.done().try_recv(), Err(TryRecvError::Empty));
        caller.hang_up();
        assert_eq!(caller.done().try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn done_asked_for_after_the_hang_up_is_disconnected_already() {
        let caller = Caller::new("127.0.0.1:1", None);
        caller.hang_up();
        assert_eq!(caller.done().try_recv(), Err(TryRecvError::Disconnected));
    }
}
