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
    // Issue 22, ASGI:
    /// An ASGI 3 app (FastAPI, Starlette, Django's ASGI handler) started from `asgi.py`, or from
    /// `FILE.py:NAME`. An ASGI app in `passenger_wsgi.py` is a [`AppType::Python`] app whose
    /// loader finds out and serves it as this type's loader does.
    Asgi,
}

/// Detection order: the first type whose default startup file exists wins. Passenger's order is a
/// hash-table order; ours is fixed so detection is predictable. `asgi.py` comes after
/// `passenger_wsgi.py`, so a Passenger app keeps its type.
const DETECTION_ORDER: [AppType; 4] =
    [AppType::Ruby, AppType::Python, AppType::Node, AppType::Asgi];

impl AppType {
    /// The startup file Passenger looks for (`config.ru`, `passenger_wsgi.py`, `app.js`).
    pub fn default_startup_file(self) -> Option<&'static str> {
        match self {
            AppType::Node => Some("app.js"),
            AppType::Ruby => Some("config.ru"),
            AppType::Python => Some("passenger_wsgi.py"),
            AppType::Generic => None,
            AppType::Asgi => Some("asgi.py"),
        }
    }

    /// The startup file and the callable's name of an ASGI startup file written `FILE.py:NAME`
    /// (`main.py:app`); any other file is returned whole, without a name.
    pub fn split_callable(file: &Path) -> (&Path, Option<&str>) {
        let Some((path, name)) = file.to_str().and_then(|f| f.rsplit_once(':')) else {
            return (file, None);
        };
        let identifier = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_alphabetic())
                && part.chars().all(|c| c == '_' || c.is_alphanumeric())
        };
        if path.ends_with(".py") && name.split('.').all(identifier) {
            (Path::new(path), Some(name))
        } else {
            (file, None)
        }
    }

    /// Detects the app type of `root`. With an explicit startup file, its extension decides.
    pub fn detect(root: &Path, startup_file: Option<&Path>) -> Option<AppType> {
        if let Some(file) = startup_file {
            if AppType::split_callable(file).1.is_some() {
                return Some(AppType::Asgi);
            }
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
            AppType::Asgi => "asgi",
        })
    }
}

/// An app type name that is not known.
#[derive(Debug, thiserror::Error)]
#[error("unknown app type {0:?}: expected node, ruby, python, asgi or generic")]
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
            "asgi" => Ok(AppType::Asgi),
            other => Err(UnknownAppType(other.to_owned())),
        }
    }
}
