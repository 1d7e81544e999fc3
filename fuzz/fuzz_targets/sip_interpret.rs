//! Any bytes through the SIP normalizer, parser and stream framer: an answer or a
//! reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_ingest::sip::{framing, interpret};

fuzz_target!(|data: &[u8]| {
    let _ = interpret(data);
    let mut stream = data.to_vec();
    while let Ok(Some(message)) = framing::next_message(&mut stream) {
        let _ = interpret(&message);
    }
});
