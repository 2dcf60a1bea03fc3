//! Fuzzes the reading of what a subprocess writes into its work directory (seed 004, "The work
//! directory"; issue 17): a step's `state` and times, `response/error/*` (category, summary,
//! problem and solution descriptions, details) and `envdump/*`, given as one input split at
//! `0x1f` bytes. No input may panic, every time taken is finite and bounded (so no duration
//! computed from it overflows), and summaries come out trimmed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_spawn::fuzz_logic::work_dir_response(data);
});
