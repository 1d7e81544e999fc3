//! Hostile-input robustness without a fuzzer: 20,000 deterministic mutations of real
//! SIP messages and HEP packets (bit flips, cuts, inserted separators, repeats) go
//! through the SIP interpreter, the stream framer and the HEP decoder. Each must
//! return — an answer or a reason — and never panic. (`fuzz/` runs the same entry
//! points under libFuzzer for longer.)

use ringside_ingest::hep;
use ringside_ingest::sip::{framing, interpret};

const SEEDS: &[&str] = &[
    "INVITE sip:101@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-1\r\nFrom: \"A\" <sip:+79123456789@t>;tag=a\r\n\
     To: <sip:101@pbx>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nP-Asserted-Identity: <tel:+79123456789>\r\nContent-Length: 4\r\n\r\nv=0\n",
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK-1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:101@x>;tag=2\r\n\
     Contact: <sip:101@10.0.0.5>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    "BYE sip:101@10.0.0.5 SIP/2.0\ni: c1\nf: <sip:a@x>;tag=1\nt: <sip:101@x>;tag=2\nv: SIP/2.0/UDP x;branch=b\nCSeq: 2 BYE\nl: 0\n\n",
];

/// xorshift64*: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.truncate(at),
            2 => {
                let piece: &[u8] = [
                    &b"\r\n"[..],
                    b":",
                    b"\n ",
                    b"\0",
                    b"<",
                    b";tag=",
                    b"\xff",
                    b"@",
                    // Valid multi-byte characters: a cut inside one must not panic.
                    "é".as_bytes(),
                    "€".as_bytes(),
                    "🦀".as_bytes(),
                    "/".as_bytes(),
                ][rng.below(12)];
                out.splice(at..at, piece.iter().copied());
            }
            3 if at < out.len() => {
                let end = (at + rng.below(64)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            4 => out
                .drain(at..(at + rng.below(16)).min(out.len()))
                .for_each(drop),
            _ => out.push(rng.next() as u8),
        }
    }
    out
}

#[test]
fn twenty_thousand_mutated_messages_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let src = "10.0.0.1:5060".parse().expect("addr");
    let dst = "10.0.0.2:5060".parse().expect("addr");
    let mut parsed = 0;
    for i in 0..20_000 {
        let seed = SEEDS[i % SEEDS.len()].as_bytes();
        let sip = mutate(&mut rng, seed);
        parsed += usize::from(interpret(&sip).is_ok());
        let mut stream = sip.clone();
        while let Ok(Some(_)) = framing::next_message(&mut stream) {}
        let packet = mutate(&mut rng, &hep::encode(src, dst, Some(b"key"), seed));
        if let Ok(decoded) = hep::decode(&packet) {
            let _ = interpret(decoded.payload);
        }
    }
    // The mutations are mild enough that some still parse: the test reaches the tracker's input.
    assert!(parsed > 1_000, "only {parsed} mutated messages parsed");
}
