//! Fuzzes the Nginx-syntax configuration parser (issue 6): no input may panic, errors name a line
//! of the input, and every tree it accepts, written back out, parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_config::nginx::fuzz_logic::nginx_config(data);
});
