//! Arbitrary bytes from a client, read by both server codecs: every request header and body
//! must decode or fail cleanly — no panic, no allocation past the 64 KiB limit, no endless loop.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use netrpc::codec::{erased_serde, ServerCodec};
use netrpc::wire::json::JsonServerCodec;
use netrpc::wire::msgpack::MsgpackServerCodec;

fn drain<C: ServerCodec>(mut codec: C) {
    while let Ok(Some(_header)) = codec.read_request_header() {
        let mut decode = |de: &mut dyn erased_serde::Deserializer<'_>| {
            erased_serde::deserialize::<rmpv::Value>(de).map(drop)
        };
        if let Err(e) = codec.read_request_body(Some(&mut decode)) {
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
    drain(MsgpackServerCodec::with_max_message_size(
        common::conn(data),
        common::LIMIT,
    ));
    drain(JsonServerCodec::with_max_message_size(
        common::conn(data),
        common::LIMIT,
    ));
});
