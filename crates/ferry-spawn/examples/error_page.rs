//! Renders both spawn error pages for a realistic sample error, for looking at them in a browser
//! (`scripts/error-page-screenshot.sh` screenshots them).
//!
//! Usage: `cargo run -p ferry-spawn --example error_page -- FRIENDLY.html TERSE.html`

use std::process::ExitCode;

use ferry_spawn::page::{render_friendly, render_terse, sample_error};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [friendly, terse] = args.as_slice() else {
        eprintln!("usage: error_page FRIENDLY.html TERSE.html");
        return ExitCode::from(64);
    };
    let error = sample_error();
    let pages = [
        (friendly, render_friendly(&error, "Ferry")),
        (terse, render_terse(&error, "Ferry")),
    ];
    for (path, html) in pages {
        if let Err(e) = std::fs::write(path, html) {
            eprintln!("error_page: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
