//! Problem and solution descriptions generated from an error's category and failed step, used
//! when the subprocess did not write its own into `response/error/`.
//!
//! Pure functions of the facts they describe (a spawn error calls them with its own), so that
//! this module needs nothing of the error type.

use crate::category::Category;
use crate::html::escape;
use crate::journey::{Actor, Step};

/// The generated problem description of a `category` failure at `step`, with the advanced
/// details, if any.
pub(crate) fn problem_html(category: Category, step: Step, advanced: Option<&str>) -> String {
    let mut html = format!(
        "<p>The application process could not be started: {} happened while {}.</p>",
        category.phrase().to_lowercase(),
        step.describe()
    );
    html.push_str(match (category, step.actor()) {
        (Category::Timeout, _) => {
            "<p>The start timeout covers the whole spawn, from preparing the process until it \
             reports that it is ready. A slow application (large dependencies, migrations or \
             network calls at boot) can take longer than that.</p>"
        }
        (Category::FileSystem, _) => {
            "<p>A file or directory the process needs is missing, or the user the application \
             runs as may not read or enter it. File permissions are set by the system \
             administrator, not by Ferry.</p>"
        }
        (Category::OperatingSystem, _) => {
            "<p>The operating system refused a request, for example a resource limit, a user \
             switch or a process creation.</p>"
        }
        (Category::Io, _) => "<p>Reading or writing a file, pipe or socket failed.</p>",
        (Category::Internal, Actor::Subprocess) => {
            "<p>The application (or its language loader) stopped or reported an error before it \
             was ready to serve requests. Its own output, below, usually names the cause.</p>"
        }
        (Category::Internal, _) => {
            "<p>Ferry met an unexpected condition. This is likely a bug in Ferry; please \
             report it with the details on this page.</p>"
        }
    });
    if let Some(details) = advanced {
        html.push_str(&format!(
            "<p>Advanced details:</p><pre>{}</pre>",
            escape(details)
        ));
    }
    html
}

/// The generated solution description of a `category` failure at `step`; `user` is the account
/// the app runs as and `start_timeout` the timeout in seconds, as the spawn's configuration says.
pub(crate) fn solution_html(
    category: Category,
    step: Step,
    user: Option<&str>,
    start_timeout: Option<&str>,
) -> String {
    let user = user
        .map(|u| format!(" (<code>{}</code>)", escape(u)))
        .unwrap_or_default();
    let text = match (category, step) {
        (Category::Timeout, _) => format!(
            "<p>Check the application output below to see how far it got. If it is merely slow, \
             raise the start timeout (<code>--start-timeout</code>, \
             <code>passenger_start_timeout</code>; currently {} s). If it never listens, make \
             sure it listens on the port given in <code>$PORT</code> (generic apps) or is started \
             through its loader.</p>",
            escape(start_timeout.unwrap_or("?"))
        ),
        (Category::FileSystem, _) => format!(
            "<p>Make sure the user the application runs as{user} can read the application \
             directory and every directory above it, and can write to the directories it writes \
             to. <code>ls -ld</code> on each shows owner and mode.</p>"
        ),
        (Category::OperatingSystem, Step::Preparation) => {
            "<p>Check the user and group settings (<code>--user</code>, <code>--group</code>, \
             <code>--default-user</code>, <code>--default-group</code>): they must name accounts \
             that exist on this machine.</p>"
                .to_owned()
        }
        (Category::OperatingSystem, _) => {
            "<p>Check the limits and accounts this spawn asked for (for example \
             <code>--app-file-descriptor-ulimit</code> must not exceed the system's hard limit) \
             and the system log.</p>"
                .to_owned()
        }
        (Category::Io, _) => {
            "<p>Check free disk space and the temporary directory; then try again.</p>".to_owned()
        }
        (Category::Internal, step) if step.actor() == Actor::Subprocess => {
            "<p>Read the application output below: it usually names the cause (a missing \
             dependency, a syntax error, a port already in use). Fix it, then touch \
             <code>tmp/restart.txt</code> or send another request to try again.</p>"
                .to_owned()
        }
        (Category::Internal, _) => {
            "<p>Try again; if the problem persists, report it to the Ferry developers together \
             with this page.</p>"
                .to_owned()
        }
    };
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_descriptions_follow_the_category_and_the_step() {
        let html = problem_html(Category::Timeout, Step::HandshakePerform, None);
        assert!(html.contains("a timeout error happened while"), "{html}");
        assert!(!html.contains("Advanced details"));
        let html = solution_html(Category::Timeout, Step::HandshakePerform, None, Some("<9>"));
        assert!(html.contains("currently &lt;9&gt; s"), "{html}");
        let html = solution_html(Category::FileSystem, Step::Preparation, Some("app"), None);
        assert!(html.contains("runs as (<code>app</code>)"), "{html}");
        let html = solution_html(Category::OperatingSystem, Step::Preparation, None, None);
        assert!(html.contains("<code>--user</code>"), "{html}");
    }
}
