//! One skip policy for tests that need something of the machine: an interpreter, root, Debian's
//! `passenger` package, a library.
//!
//! A test states what it needs with [`require!`](crate::require!) (or [`require`] /
//! [`require_for`] when it only skips a part of itself). When something is missing:
//!
//! - under CI (`CI` set to `true` or `1`, as the CI runner does), the test **fails**, naming what
//!   is missing and what installs it: a test that cannot run must not count as passed there;
//! - elsewhere it prints `SKIPPED: <test>: <why>` on stderr and returns, so a developer without
//!   Ruby still runs the rest and sees plainly what did not run.
//!
//! `scripts/install-deps.sh` installs everything a requirement can name but root.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The environment variable CI sets: `true` or `1` turns a missing requirement into a failure.
pub const CI_ENV: &str = "CI";

/// What installs most requirements.
const INSTALL_DEPS: &str = "scripts/install-deps.sh installs it";

/// Something a test needs from the machine it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// A program that runs (`PROGRAM --version` succeeds): `ruby`, `python3`, `node`, `setpriv`.
    Program(&'static str),
    /// Running as root: user switching, `chown`, acting as another user.
    Root,
    /// Debian's `passenger` package: Passenger's own loaders in its helper-scripts directory.
    PassengerPackage,
    /// A module `python3` imports (`flask`, `prometheus_client.parser`).
    PythonModule(&'static str),
    /// A library `ruby` requires (`sinatra/base`).
    RubyLibrary(&'static str),
    /// A user account (`nobody`).
    User(&'static str),
    /// A group (`nogroup`).
    Group(&'static str),
    /// A file or directory that must exist.
    Path {
        /// What it is, for the message (`Express in its fixture's node_modules`).
        what: &'static str,
        /// Where it must be.
        path: PathBuf,
        /// What puts it there (`scripts/install-deps.sh installs it`).
        installs: &'static str,
    },
    /// A condition the test checked itself.
    Holds {
        /// Whether it holds.
        holds: bool,
        /// What does not hold when it does not (`uid 54321 has no passwd entry`).
        what: String,
        /// What would make it hold.
        fix: &'static str,
    },
}

/// Where Debian's `passenger` package keeps Passenger's loaders.
pub const PASSENGER_HELPER_SCRIPTS: &str = "/usr/share/passenger/helper-scripts";

// === impl Requirement ===

impl Requirement {
    /// Why this requirement is not met here, or `None` when it is.
    pub fn missing(&self) -> Option<String> {
        let met = match self {
            Requirement::Program(program) => runs(program, &["--version"]),
            Requirement::Root => nix::unistd::geteuid().is_root(),
            Requirement::PassengerPackage => PathBuf::from(PASSENGER_HELPER_SCRIPTS)
                .join("wsgi-loader.py")
                .exists(),
            Requirement::PythonModule(module) => {
                runs("python3", &["-c", &format!("import {module}")])
            }
            Requirement::RubyLibrary(library) => {
                runs("ruby", &["-e", &format!("require {library:?}")])
            }
            Requirement::User(name) => nix::unistd::User::from_name(name).ok().flatten().is_some(),
            Requirement::Group(name) => {
                nix::unistd::Group::from_name(name).ok().flatten().is_some()
            }
            Requirement::Path { path, .. } => path.exists(),
            Requirement::Holds { holds, .. } => *holds,
        };
        (!met).then(|| self.to_string())
    }
}

impl fmt::Display for Requirement {
    /// The requirement as a missing one: what is missing, then what provides it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Program(program) => {
                write!(f, "`{program}` is not installed ({INSTALL_DEPS})")
            }
            Requirement::Root => f.write_str("the test is not running as root (CI runs as root)"),
            Requirement::PassengerPackage => write!(
                f,
                "{PASSENGER_HELPER_SCRIPTS} is missing (Debian's passenger package; {INSTALL_DEPS})"
            ),
            Requirement::PythonModule(module) => {
                write!(f, "python3 cannot import {module} ({INSTALL_DEPS})")
            }
            Requirement::RubyLibrary(library) => {
                write!(f, "ruby cannot require {library} ({INSTALL_DEPS})")
            }
            Requirement::User(name) => write!(f, "there is no user {name}"),
            Requirement::Group(name) => write!(f, "there is no group {name}"),
            Requirement::Path {
                what,
                path,
                installs,
            } => write!(f, "{what} is missing: {} ({installs})", path.display()),
            Requirement::Holds { what, fix, .. } => write!(f, "{what} ({fix})"),
        }
    }
}

/// Whether `program args...` runs and exits 0, its output discarded.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the environment says this is a CI run (`CI=true` or `CI=1`).
pub fn under_ci() -> bool {
    std::env::var(CI_ENV).is_ok_and(|v| is_ci_value(&v))
}

fn is_ci_value(value: &str) -> bool {
    value == "1" || value.eq_ignore_ascii_case("true")
}

/// Whether every requirement of the calling test is met. When one is not, panics under CI;
/// elsewhere prints `SKIPPED: <test>: <why>` on stderr and returns `false`, and the test
/// returns. [`require!`](crate::require!) does both steps.
///
/// The test is named after the thread running it (the test harness names each test's thread).
///
/// # Panics
///
/// Under CI, when a requirement is not met.
#[track_caller]
pub fn require(requirements: &[Requirement]) -> bool {
    check(&current_test(), requirements)
}

/// As [`require`], for a part of a test (`part` says which: "the /metrics checks"): the caller
/// skips that part and goes on.
///
/// # Panics
///
/// Under CI, when a requirement is not met.
#[track_caller]
pub fn require_for(part: &str, requirements: &[Requirement]) -> bool {
    check(&format!("{} ({part})", current_test()), requirements)
}

/// The policy itself, for a test named `test`.
///
/// # Panics
///
/// Under CI, when a requirement is not met.
#[track_caller]
pub fn check(test: &str, requirements: &[Requirement]) -> bool {
    match verdict(test, requirements, under_ci()) {
        Verdict::Run => true,
        Verdict::Skip(line) => {
            // Straight to stderr, not through `eprintln!`, which the test harness captures (and
            // shows only for failed tests): a skip must show in an ordinary `cargo test` run.
            let _ = writeln!(std::io::stderr(), "{line}");
            false
        }
        Verdict::Fail(message) => panic!("{message}"),
    }
}

/// What becomes of a test, given what it requires and whether this is a CI run.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Everything is there.
    Run,
    /// Something is missing, outside CI: this line goes to stderr and the test returns.
    Skip(String),
    /// Something is missing under CI: the test fails with this message.
    Fail(String),
}

