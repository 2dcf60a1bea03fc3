//! The error pages shown when an app cannot be started: Passenger's `ErrorRenderer`.
//!
//! There are two pages, and both are self-contained HTML5: inline CSS, no external resources, and
//! no JavaScript needed to read them. They are served when something is already broken, so they
//! must not depend on anything else working.
//!
//! * [`render_friendly`] is the page "with details", shown when friendly error pages are on (the
//!   default in `development`). It shows the problem and solution descriptions, the journey with
//!   the failed step highlighted, the app's output, the environment dumps and the configuration.
//!   Following seed 004, it leaves out the one-line summary, which is meant for the log.
//! * [`render_terse`] is the page "without details", shown in production. It gives only the error
//!   id, so that the administrator can find the details in the log.
//!
//! Like Passenger's `window.spec`, the friendly page embeds a machine-readable spec
//! (`<script type="application/json" id="ferry-error-spec">`) that tests can read. It is data, not
//! code, so the page still works with JavaScript turned off.
//!
//! The HTML is built with plain string formatting. Every value taken from the error is escaped,
//! except the problem and solution descriptions, which are already HTML.

mod sample;
mod spec;
mod style;

use std::time::Duration;

use crate::error::{EnvDump, SpawnError};
use crate::html::escape;
use crate::journey::{Actor, Journey, Step, StepRecord, StepState};

#[doc(hidden)]
pub use sample::sample_error;
use spec::spec_json;
use style::{BASE_CSS, FRIENDLY_CSS, TERSE_CSS};

/// The friendly page's title, the same as Passenger's.
const FRIENDLY_TITLE: &str = "Web application could not be started";

/// The terse page's title.
const TERSE_TITLE: &str = "We're sorry, but something went wrong";

/// Renders the friendly error page (the one "with details") for `error`.
///
/// `program` is the product name shown on the page, normally `"Ferry"`.
pub fn render_friendly(error: &SpawnError, program: &str) -> String {
    let name = escape(program);
    let body = [
        hero(error, &name),
        card("problem", "What went wrong", &error.problem_html()),
        card("solution", "How to fix it", &error.solution_html()),
        journey_section(error, &name),
        output_section(error.output()),
        diagnostics_section(error),
        friendly_footer(error, &name),
    ]
    .concat();
    let spec = format!(
        "<script type=\"application/json\" id=\"ferry-error-spec\">{}</script>\n",
        spec_json(error, program)
    );
    document(FRIENDLY_TITLE, FRIENDLY_CSS, &body, &spec)
}

/// Renders the terse error page (the one "without details") for `error`: an apology and the
/// error id, with no output, environment or journey.
///
/// `program` is the product name shown on the page, normally `"Ferry"`.
pub fn render_terse(error: &SpawnError, program: &str) -> String {
    let name = escape(program);
    let body = format!(
        "<section class=\"card sorry\">\n<div class=\"icon\" aria-hidden=\"true\">!</div>\n\
         <h1>We&#39;re sorry, but something went wrong.</h1>\n\
         <p>The issue has been logged for investigation. Please try again later.</p>\n\
         {}</section>\n<footer>This website is powered by {name}</footer>\n",
        admin_details(error, &name)
    );
    document(TERSE_TITLE, TERSE_CSS, &body, "")
}

// === page frame ===

/// A whole HTML document. `title` and `css` are trusted constants; `body` and `trailer` are HTML.
fn document(title: &str, css: &str, body: &str, trailer: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n<title>{}</title>\n\
         <style>{BASE_CSS}{css}</style>\n</head>\n<body>\n<main class=\"wrap\">\n{body}</main>\n\
         {trailer}</body>\n</html>\n",
        escape(title)
    )
}

/// A titled card around `html`.
fn card(class: &str, title: &str, html: &str) -> String {
    format!("<section class=\"card {class}\">\n<h2>{title}</h2>\n{html}\n</section>\n")
}

/// A collapsible block; `body` is HTML.
fn details(summary: &str, body: &str, open: bool) -> String {
    let open = if open { " open" } else { "" };
    format!(
        "<details{open}><summary>{summary}</summary>\n<div class=\"detail-body\">{body}</div>\
         </details>\n"
    )
}

// === friendly page: header and footer ===

