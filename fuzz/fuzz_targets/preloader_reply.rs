//! Fuzzes the reader of a preloader's answer to a spawn command (loaders/PROTOCOL.md §6.2): no
//! input may panic, an answer that parses names a worker's pid above 1, and every error says
//! something.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_protocol::fuzz_logic::preloader_reply(data);
});
