//! The client's reader thread: replies routed to their calls by sequence number, and the
//! peer's own requests handed to `peer.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};

use super::peer::{Answer, Peer};
use super::pending::{replicate, Calls};
use super::Encoder;
use crate::codec::{ClientCodec, Failure, Message, Response};
use crate::error::{CodecError, Error};
use crate::panic::panic_message;
use crate::service::HangUp;
use crate::transport::outbox::Outbox;

pub(super) struct Reader {
    pub(super) calls: Arc<Calls>,
    /// Weak, so that the last client handle still closes the connection.
    pub(super) outbox: Weak<Outbox<Encoder>>,
    pub(super) peer: Arc<Peer>,
}

impl Reader {
    pub(super) fn run<C: ClientCodec>(self, mut codec: C) {
        // However reading ends, the peer's calls still running learn that it is gone.
        let _hang_up = HangUp(self.peer.caller());
        let calls = &self.calls;
        let answer: Arc<dyn Answer> = Arc::new(Replies(self.outbox.clone()));
        let read = catch_unwind(AssertUnwindSafe(|| loop {
            let read = match codec.read_message() {
                Ok(Some(Message::Response(response))) => complete(&mut codec, calls, response),
                Ok(Some(Message::Request(request))) => {
                    self.peer.serve(&mut codec, request, Arc::clone(&answer))
                }
                Ok(None) => break None,
                // Skipped by the codec: the stream is in step.
                Err(e @ CodecError::ReplyTooLarge { seq, .. }) => {
                    if let Some(pending) = calls.remove(seq) {
                        pending.finish(Some(Error::Codec(e)));
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = read {
                break Some(e);
            }
        }));
        let mut end = read.unwrap_or_else(|panic| {
            Some(CodecError::Malformed(format!(
                "the codec panicked while reading a response: {}",
                panic_message(&*panic)
            )))
        });
        if let Some(outbox) = self.outbox.upgrade() {
            // A failed write is why the read ended: that is what the calls should say.
            if let Some(failure) = outbox.failure() {
                end = Some(CodecError::Io(failure));
            }
            outbox.close();
        }
        calls.terminate(end);
    }
}

/// Answers the peer's requests through the client's writer, while the client lives.
struct Replies(Weak<Outbox<Encoder>>);

impl Answer for Replies {
    fn answer(&self, seq: u64, reply: Result<&dyn erased_serde::Serialize, Failure>) {
        let Some(outbox) = self.0.upgrade() else {
            return;
        };
        let failure = reply.as_ref().err();
        outbox.reply(
            seq,
            reply
                .as_ref()
                .map(|body| *body)
                .map_err(|e| e.text.as_str()),
            |encoder, buf, result| {
                let (response, body) = Response::answering(seq, result, failure);
                encoder.codec.encode_reply(buf, &response, body)
            },
        );
    }
}

/// Completes the call a response answers, with the body the codec holds.
fn complete<C: ClientCodec>(
    codec: &mut C,
    calls: &Calls,
    response: Response,
) -> Result<(), CodecError> {
    let Some(mut pending) = calls.remove(response.seq) else {
        // No such call: it timed out, or its request failed halfway.
        return codec.read_response_body(None);
    };
    if let Some(text) = response.error {
        codec.read_response_body(None)?;
        let error = match response.error_value {
            Some(value) => Error::ServerValue { text, value },
            None => Error::Server(text),
        };
        pending.finish(Some(error));
        return Ok(());
    }
    match codec.read_response_body(Some(&mut |de| pending.decode(de))) {
        Ok(()) => pending.finish(None),
        Err(e) if e.is_recoverable() => pending.finish(Some(Error::Codec(e))),
        Err(e) => {
            pending.finish(Some(replicate(&e)));
            return Err(e);
        }
    }
    Ok(())
}
