//! Static-file path cleaning and `Range` parsing: no input may escape `public/` or the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, u64)| {
    let (path, range, len) = input;
    ferry_front::fuzz_logic::static_path_and_range(path, range, len);
});
