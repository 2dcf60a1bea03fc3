//! Problem and solution descriptions generated from an error's category and failed step, used
//! when the subprocess did not write its own into `response/error/`.

use crate::error::{escape, Category, SpawnError};
use crate::journey::{Actor, Step};

/// The generated problem description.
pub(crate) fn problem_html(error: &SpawnError) -> String {
    let step = error.step();
    let mut html = format!(
        "<p>The application process could not be started: {} happened while {}.</p>",
        error.category().phrase().to_lowercase(),
        step.describe()
    );
    html.push_str(match (error.category(), step.actor()) {
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
    if let Some(details) = error.advanced_details() {
        html.push_str(&format!(
            "<p>Advanced details:</p><pre>{}</pre>",
            escape(details)
        ));
    }
    html
}

/// The generated solution description.
pub(crate) fn solution_html(error: &SpawnError) -> String {
    let user = error
        .config_value("user")
        .map(|u| format!(" (<code>{}</code>)", escape(u)))
        .unwrap_or_default();
    let text = match (error.category(), error.step()) {
        (Category::Timeout, _) => format!(
            "<p>Check the application output below to see how far it got. If it is merely slow, \
             raise the start timeout (<code>--start-timeout</code>, \
             <code>passenger_start_timeout</code>; currently {} s). If it never listens, make \
             sure it listens on the port given in <code>$PORT</code> (generic apps) or is started \
             through its loader.</p>",
            escape(error.config_value("start_timeout").unwrap_or("?"))
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
    use crate::journey::Journey;

    #[test]
    fn generated_descriptions_name_the_step_and_include_advanced_details() {
        let e = SpawnError::new(
            Category::FileSystem,
            Step::SubprocessSpawnEnvSetupperBeforeShell,
            "cannot enter /srv/app".into(),
            Journey::spawn_directly(),
        )
        .with_advanced(Some("errno 13 <EACCES>".into()));
        let html = e.problem_html();
        assert!(html.contains("a file system error happened while setting up the environment"));
        assert!(html.contains("errno 13 &lt;EACCES&gt;"));
        assert!(e.solution_html().contains("can read the application"));
    }
}
