//! Target 4: bytes to the `tassis-v2` reference server's frame handler, in this process (no
//! socket). The input is a start byte (bit 0: the connection starts logged in, skipping the
//! signature) and then frames, each a 2-byte little-endian length and that many bytes (the
//! last one takes whatever is left). The handler must never panic; with `--features faults`,
//! the crash faults named in `TASSIS_FAULTS` (e.g. `crash-outbound-no-to`) count as crashes.
#![no_main]

use edge_reference_server::tassis_v2::fuzzing::{handle_frame_for_fuzzing, FuzzState};
use libfuzzer_sys::fuzz_target;

/// The identity of the logged-in start: 32 bytes, bit 255 clear.
const IDENTITY: [u8; 32] = [0x11; 32];

fn state() -> FuzzState {
    #[cfg(feature = "faults")]
    {
        let faults: Vec<edge_reference_server::tassis_v2::faults::Fault> =
            std::env::var("TASSIS_FAULTS")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse()
                        .unwrap_or_else(|e| panic!("TASSIS_FAULTS: {e}"))
                })
                .collect();
        FuzzState::with_faults(&faults)
    }
    #[cfg(not(feature = "faults"))]
    FuzzState::new()
}

fuzz_target!(|data: &[u8]| {
    let Some((&start, mut rest)) = data.split_first() else {
        return;
    };
    let mut s = state();
    if start & 1 == 1 {
        s.authenticate(&IDENTITY, b"fuzz");
    }
    let mut frames = 0;
    while !rest.is_empty() && frames < 64 {
        let (frame, next) = if rest.len() >= 2 {
            let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
            let body = &rest[2..];
            body.split_at(n.min(body.len()))
        } else {
            (rest, &[][..])
        };
        rest = next;
        frames += 1;
        let _ = handle_frame_for_fuzzing(&mut s, frame);
        assert!(!s.crashed(), "the server crashed on frame {frames}");
    }
});
