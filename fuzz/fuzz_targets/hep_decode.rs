//! Any bytes through the HEPv3 decoder (and its payload through the SIP parser).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_ingest::{hep, sip};

fuzz_target!(|data: &[u8]| {
    let _ = hep::frame_len(data);
    if let Ok(packet) = hep::decode(data) {
        let _ = sip::interpret(packet.payload);
    }
});
