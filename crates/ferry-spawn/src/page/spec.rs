//! The machine-readable spec embedded in the friendly page, like Passenger's `window.spec`: JSON
//! inside a `<script type="application/json">` element, so it must be safe there too.

use std::fmt::Write as _;

use crate::error::SpawnError;
use crate::journey::{Actor, Journey, StepRecord, StepState};

/// The machine-readable spec embedded in the friendly page.
pub(super) fn spec_json(error: &SpawnError, program: &str) -> String {
    let journey = error.journey();
    let steps: Vec<String> = journey
        .steps()
        .iter()
        .map(|record| step_json(journey, record))
        .collect();
    let config: Vec<String> = error
        .config()
        .iter()
        .map(|(name, value)| format!("{}:{}", json_string(name), json_string(value)))
        .collect();
    format!(
        "{{\"program_name\":{},\"id\":{},\"category\":{},\"failed_step\":{},\
         \"journey_type\":{},\"journey\":[{}],\"config\":{{{}}}}}",
        json_string(program),
        json_string(error.id()),
        json_string(error.category().name()),
        json_string(error.step().name()),
        json_string(journey.kind().name()),
        steps.join(","),
        config.join(",")
    )
}

/// One journey step as JSON.
fn step_json(journey: &Journey, record: &StepRecord) -> String {
    let duration = journey
        .duration(record.step)
        .filter(|_| record.state != StepState::NotStarted)
        .map_or_else(|| "null".to_owned(), |d| d.as_millis().to_string());
    format!(
        "{{\"step\":{},\"actor\":{},\"state\":{},\"duration_ms\":{duration}}}",
        json_string(record.step.name()),
        json_string(actor_name(record.step.actor())),
        json_string(record.state.name())
    )
}

/// The actor's name in the spec.
fn actor_name(actor: Actor) -> &'static str {
    match actor {
        Actor::Ferry => "ferry",
        Actor::Preloader => "preloader",
        Actor::Subprocess => "subprocess",
    }
}

/// `text` as a JSON string that is also safe inside an HTML `<script>` element.
///
/// Besides JSON's own escapes, `<`, `>` and `&` become `\u003c`, `\u003e` and `\u0026` (as Go's
/// `encoding/json` does), so neither `</script>` nor `<!--` can appear in the output, and so do
/// U+2028 and U+2029, which old JavaScript parsers take for line ends.
pub(super) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
