//! Arbitrary bytes from a server, read by both client codecs: every message (a response, or
//! the peer's request or notification) and its body must decode or fail cleanly — no panic,
//! no allocation past the 64 KiB limit, no endless loop.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use netrpc::codec::{erased_serde, ClientCodec};
use netrpc::wire::json::JsonClientCodec;
use netrpc::wire::msgpack::MsgpackClientCodec;

fn drain<C: ClientCodec>(mut codec: C) {
    while let Ok(Some(_message)) = codec.read_message() {
        let mut decode = |de: &mut dyn erased_serde::Deserializer<'_>| {
            erased_serde::deserialize::<rmpv::Value>(de).map(drop)
        };
        if let Err(e) = codec.read_response_body(Some(&mut decode)) {
            if !e.is_recoverable() {
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 100_000 {
        return;
    }
    drain(MsgpackClientCodec::with_max_message_size(
        common::conn(data),
        common::LIMIT,
    ));
    drain(JsonClientCodec::with_max_message_size(
        common::conn(data),
        common::LIMIT,
    ));
});