/// The page header: program, title, the app's root, and the error's key facts.
/// `program` is already escaped.
fn hero(error: &SpawnError, program: &str) -> String {
    let app = error
        .config_value("app_root")
        .map(|root| {
            format!(
                "<p class=\"lede\">{program} could not start the application in <code>{}</code>.\
                 </p>\n",
                escape(root)
            )
        })
        .unwrap_or_default();
    let facts = [
        fact("Error ID", error.id()),
        fact("Failed step", error.step().name()),
        fact("Category", error.category().name()),
    ]
    .concat();
    format!(
        "<header class=\"hero\">\n<p class=\"brand\"><span class=\"dot\"></span>{program}</p>\n\
         <h1>{FRIENDLY_TITLE}</h1>\n{app}<dl class=\"facts\">{facts}</dl>\n</header>\n"
    )
}

/// One labelled fact in the header.
fn fact(label: &str, value: &str) -> String {
    format!(
        "<div><dt>{label}</dt><dd><code>{}</code></dd></div>",
        escape(value)
    )
}

/// The footer: the error id as text, and why this page shows so much. `program` is escaped.
fn friendly_footer(error: &SpawnError, program: &str) -> String {
    format!(
        "<footer>\n<p class=\"error-id\">Error ID: {}</p>\n<p>This page was generated by {program} \
         because friendly error pages are on. They can reveal sensitive information, so turn them \
         off on a public production site (<code>--no-friendly-error-pages</code>, \
         <code>passenger_friendly_error_pages off</code>).</p>\n</footer>\n",
        escape(error.id())
    )
}

// === friendly page: journey ===

/// The journey, one column per actor, with the failed step highlighted. `program` is escaped.
fn journey_section(error: &SpawnError, program: &str) -> String {
    let journey = error.journey();
    let columns: String = [Actor::Ferry, Actor::Preloader, Actor::Subprocess]
        .into_iter()
        .filter(|actor| journey.steps_of(*actor).next().is_some())
        .map(|actor| actor_column(journey, actor, error.step(), program))
        .collect();
    format!(
        "<section class=\"card journey\">\n<h2>Where it failed</h2>\n<p class=\"muted\">The \
         steps of this spawn (route <code>{}</code>), each in the order it runs.</p>\n\
         <div class=\"actors\">\n{columns}</div>\n</section>\n",
        journey.kind().name()
    )
}

/// The steps one actor performs.
fn actor_column(journey: &Journey, actor: Actor, failed: Step, program: &str) -> String {
    let rows: String = journey
        .steps_of(actor)
        .map(|record| step_row(journey, record, failed))
        .collect();
    format!(
        "<div class=\"actor\">\n<h3>{}</h3>\n<ol class=\"steps\">\n{rows}</ol>\n</div>\n",
        actor_heading(actor, program)
    )
}

/// "In Ferry", "In the preloader", "In the subprocess". `program` is escaped.
fn actor_heading(actor: Actor, program: &str) -> String {
    match actor {
        Actor::Ferry => format!("In {program}"),
        Actor::Preloader => "In the preloader".to_owned(),
        Actor::Subprocess => "In the subprocess".to_owned(),
    }
}

/// One step: its mark, description, SpawningKit name and duration.
fn step_row(journey: &Journey, record: &StepRecord, failed: Step) -> String {
    let is_failed = record.step == failed;
    let badge = if is_failed {
        "<span class=\"badge\">failed here</span>"
    } else {
        ""
    };
    let time = journey
        .duration(record.step)
        .filter(|_| record.state != StepState::NotStarted)
        .map(|d| format!("<span class=\"time\">{}</span>", format_duration(d)))
        .unwrap_or_default();
    format!(
        "<li class=\"step {}{}\">{}<div class=\"what\"><span class=\"desc\">{}</span>\
         <span class=\"meta\"><code class=\"name\">{}</code>{badge}</span></div>{time}</li>\n",
        state_class(record.state),
        if is_failed { " failed" } else { "" },
        mark(record.state),
        capitalize(record.step.describe()),
        record.step.name()
    )
}

/// The symbol for a step's state: a check, a cross, a spinner or an empty placeholder.
fn mark(state: StepState) -> String {
    let (symbol, label) = match state {
        StepState::Performed => ("\u{2713}", "Performed"),
        StepState::Errored => ("\u{2717}", "Failed"),
        StepState::InProgress => ("", "In progress"),
        StepState::NotStarted => ("", "Not started"),
    };
    format!(
        "<span class=\"mark {}\" role=\"img\" aria-label=\"{label}\" title=\"{label}\">{symbol}\
         </span>",
        state_class(state)
    )
}