fn verdict(test: &str, requirements: &[Requirement], ci: bool) -> Verdict {
    let missing: Vec<String> = requirements
        .iter()
        .filter_map(Requirement::missing)
        .collect();
    if missing.is_empty() {
        return Verdict::Run;
    }
    let why = missing.join("; ");
    if ci {
        Verdict::Fail(format!(
            "{test} cannot run: {why}. Under CI ({CI_ENV}=true) a test that cannot run fails \
             instead of passing."
        ))
    } else {
        Verdict::Skip(format!("SKIPPED: {test}: {why}"))
    }
}

/// The running test's name: its thread's name, as the test harness sets it, unless that is no
/// test's name (a runtime's worker thread, `main` in a custom harness).
fn current_test() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name != "main" && !name.starts_with("tokio-") => name.to_owned(),
        _ => "this test".to_owned(),
    }
}

/// Returns from the calling test when a [`Requirement`] is not met: under CI the test fails
/// instead (see the [module](mod@crate::require) docs).
///
/// ```
/// use ferry_test_support::{require, Requirement};
///
/// fn user_switching_in_a_rack_app() {
///     require!(Requirement::Program("ruby"), Requirement::Root);
///     // What needs Ruby and root.
/// }
/// ```
#[macro_export]
macro_rules! require {
    ($($requirement:expr),+ $(,)?) => {
        if !$crate::require::require(&[$($requirement),+]) {
            return;
        }
    };
}

/// Shorthand for [`require!`](crate::require!)`(Requirement::Program(program))`: returns from
/// the calling test when `program` is not installed (fails under CI).
#[macro_export]
macro_rules! require_program {
    ($program:expr) => {
        $crate::require!($crate::require::Requirement::Program($program))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_values() {
        assert!(is_ci_value("true"));
        assert!(is_ci_value("TRUE"));
        assert!(is_ci_value("1"));
        assert!(!is_ci_value("false"));
        assert!(!is_ci_value("0"));
        assert!(!is_ci_value(""));
    }

    #[test]
    fn met_requirements_are_met() {
        let sh = Requirement::Path {
            what: "a shell",
            path: "/bin/sh".into(),
            installs: "the base system",
        };
        let holds = Requirement::Holds {
            holds: true,
            what: "nothing".into(),
            fix: "nothing",
        };
        assert_eq!(sh.missing(), None);
        assert_eq!(holds.missing(), None);
        assert_eq!(Requirement::User("root").missing(), None);
        assert!(check("met", &[sh, holds]), "runs, whether under CI or not");
    }

    #[test]
    fn missing_requirements_say_what_installs_them() {
        let program = Requirement::Program("ferry-no-such-program");
        let why = program.missing().expect("missing");
        assert!(
            why.contains("`ferry-no-such-program` is not installed"),
            "{why}"
        );
        assert!(why.contains("scripts/install-deps.sh"), "{why}");
        let path = Requirement::Path {
            what: "the thing",
            path: "/nonexistent/ferry".into(),
            installs: "nothing does",
        };
        assert_eq!(
            path.missing().as_deref(),
            Some("the thing is missing: /nonexistent/ferry (nothing does)")
        );
    }

    #[test]
    fn a_missing_requirement_skips_or_fails_under_ci() {
        let missing = || Requirement::Holds {
            holds: false,
            what: "never met".into(),
            fix: "a test of the policy",
        };
        let met = Requirement::Path {
            what: "a shell",
            path: "/bin/sh".into(),
            installs: "the base system",
        };
        assert_eq!(
            verdict("t", &[met.clone(), missing()], false),
            Verdict::Skip("SKIPPED: t: never met (a test of the policy)".into())
        );
        assert_eq!(
            verdict("t", &[missing(), met.clone(), missing()], true),
            Verdict::Fail(
                "t cannot run: never met (a test of the policy); never met (a test of the \
                 policy). Under CI (CI=true) a test that cannot run fails instead of passing."
                    .into()
            )
        );
        assert_eq!(verdict("t", std::slice::from_ref(&met), true), Verdict::Run);
        assert_eq!(verdict("t", &[met], false), Verdict::Run);
    }

    #[test]
    fn the_test_is_named_after_its_thread() {
        assert_eq!(
            current_test(),
            "require::tests::the_test_is_named_after_its_thread"
        );
    }
}
