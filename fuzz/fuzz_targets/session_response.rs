//! Fuzzes the parser for responses from `session`-protocol loaders (loaders/PROTOCOL.md §2.3)
//! and the chunked decoder behind it: no input may panic, no `Status` or `!~` header may pass
//! through, a HEAD response never has a body, and decoding never reads past the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_protocol::fuzz_logic::session_response(data);
});
