//! Fuzzes the `properties.json` parser and validator (seed 004, "Application response
//! properties"): no input may panic, and whatever validates yields a usable request socket.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_protocol::fuzz_logic::properties(data);
});
