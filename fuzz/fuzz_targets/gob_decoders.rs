//! Arbitrary bytes from a peer, read by the gob server and client codecs (Go's net/rpc): every
//! header, type definition and body must decode or fail cleanly — no panic, no allocation past
//! the 64 KiB limit, no endless loop. Bodies are decoded both as a dynamic value and as a typed
//! struct, so that the typed paths (field matching, zero fields) run too.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use netrpc::codec::{erased_serde, ClientCodec, ServerCodec};
use netrpc::gob::Value;
use netrpc::wire::gob::{GobClientCodec, GobServerCodec};

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Typed {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "S")]
    s: String,
    #[serde(rename = "V")]
    v: Vec<Option<Box<Typed>>>,
    #[serde(rename = "M")]
    m: std::collections::HashMap<String, u64>,
}

fn decode(
    typed: bool,
) -> impl FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error> {
    move |de| {
        if typed {
            erased_serde::deserialize::<Typed>(de).map(drop)
        } else {
            erased_serde::deserialize::<Value>(de).map(drop)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 100_000 {
        return;
    }
    for typed in [false, true] {
        let mut server = GobServerCodec::with_max_message_size(common::conn(data), common::LIMIT);
        while let Ok(Some(_header)) = server.read_request_header() {
            if let Err(e) = server.read_request_body(Some(&mut decode(typed))) {
                if !e.is_recoverable() {
                    break;
                }
            }
        }
        let mut client = GobClientCodec::with_max_message_size(common::conn(data), common::LIMIT);
        while let Ok(Some(_header)) = client.read_response_header() {
            if let Err(e) = client.read_response_body(Some(&mut decode(typed))) {
                if !e.is_recoverable() {
                    break;
                }
            }
        }
    }
});
