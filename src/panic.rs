//! The text of a caught panic, for the error a caller is told.

use std::any::Any;

/// The message a panic was raised with, or a stand-in when it carried no string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string panic payload"
    }
}
