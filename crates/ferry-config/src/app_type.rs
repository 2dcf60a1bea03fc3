//! App types and their detection from the startup file, as Passenger's app-type detector does.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The kind of app, which decides how a process of it is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    /// A Node.js app started from `app.js`.
    Node,
    /// A Rack app started from `config.ru` (loader: a later milestone).
    Ruby,
    /// A WSGI app started from `passenger_wsgi.py` (loader: a later milestone).
    Python,
    /// Any app started by a shell command that listens on `$PORT`.
    Generic,
}

/// Detection order: the first type whose default startup file exists wins. Passenger's order is a
/// hash-table order; ours is fixed so detection is predictable.
const DETECTION_ORDER: [AppType; 3] = [AppType::Ruby, AppType::Python, AppType::Node];

impl AppType {
    /// The startup file Passenger looks for (`config.ru`, `passenger_wsgi.py`, `app.js`).
    pub fn default_startup_file(self) -> Option<&'static str> {
        match self {
            AppType::Node => Some("app.js"),
            AppType::Ruby => Some("config.ru"),
            AppType::Python => Some("passenger_wsgi.py"),
            AppType::Generic => None,
        }
    }

    /// Detects the app type of `root`. With an explicit startup file, its extension decides.
    pub fn detect(root: &Path, startup_file: Option<&Path>) -> Option<AppType> {
        if let Some(file) = startup_file {
            return match file.extension()?.to_str()? {
                "js" | "mjs" | "cjs" => Some(AppType::Node),
                "ru" => Some(AppType::Ruby),
                "py" => Some(AppType::Python),
                _ => None,
            };
        }
        DETECTION_ORDER.into_iter().find(|t| {
            t.default_startup_file()
                .is_some_and(|file| root.join(file).is_file())
        })
    }
}

impl fmt::Display for AppType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppType::Node => "node",
            AppType::Ruby => "ruby",
            AppType::Python => "python",
            AppType::Generic => "generic",
        })
    }
}

/// An app type name that is not known.
#[derive(Debug, thiserror::Error)]
#[error("unknown app type {0:?}: expected node, ruby, python or generic")]
pub struct UnknownAppType(String);

impl FromStr for AppType {
    type Err = UnknownAppType;

    /// Accepts Passenger's names and aliases (`nodejs`/`node`, `ruby`/`rack`, `python`/`wsgi`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "node" | "nodejs" => Ok(AppType::Node),
            "ruby" | "rack" => Ok(AppType::Ruby),
            "python" | "wsgi" => Ok(AppType::Python),
            "generic" => Ok(AppType::Generic),
            other => Err(UnknownAppType(other.to_owned())),
        }
    }
}