/// The CSS class for a step's state.
fn state_class(state: StepState) -> &'static str {
    match state {
        StepState::Performed => "performed",
        StepState::Errored => "errored",
        StepState::InProgress => "in-progress",
        StepState::NotStarted => "not-started",
    }
}

/// "12 ms", "1.3 s", "2 min 5 s".
fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 0.001 {
        "< 1 ms".to_owned()
    } else if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// `text` with its first letter in upper case.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

// === friendly page: output and diagnostics ===

/// What the app wrote before it failed.
fn output_section(output: &str) -> String {
    let pre = if output.is_empty() {
        "<pre class=\"console empty\">(no output)</pre>".to_owned()
    } else {
        format!("<pre class=\"console\">{}</pre>", escape(output))
    };
    let intro = "<p class=\"muted\">The last lines the application wrote to its standard output \
                 and standard error before it failed.</p>\n";
    card("output", "Application output", &format!("{intro}{pre}"))
}

/// The app process's environment dump and the spawn's configuration, each collapsible. Only
/// what the app's own process reported and the app's own settings: the page may be seen by the
/// app's visitors and its owner, so Ferry's environment, user and limits and other apps'
/// settings never appear on it (nor in the saved report, the same page).
fn diagnostics_section(error: &SpawnError) -> String {
    let subprocess = match error.subprocess_env() {
        Some(dump) => envdump_group("Application process", dump),
        None => "<h3>Application process</h3>\n<p class=\"muted\">The application process did \
                 not report its environment.</p>\n"
            .to_owned(),
    };
    let config = format!(
        "<h3>Configuration</h3>\n<div class=\"group\">{}</div>\n",
        details("Spawn configuration", &config_table(error.config()), true)
    );
    card(
        "diagnostics",
        "Diagnostics",
        &format!("{subprocess}{config}"),
    )
}

/// One process's environment dump. `title` is HTML.
fn envdump_group(title: &str, dump: &EnvDump) -> String {
    let pid = dump
        .pid
        .map(|pid| format!(" <span class=\"pid\">pid {pid}</span>"))
        .unwrap_or_default();
    let mut blocks = [
        ("Environment variables", &dump.envvars),
        ("User and groups", &dump.user_info),
        ("Resource limits", &dump.ulimits),
    ]
    .map(|(summary, text)| details(summary, &pre_or_missing(text.as_deref()), false))
    .concat();
    if !dump.annotations.is_empty() {
        blocks.push_str(&details("Annotations", &annotations(dump), false));
    }
    format!("<h3>{title}{pid}</h3>\n<div class=\"group\">\n{blocks}</div>\n")
}

/// `text` in a `<pre>`, or a note that it is missing.
fn pre_or_missing(text: Option<&str>) -> String {
    match text {
        Some(text) if !text.trim().is_empty() => format!("<pre>{}</pre>", escape(text)),
        _ => "<p class=\"muted\">(not available)</p>".to_owned(),
    }
}

/// A process's annotations, each under its name.
fn annotations(dump: &EnvDump) -> String {
    dump.annotations
        .iter()
        .map(|(name, value)| format!("<h4>{}</h4><pre>{}</pre>", escape(name), escape(value)))
        .collect()
}

/// The configuration as a two-column table.
fn config_table(config: &[(String, String)]) -> String {
    if config.is_empty() {
        return "<p class=\"muted\">(no configuration recorded)</p>".to_owned();
    }
    let rows: String = config
        .iter()
        .map(|(name, value)| {
            format!(
                "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>\n",
                escape(name),
                escape(value)
            )
        })
        .collect();
    format!("<table>\n<tbody>\n{rows}</tbody>\n</table>")
}

// === terse page ===

/// The administrator's details on the terse page: the error id and how to see more.
/// `program` is escaped.
fn admin_details(error: &SpawnError, program: &str) -> String {
    let body = format!(
        "<p class=\"error-id\">Error ID: {}</p>\n<p>The full details of this error were written \
         to the {program} log, under this error ID. Search the log for it.</p>\n<p>To show the \
         details on this page instead, turn on friendly error pages \
         (<code>--friendly-error-pages</code>, or <code>passenger_friendly_error_pages on</code>) \
         and restart the application. They are on by default in the <code>development</code> \
         environment. Friendly error pages can reveal sensitive information, so do not leave them \
         on for a public production site.</p>\n",
        escape(error.id())
    );
    format!(
        "<div class=\"group admin\">{}</div>\n",
        details("Technical details for the administrator", &body, false)
    )
}

#[cfg(test)]
mod tests;
