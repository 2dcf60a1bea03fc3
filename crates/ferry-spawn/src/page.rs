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

use std::fmt::Write as _;
use std::time::Duration;

use crate::category::Category;
use crate::error::{EnvDump, SpawnError};
use crate::html::escape;
use crate::journey::{Actor, Journey, JourneyType, Step, StepRecord, StepState};

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
        diagnostics_section(error, &name),
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

/// A realistic spawn error, for the example that renders sample pages and for tests: a Node app
/// that printed a stack trace and exited with status 1 while it was being loaded.
#[doc(hidden)]
pub fn sample_error() -> SpawnError {
    let summary = "The application process exited prematurely with exit status 1.".to_owned();
    let journey = sample_journey();
    SpawnError::new(
        Category::Internal,
        Step::SubprocessAppLoadOrExec,
        summary,
        journey,
    )
    .with_output(SAMPLE_OUTPUT.to_owned())
    .with_subprocess_env(sample_subprocess_env())
    .with_ferry_env(sample_ferry_env())
    .with_config(pairs(&SAMPLE_CONFIG))
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

/// Environment dumps and configuration, each collapsible. `program` is escaped.
fn diagnostics_section(error: &SpawnError, program: &str) -> String {
    let subprocess = match error.subprocess_env() {
        Some(dump) => envdump_group("Application process", dump),
        None => "<h3>Application process</h3>\n<p class=\"muted\">The application process did \
                 not report its environment.</p>\n"
            .to_owned(),
    };
    let own = envdump_group(&format!("{program} process"), error.ferry_env());
    let config = format!(
        "<h3>Configuration</h3>\n<div class=\"group\">{}</div>\n",
        details("Spawn configuration", &config_table(error.config()), true)
    );
    card(
        "diagnostics",
        "Diagnostics",
        &format!("{subprocess}{own}{config}"),
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

// === the JSON spec ===

/// The machine-readable spec embedded in the friendly page.
fn spec_json(error: &SpawnError, program: &str) -> String {
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
fn json_string(text: &str) -> String {
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

// === the sample error ===

/// Name/value pairs from string slices.
fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// A direct spawn through the Node loader that failed while loading the app.
fn sample_journey() -> Journey {
    use Step::*;
    use StepState::*;
    const T0: f64 = 5120.0;
    // Seconds after T0. Subprocess steps overlap Ferry's: they run while Ferry waits.
    #[rustfmt::skip]
    let timeline = [
        (Preparation,                           Performed, 0.000, 0.004),
        (ForkSubprocess,                        Performed, 0.004, 0.006),
        (HandshakePerform,                      Errored,   0.006, 1.342),
        (SubprocessBeforeFirstExec,             Performed, 0.005, 0.006),
        (SubprocessSpawnEnvSetupperBeforeShell, Performed, 0.006, 0.018),
        (SubprocessSpawnEnvSetupperAfterShell,  Performed, 0.018, 0.021),
        (SubprocessExecWrapper,                 Performed, 0.021, 0.094),
        (SubprocessWrapperPreparation,          Performed, 0.094, 0.131),
        (SubprocessAppLoadOrExec,               Errored,   0.131, 1.338),
    ];
    let mut journey = Journey::new(JourneyType::SpawnDirectly, true, false);
    for (step, state, begin, end) in timeline {
        journey.merge_subprocess_step(step, state, Some(T0 + begin), Some(T0 + end));
    }
    journey
}

/// What the sample app's process reported about itself.
fn sample_subprocess_env() -> EnvDump {
    EnvDump {
        pid: Some(48213),
        envvars: Some(SAMPLE_APP_ENVVARS.to_owned()),
        user_info: Some("uid=1001(shop) gid=1001(shop) groups=1001(shop),33(www-data)".to_owned()),
        ulimits: Some(SAMPLE_ULIMITS.to_owned()),
        annotations: pairs(&[
            ("node_version", "v20.12.2"),
            ("loader", "node-loader.js (SpawningKit-enabled wrapper)"),
        ]),
    }
}

/// What Ferry's own process looked like.
fn sample_ferry_env() -> EnvDump {
    EnvDump {
        pid: Some(48190),
        envvars: Some(SAMPLE_FERRY_ENVVARS.to_owned()),
        user_info: Some("uid=0(root) gid=0(root) groups=0(root)".to_owned()),
        ulimits: Some(SAMPLE_ULIMITS.to_owned()),
        annotations: Vec::new(),
    }
}

const SAMPLE_CONFIG: [(&str, &str); 9] = [
    ("app_root", "/srv/shop"),
    ("app_group_name", "/srv/shop (development)"),
    ("app_type", "node"),
    ("environment", "development"),
    (
        "start_command",
        "node /usr/share/ferry/loaders/node/node-loader.js",
    ),
    ("user", "shop"),
    ("group", "shop"),
    ("start_timeout", "90"),
    ("spawn_method", "direct"),
];

const SAMPLE_OUTPUT: &str = "\
/srv/shop/server.js:14
const db = require('./config/database');
           ^

Error: Cannot find module './config/database'
Require stack:
- /srv/shop/server.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1145:15)
    at Module._load (node:internal/modules/cjs/loader:986:27)
    at Module.require (node:internal/modules/cjs/loader:1233:19)
    at require (node:internal/modules/helpers:179:18)
    at Object.<anonymous> (/srv/shop/server.js:14:12)
    at Module._compile (node:internal/modules/cjs/loader:1358:14)
    at Module._extensions..js (node:internal/modules/cjs/loader:1416:10)
    at Module.load (node:internal/modules/cjs/loader:1208:32)
    at Module._load (node:internal/modules/cjs/loader:1024:12)
    at loadApplication (/usr/share/ferry/loaders/node/node-loader.js:212:3) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/srv/shop/server.js' ]
}

Node.js v20.12.2
";

const SAMPLE_APP_ENVVARS: &str = "\
PATH=/usr/local/bin:/usr/bin:/bin
HOME=/home/shop
USER=shop
LOGNAME=shop
SHELL=/bin/bash
PWD=/srv/shop
LANG=C.UTF-8
PORT=38117
NODE_ENV=development
PASSENGER_APP_ENV=development
RAILS_ENV=development
RACK_ENV=development
WSGI_ENV=development
PASSENGER_BASE_URI=/
IN_PASSENGER=1
";

const SAMPLE_FERRY_ENVVARS: &str = "\
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
USER=root
LANG=C.UTF-8
RUST_LOG=info
";

const SAMPLE_ULIMITS: &str = "\
core file size              (blocks, -c) 0
data seg size               (kbytes, -d) unlimited
file size                   (blocks, -f) unlimited
max locked memory           (kbytes, -l) 8192
max memory size             (kbytes, -m) unlimited
open files                          (-n) 1024
stack size                  (kbytes, -s) 8192
cpu time                   (seconds, -t) unlimited
max user processes                  (-u) 63445
virtual memory              (kbytes, -v) unlimited
";

// === styles ===

/// Styles shared by both pages.
const BASE_CSS: &str = "
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--card:#fff;--red:#cf222e;
--red-soft:#ffebe9;--red-line:#ffcecb;--green:#1a7f37;--green-line:#8fd6a2;--blue:#0969da;
color-scheme:light}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--soft);color:var(--fg);
font:16px/1.6 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,\"Noto Sans\",sans-serif}
code,pre,.error-id{font-family:ui-monospace,SFMono-Regular,\"SF Mono\",Menlo,Consolas,\"Liberation Mono\",monospace}
code{font-size:.875em}
.wrap{max-width:960px;margin:0 auto;padding:40px 24px 56px}
h1,h2,h3,h4{line-height:1.25;margin:0}
a{color:var(--blue)}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:24px 28px;
margin:0 0 20px;box-shadow:0 1px 2px rgba(31,35,40,.05)}
.card p{margin:0 0 12px}
.card p:last-child{margin-bottom:0}
p code,li code,td code{background:var(--soft);border:1px solid var(--line);border-radius:6px;
padding:.1em .35em;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.group{border:1px solid var(--line);border-radius:8px;overflow:hidden;background:var(--card)}
.group details+details{border-top:1px solid var(--line)}
summary{cursor:pointer;list-style:none;display:flex;align-items:center;gap:10px;padding:11px 16px;
font-weight:500}
summary::-webkit-details-marker{display:none}
summary::before{content:\"\";flex:none;border-left:6px solid var(--muted);
border-top:5px solid transparent;border-bottom:5px solid transparent;transition:transform .15s}
details[open]>summary::before{transform:rotate(90deg)}
summary:hover{background:var(--soft)}
.detail-body{padding:2px 16px 16px}
.error-id{font-size:14px;font-weight:600;color:var(--fg)}
footer{color:var(--muted);font-size:14px;text-align:center;margin-top:28px}
footer p{margin:0 0 8px}
@media (max-width:640px){.wrap{padding:20px 12px 40px}.card{padding:18px 16px}}
";

/// Styles of the friendly page.
const FRIENDLY_CSS: &str = "
.hero{position:relative;overflow:hidden;background:var(--card);border:1px solid var(--line);
border-radius:12px;padding:30px 28px 22px;margin:0 0 20px;box-shadow:0 1px 2px rgba(31,35,40,.05)}
.hero::before{content:\"\";position:absolute;top:0;left:0;right:0;height:4px;background:var(--red)}
.brand{display:flex;align-items:center;gap:8px;margin:0 0 10px;font-size:13px;font-weight:600;
letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
.dot{width:8px;height:8px;border-radius:50%;background:var(--red)}
.hero h1{font-size:30px;font-weight:650;letter-spacing:-.015em}
.lede{margin:8px 0 0;color:var(--muted)}
.lede code{color:var(--fg)}
.facts{display:flex;flex-wrap:wrap;gap:10px 36px;margin:20px 0 0;padding:16px 0 0;
border-top:1px solid var(--line)}
.facts dt{font-size:11.5px;font-weight:600;letter-spacing:.07em;text-transform:uppercase;
color:var(--muted)}
.facts dd{margin:2px 0 0;font-size:15px}
.facts div:nth-child(2) code{color:var(--red);font-weight:600}
.card h2{font-size:12.5px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;
color:var(--muted);margin:0 0 12px}
.problem{border-left:4px solid var(--red)}
.solution{border-left:4px solid var(--green)}
.problem pre{background:var(--soft);border:1px solid var(--line);border-radius:8px;
padding:12px 14px;font-size:13px;overflow:auto}
.actors{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:16px;
align-items:start;margin-top:16px}
.actor{border:1px solid var(--line);border-radius:10px;padding:14px 16px 10px;background:#fbfcfd}
.actor h3{font-size:14px;font-weight:650;margin:0 0 10px}
.steps{list-style:none;margin:0;padding:0}
.step{position:relative;display:grid;grid-template-columns:22px 1fr auto;gap:12px;align-items:start;
padding:8px;margin:0 -8px;border-radius:8px}
.step:not(:last-child)::before{content:\"\";position:absolute;left:18px;top:32px;bottom:-8px;
width:2px;background:var(--line)}
.step.performed:not(:last-child)::before{background:var(--green-line)}
.mark{position:relative;z-index:1;width:22px;height:22px;border-radius:50%;display:flex;
align-items:center;justify-content:center;font-size:13px;font-weight:700;line-height:1;margin-top:1px}
.mark.performed{background:var(--green);color:#fff}
.mark.errored{background:var(--red);color:#fff}
.mark.in-progress{border:2.5px solid var(--line);border-top-color:var(--blue);
animation:spin .9s linear infinite}
.mark.not-started{border:2px dashed #b8c2cc;background:var(--card)}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){.mark.in-progress{animation:none}}
.what{min-width:0}
.desc{display:block;font-size:14.5px;line-height:1.4}
.meta{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;margin-top:3px}
.step .name{font-size:11.5px;color:var(--muted);background:none;border:0;padding:0;overflow-wrap:anywhere}
.time{padding-top:2px;font-size:12.5px;color:var(--muted);font-variant-numeric:tabular-nums;
white-space:nowrap}
.step.not-started .desc{color:var(--muted)}
.step.failed{background:var(--red-soft);box-shadow:inset 0 0 0 1px var(--red-line)}
.step.failed .desc{color:var(--red);font-weight:600}
.step.failed .time{color:var(--red)}
.badge{display:inline-block;padding:0 7px;border-radius:999px;background:var(--red);
color:#fff;font-size:11px;font-weight:600;line-height:1.6;white-space:nowrap}
.console{margin:0;background:#0d1117;color:#e6edf3;border-radius:8px;padding:16px 18px;
font-size:13px;line-height:1.55;overflow:auto;max-height:560px;white-space:pre}
.console.empty{color:#8b949e;font-style:italic}
.diagnostics h3{font-size:15px;font-weight:650;margin:22px 0 10px}
.diagnostics h2+h3{margin-top:0}
.pid{font-weight:400;font-size:13px;color:var(--muted);margin-left:4px}
.diagnostics h4{font-size:13px;margin:10px 0 6px}
.detail-body pre{margin:0;background:var(--soft);border:1px solid var(--line);border-radius:6px;
padding:12px 14px;font-size:12.5px;line-height:1.5;overflow:auto;max-height:380px}
table{width:100%;border-collapse:collapse;font-size:14px}
th,td{text-align:left;padding:8px 10px;border-top:1px solid var(--line);vertical-align:top}
tr:first-child th,tr:first-child td{border-top:0}
th{width:32%;font-weight:500;color:var(--muted)}
footer .error-id{font-size:13px}
@media (max-width:640px){.hero{padding:24px 18px 18px}.hero h1{font-size:24px}
.actor{padding:12px 12px 8px}}
";

/// Styles of the terse page.
const TERSE_CSS: &str = "
.wrap{max-width:680px;padding-top:12vh}
.sorry{text-align:center;padding:44px 40px 32px}
.icon{width:56px;height:56px;margin:0 auto 20px;border-radius:50%;background:var(--red-soft);
color:var(--red);display:flex;align-items:center;justify-content:center;font-size:28px;font-weight:700}
.sorry h1{font-size:24px;font-weight:650;letter-spacing:-.01em;margin:0 0 10px}
.sorry>p{color:var(--muted);margin:0}
.admin{margin-top:32px;text-align:left}
.admin .detail-body p{font-size:14.5px;color:var(--fg)}
.admin .error-id{font-size:15px;padding:10px 12px;background:var(--soft);border:1px solid var(--line);
border-radius:6px}
";

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(page: &str) -> &str {
        let open = "<script type=\"application/json\" id=\"ferry-error-spec\">";
        let start = page.find(open).expect("spec present") + open.len();
        let len = page[start..].find("</script>").expect("spec closed");
        &page[start..start + len]
    }

    #[test]
    fn friendly_page_shows_descriptions_journey_and_id() {
        let error = sample_error();
        let page = render_friendly(&error, "Ferry");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>Web application could not be started</title>"));
        assert!(page.contains(&error.problem_html()));
        assert!(page.contains(&error.solution_html()));
        assert!(page.contains(&format!("Error ID: {}", error.id())));
        assert!(page.contains("INTERNAL_ERROR"));
        assert!(page.contains("In Ferry") && page.contains("In the subprocess"));
        assert!(!page.contains("In the preloader"));
        for record in error.journey().steps() {
            assert!(page.contains(record.step.name()), "{}", record.step);
        }
    }

    #[test]
    fn friendly_page_marks_step_states_and_highlights_the_failed_step() {
        let page = render_friendly(&sample_error(), "Ferry");
        assert!(page.contains("class=\"mark performed\""));
        assert!(page.contains("class=\"mark errored\""));
        assert!(page.contains("class=\"mark not-started\""));
        assert!(page.contains("<li class=\"step errored failed\">"));
        assert_eq!(page.matches("failed here").count(), 1);
        assert!(page.contains("1.2 s"), "duration of the failed step");
    }

    #[test]
    fn friendly_page_escapes_output_and_environment() {
        let error = sample_error()
            .with_output("<script>alert(1)</script>\n".into())
            .with_config(pairs(&[("app_root", "</script><b>x")]));
        let page = render_friendly(&error, "Ferry");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script>alert"));
        assert_eq!(page.matches("</script>").count(), 1, "only the spec's own");
        assert!(page.contains("PASSENGER_APP_ENV=development"));
        assert!(page.contains("uid=1001(shop)"));
    }

    #[test]
    fn friendly_page_says_when_there_is_no_output() {
        let error = sample_error().with_output(String::new());
        assert!(render_friendly(&error, "Ferry").contains("(no output)"));
    }

    #[test]
    fn preloader_column_appears_only_on_preloader_routes() {
        let journey = Journey::new(JourneyType::SpawnThroughPreloader, true, false);
        let error = SpawnError::new(Category::Io, Step::ConnectToPreloader, "x".into(), journey);
        let page = render_friendly(&error, "Ferry");
        assert!(page.contains("In the preloader"));
        assert!(page.contains("PRELOADER_FORK_SUBPROCESS"));
    }

    #[test]
    fn spec_is_json_with_id_category_and_journey() {
        let error = sample_error();
        let page = render_friendly(&error, "Ferry");
        let spec = spec_of(&page);
        assert!(spec.starts_with('{') && spec.ends_with('}'));
        assert!(spec.contains(&format!("\"id\":\"{}\"", error.id())));
        assert!(spec.contains("\"category\":\"INTERNAL_ERROR\""));
        assert!(spec.contains("\"failed_step\":\"SUBPROCESS_APP_LOAD_OR_EXEC\""));
        assert!(spec.contains(
            "{\"step\":\"SUBPROCESS_APP_LOAD_OR_EXEC\",\"actor\":\"subprocess\",\
             \"state\":\"STEP_ERRORED\",\"duration_ms\":1207}"
        ));
        assert!(spec.contains("\"state\":\"STEP_NOT_STARTED\",\"duration_ms\":null"));
        let parsed: serde_json::Value = serde_json::from_str(spec).expect("valid JSON");
        assert_eq!(parsed["id"], error.id());
        assert_eq!(parsed["config"]["app_root"], "/srv/shop");
        assert_eq!(
            parsed["journey"].as_array().map(Vec::len),
            Some(error.journey().steps().len())
        );
    }

    #[test]
    fn spec_survives_hostile_values() {
        let error = sample_error().with_config(pairs(&[("app_root", "</script>\"\\\n\u{2028}")]));
        let page = render_friendly(&error, "Ferry");
        let parsed: serde_json::Value = serde_json::from_str(spec_of(&page)).expect("valid JSON");
        assert_eq!(parsed["config"]["app_root"], "</script>\"\\\n\u{2028}");
    }

    #[test]
    fn json_strings_are_escaped_and_safe_in_a_script_element() {
        assert_eq!(json_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(json_string("</script>"), "\"\\u003c/script\\u003e\"");
        assert_eq!(json_string("\u{1}&"), "\"\\u0001\\u0026\"");
    }

    #[test]
    fn terse_page_has_the_id_and_nothing_else_from_the_error() {
        let error = sample_error();
        let page = render_terse(&error, "Ferry");
        assert!(page.contains("We&#39;re sorry, but something went wrong."));
        assert!(page.contains("The issue has been logged for investigation."));
        assert!(page.contains(&format!("Error ID: {}", error.id())));
        assert!(page.contains("--friendly-error-pages"));
        assert!(page.contains("passenger_friendly_error_pages on"));
        assert!(page.contains("This website is powered by Ferry"));
        for secret in [
            "Cannot find module",
            "PASSENGER_APP_ENV",
            "uid=",
            "/srv/shop",
        ] {
            assert!(!page.contains(secret), "{secret}");
        }
        assert!(!page.contains("<script"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_micros(300)), "< 1 ms");
        assert_eq!(format_duration(Duration::from_millis(12)), "12 ms");
        assert_eq!(format_duration(Duration::from_millis(1336)), "1.3 s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2 min 5 s");
    }

    #[test]
    fn the_program_name_is_escaped() {
        let page = render_terse(&sample_error(), "<Ferry>");
        assert!(page.contains("powered by &lt;Ferry&gt;"));
    }
}
