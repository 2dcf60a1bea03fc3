//! The table of every directive Ferry's Nginx-syntax configuration accepts, and the checks that
//! need nothing but the table: where a directive may appear, how many arguments it takes and of
//! what kind, whether it may repeat within one block, how it is inherited, its default, and what
//! Ferry does with it ([`Role`]).
//!
//! The table is data ([`DIRECTIVES`]); [`lookup`] finds a name in it. The resolver (which gives
//! directives their meaning) asks [`Spec::allows`] and [`Spec::check_args`] for each directive
//! it meets and turns an answer into an error that names the file and line. A name the table
//! does not know is an "unknown directive" error.
//!
//! Four groups of names are in the table:
//!
//! - **Passenger's directives**: every `passenger_*` heading of seed 000 §8 with the places,
//!   repeat rule and default the seed gives (a unit test reads the seed and compares), the
//!   aliases `rails_env` and `rack_env`, `passenger_ctl` (seed §11.9, hooks only), and the
//!   Passenger 6 names that users already write (issue 6 item 4).
//! - **The Nginx core directives Ferry implements**: blocks, `listen`, `server_name`, `root`,
//!   `alias`, `index`, `error_page`, `client_max_body_size`, `default_type`, `types`, the logs,
//!   `include`; for request bodies `client_body_buffer_size`, `client_body_timeout`,
//!   `client_body_temp_path`; and how client connections are read and kept (issue 16):
//!   `worker_connections`, `client_header_timeout`, `keepalive_timeout`, `send_timeout`,
//!   `large_client_header_buffers`, `underscores_in_headers`, `ignore_invalid_headers`.
//! - **Nginx directives Ferry accepts and ignores with a warning**, so that existing files
//!   load. Only directives whose loss changes how fast Ferry is or how a response is encoded
//!   or cached, never which response is sent or who may see it: worker and connection counts,
//!   socket options, timeouts, buffer and hash sizes, gzip, `charset`, `expires`; and
//!   process settings (`user`, `pid`, `daemon`) whose warning says what to do instead.
//! - **Directives Ferry refuses with a reason** instead of a bare "unknown directive": `if`
//!   (rejected by design), the TLS directives Ferry does not implement (`ssl`, and every other
//!   `ssl_*`), and `add_header`. Ignoring these would be worse than refusing them: a TLS setting
//!   believed in force would not be, and security headers (HSTS, CSP, frame options) would
//!   silently vanish.
//! - **Issue 19, TLS**: `listen ... ssl`/`http2`, `ssl_certificate`, `ssl_certificate_key`,
//!   `ssl_protocols`, `ssl_ciphers`, `ssl_prefer_server_ciphers`, `ssl_session_cache`,
//!   `ssl_session_tickets` and `http2`, implemented with rustls.
//!
//! Values are read the way Nginx and Passenger read them (integers are plain digits, flags are
//! `on`/`off` in any case, seconds are plain numbers), so that files move between them
//! unchanged. Where Ferry is stricter, or follows Passenger 6 rather than the seed, a comment in
//! the table or on the check says so.

use std::fmt;
use std::net::Ipv6Addr;

use super::ast::Context::{self, Events, Http, If, Location, Main, Server};
use crate::defaults;
use crate::deployment::{SymlinkFrom, SymlinkMode, Symlinks};
// The table names value kinds bare; none of them shadows a prelude name.
use ValueKind::*;

/// One of [`crate::defaults`]' numbers written out in decimal, as the table's `&'static str`
/// defaults are: at compile time, since the table is a `static`. The table holds no number of
/// its own, so `ferry config show` lists the default `ferry start` applies.
macro_rules! decimal {
    ($n:expr) => {{
        const N: u64 = $n as u64;
        const DIGITS: [u8; decimal_len(N)] = decimal_digits(N);
        match std::str::from_utf8(&DIGITS) {
            Ok(text) => text,
            Err(_) => panic!("decimal digits are ASCII"),
        }
    }};
}

/// One directive: everything the table knows about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spec {
    /// The name as written in a file. A name ending in `*` stands for every name starting with
    /// what precedes the `*` (`ssl_*`).
    pub name: &'static str,
    /// Where it may appear, in [`Context`] order.
    pub contexts: &'static [Context],
    /// How many arguments it takes.
    pub args: Arity,
    /// Whether it is followed by a `{ ... }` block (`http`, `server`, `location`, `types`).
    pub block: bool,
    /// What its arguments must look like.
    pub value: ValueKind,
    /// Whether it may be given more than once in one block. `false` is the seed's "in each
    /// place, it may be specified at most once".
    pub repeatable: bool,
    /// How a block without its own value gets one from the enclosing block.
    pub inherit: Inherit,
    /// The value used when it is given nowhere, as the seed (or Nginx's documentation) states
    /// it. `None`: no fixed default (unset, or computed from other settings; the table's
    /// comment says which).
    pub default: Option<&'static str>,
    /// When the default depends on how Ferry runs, what `ferry config show` says of it after
    /// `default` (`disable_symlinks`: `if_not_owner as root, off otherwise`).
    pub default_note: Option<&'static str>,
    /// What Ferry does with it.
    pub role: Role,
    /// Where its definition comes from.
    pub source: Source,
}

/// How many arguments a directive takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// This many or more.
    AtLeast(usize),
    /// From the first number to the second, both included.
    Range(usize, usize),
}

/// What a directive's arguments must look like. Each kind describes the whole argument list;
/// most take one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ValueKind {
    /// No arguments (blocks such as `http`).
    Nothing,
    /// `on` or `off`, in any case (as Nginx's flag directives).
    Flag,
    /// Plain decimal digits, within `min..=max`.
    Integer {
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A whole number of seconds, at least `min`. Passenger takes plain numbers here, not
    /// Nginx's `30s`/`5m` time syntax, and so does Ferry.
    Seconds {
        /// The smallest value allowed.
        min: u64,
    },
    /// An Nginx size: digits with an optional `k`, `m` or `g` suffix (`1024`, `64k`, `10m`).
    Size,
    /// Any non-empty text.
    Text,
    /// A file or directory path (not checked for existence here).
    Path,
    /// A URI path starting with `/` (`passenger_base_uri`).
    UriPath,
    /// A `passenger_pre_start` URL, as [`crate::PreStart::parse`] accepts it.
    PreStartUrl,
    /// An HTTP status code, 100 to 599.
    StatusCode,
    /// One of these words, exactly.
    Choice(&'static [&'static str]),
    /// Each argument is an HTTP header name.
    HeaderName,
    /// Each argument is one of the response headers Nginx's `*_ignore_headers` directives
    /// know ([`IGNORABLE_HEADERS`]), in any case.
    IgnoredHeaders,
    /// `NAME VALUE`: an environment variable for the app (`passenger_env_var`).
    EnvVar,
    /// `NAME VALUE`: a CGI variable in CGI form, `HTTP_X_FORWARDED_FOR` rather than
    /// `X-Forwarded-For`, as seed 000 §8.6.1 insists (`passenger_set_cgi_param`).
    CgiParam,
    /// A cookie name (an RFC 9110 token).
    CookieName,
    /// What follows the cookie in `Set-Cookie`: printable ASCII.
    CookieAttributes,
    /// `hook_NAME COMMAND` (`passenger_ctl`; Ferry's `passenger_ctl` only sets hooks).
    Hook,
    /// `listen`: an address, then parameters.
    Listen,
    /// `server_name`: names, wildcards and `~regex`es.
    ServerName,
    /// `location`: `[= | ~ | ~* | ^~] URI` or `@name`.
    LocationMatch,
    /// `error_page CODE... [=[RESPONSE]] URI`.
    ErrorPage,
    /// `disable_symlinks off|on|if_not_owner [from=PATH|from=$document_root]`.
    DisableSymlinks,
    /// `access_log PATH [FORMAT [PARAMS...]]` or `access_log off`.
    AccessLog,
    /// `error_log PATH [LEVEL]`.
    ErrorLog,
    /// The `types` block: its children are `MIME/TYPE ext...;` pairs, not directives, and are
    /// not looked up in this table.
    MimeTypes,
    /// Anything (directives that are ignored or refused).
    Any,
    // Issue 16, connection side:
    /// An Nginx time: a number with an optional unit, `ms`, `s` (the default), `m`, `h`, `d`,
    /// `w`, `M` or `y`, several in a row (`1m30s`), as nginx reads `keepalive_timeout`.
    Time,
    /// `large_client_header_buffers NUMBER SIZE`: a count of at least 1 and an Nginx size of at
    /// least 1.
    HeaderBuffers,
    // Issue 19, TLS:
    /// `ssl_protocols`: each argument `TLSv1.2` or `TLSv1.3`.
    TlsProtocols,
    /// `ssl_certificate`/`ssl_certificate_key`: a PEM file's path (not `data:`, `engine:`, or
    /// `acme`, which is not implemented yet).
    TlsFile,
}

/// How a block that does not give a directive gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inherit {
    /// From the enclosing block: http → server → location → nested location and if. For a
    /// repeatable directive the whole list is inherited, and a block's own entries replace its
    /// parent's (Nginx's rule for list directives such as `error_page`).
    Yes,
    /// A list whose entries add up: a block gets its parent's entries as well as its own. For
    /// `NAME VALUE` lists (`passenger_env_var`), an entry of the block's own wins over a
    /// parent's entry with the same name (what Passenger's Nginx module does).
    Merge,
    /// Server blocks inherit it from `http`, but every location block starts from the default
    /// again: `passenger_enabled`, which seed 000 §8.2.1 says must be re-specified in each
    /// location.
    NotIntoLocations,
    /// Never: each block starts from the default. `passenger_set_cgi_param` (seed 000 §8.6.1),
    /// and structural directives such as `listen` and the blocks themselves.
    No,
}

/// What Ferry does with a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A Passenger directive; Ferry gives it Passenger's meaning.
    Passenger,
    /// Another name for the directive `of`, with the same rules and meaning.
    Alias {
        /// The directive it stands for.
        of: &'static str,
    },
    /// Accepted and checked, but changes nothing in Ferry; the resolver logs `why` once.
    NoEffect {
        /// Why it has no effect.
        why: &'static str,
    },
    /// An Nginx directive Ferry accepts without checking its arguments and ignores, logging
    /// `warning` (so that existing files load).
    Ignored {
        /// What the user loses by it being ignored.
        warning: &'static str,
    },
    /// An Nginx feature Ferry refuses by design; using it is an error with `message`.
    Rejected {
        /// The error's explanation and what to write instead.
        message: &'static str,
    },
    /// Outside Ferry's scope; using it is an error with `message`.
    Unsupported {
        /// The error's explanation and what to do instead.
        message: &'static str,
    },
    /// An Nginx core directive Ferry implements.
    Core,
}

/// Where a directive's definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// This section of seed 000 (`"8.5.1"`).
    Seed(&'static str),
    /// A Passenger 6 directive users already write, not in seed 000 (issue 6 item 4).
    Passenger6,
    /// Nginx's own documentation.
    Nginx,
    /// Ferry's own: neither Passenger nor Nginx has it (docs/config.md lists these).
    Ferry,
}

/// Why a directive's arguments or block do not fit its [`Spec`]. The message names the
/// directive and the offending value; the caller adds where it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Invalid {
    /// Too few or too many arguments.
    #[error("{directive} takes {expected}, got {got}")]
    ArgCount {
        /// The directive.
        directive: &'static str,
        /// What it takes.
        expected: Arity,
        /// How many it got.
        got: usize,
    },
    /// A block directive written without its block.
    #[error("{directive} must be followed by a {{ ... }} block")]
    MissingBlock {
        /// The directive.
        directive: &'static str,
    },
    /// A block after a directive that takes none.
    #[error("{directive} does not take a {{ ... }} block")]
    UnexpectedBlock {
        /// The directive.
        directive: &'static str,
    },
    /// An argument of the wrong kind.
    #[error("{directive} expects {expected}, got {value:?}{}", detail_suffix(.detail))]
    Value {
        /// The directive.
        directive: &'static str,
        /// What would be right.
        expected: String,
        /// The argument as written.
        value: String,
        /// More about what is wrong with it, when there is more to say.
        detail: Option<&'static str>,
    },
}

/// The headers `passenger_ignore_headers` may name (Nginx's list for `proxy_ignore_headers`).
pub(super) const IGNORABLE_HEADERS: &[&str] = &[
    "X-Accel-Redirect",
    "X-Accel-Expires",
    "X-Accel-Limit-Rate",
    "X-Accel-Buffering",
    "X-Accel-Charset",
    "Expires",
    "Cache-Control",
    "Set-Cookie",
    "Vary",
];

/// `passenger_app_type` values: Passenger's names for the app types Ferry runs, and Ferry's own
/// names (all parse as [`crate::AppType`]). The seed also lists `classic-rails` (Rails 1.x and
/// 2.0) and `meteor`, which Ferry does not run; naming them is an error rather than a surprise
/// at spawn time.
const APP_TYPES: &[&str] = &[
    "rack", "wsgi", "node", "ruby", "python", "nodejs", "generic", // Issue 22, ASGI:
    "asgi",
];

/// `error_log` levels.
const LOG_LEVELS: &[&str] = &[
    "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg",
];

/// What an `ssl_*` directive Ferry does not implement is told (issue 19).
const TLS_UNSUPPORTED: &str = "Ferry's TLS does not implement this directive (it implements \
     listen ... ssl, ssl_certificate, ssl_certificate_key, ssl_protocols, ssl_ciphers, \
     ssl_prefer_server_ciphers, ssl_session_cache, ssl_session_tickets and http2; see \
     docs/tls.md): remove it, or terminate TLS in front of Ferry";

const NO_LIMIT: u64 = u64::MAX;

// Warnings of ignored directives that are shared or too long for one line of the table.
const NO_USER_SWITCH: &str = "Ferry does not switch its own user; start it as the user it \
     should run as (apps still run as passenger_user or passenger_default_user)";
const KEEPS_ENV: &str =
    "Ferry keeps its whole environment; set variables for apps with passenger_env_var";
const SERVER_HEADER: &str = "the Server header follows passenger_show_version_in_header";
const OWN_ACCEPT: &str = "Ferry's accept loop is not tunable";
const OWN_SOCKETS: &str = "Ferry sets its own socket options";
const OWN_TIMEOUTS: &str = "Ferry uses its own client timeouts and keep-alive limits";
const OWN_TABLES: &str = "Ferry sizes its own lookup tables";
const NO_FILE_CACHE: &str = "Ferry does not cache open files";
const NO_GZIP: &str = "Ferry does not compress responses";
/// What `ferry config show` says of `worker_connections`' default (Issue 16, connection side).
const MAX_CONNECTIONS_DEFAULT: &str = "half the open-file limit";
/// What `ferry config show` says of `disable_symlinks`' default.
const DISABLE_SYMLINKS_DEFAULT: &str = "if_not_owner as root, off otherwise";

// Where directives may appear. Passenger's usual set is "http, server, location and if".
const MAIN: &[Context] = &[Main];
const EVENTS: &[Context] = &[Events];
const HTTP: &[Context] = &[Http];
const SERVER: &[Context] = &[Server];
const LOCATION: &[Context] = &[Location];
const HTTP_SERVER: &[Context] = &[Http, Server];
const SERVER_LOCATION: &[Context] = &[Server, Location];
const SERVER_LOCATION_IF: &[Context] = &[Server, Location, If];
const HTTP_SERVER_LOCATION: &[Context] = &[Http, Server, Location];
const ALL_HTTP: &[Context] = &[Http, Server, Location, If];
const MAIN_HTTP_SERVER_LOCATION: &[Context] = &[Main, Http, Server, Location];
const EVERYWHERE: &[Context] = &[Main, Events, Http, Server, Location, If];

/// `passenger_app_env`, which its aliases copy.
const APP_ENV: Spec =
    passenger("passenger_app_env", "8.3.4", ALL_HTTP, Text).default(defaults::APP_ENV);

/// Every directive Ferry accepts. Order: seed 000 §8 in section order (aliases beside their
/// directive), `passenger_ctl`, the Passenger 6 names, Nginx core, refused, ignored; then the
/// blocks issue 16 added (request bodies, ...).
pub(super) static DIRECTIVES: &[Spec] = &[
    // --- Seed 000 §8 ---
    passenger("passenger_root", "8.1", HTTP, Path).role(Role::NoEffect {
        why: "Ferry ships its own loaders and finds them itself; it needs no Passenger install",
    }),
    // Seed: no "at most once"; Ferry refuses a second one in the same block, where Passenger
    // would let the last one silently win.
    passenger("passenger_enabled", "8.2.1", ALL_HTTP, Flag)
        .default("off")
        .inherit(Inherit::NotIntoLocations),
    passenger("passenger_base_uri", "8.2.2", ALL_HTTP, UriPath)
        .many()
        .inherit(Inherit::Merge),
    passenger("passenger_document_root", "8.2.3", ALL_HTTP, Path),
    // Seed: no "at most once" for the interpreters (and §8.3.2/§8.3.3 only refer to
    // passenger_ruby for the places); one interpreter per block, like every other setting.
    passenger("passenger_ruby", "8.3.1", ALL_HTTP, Text).default("ruby"),
    passenger("passenger_python", "8.3.2", ALL_HTTP, Text).default("python"),
    passenger("passenger_nodejs", "8.3.3", ALL_HTTP, Text).default("node"),
    APP_ENV,
    APP_ENV.alias("rails_env"),
    APP_ENV.alias("rack_env"),
    passenger("passenger_app_root", "8.3.7", ALL_HTTP, Path),
    passenger("passenger_app_type", "8.3.8", ALL_HTTP, Choice(APP_TYPES)),
    passenger("passenger_startup_file", "8.3.9", ALL_HTTP, Path),
    passenger(
        "passenger_spawn_method",
        "8.3.10",
        ALL_HTTP,
        choice(&["smart", "direct"]),
    )
    .default(defaults::SPAWN_METHOD.name()),
    passenger("passenger_load_shell_envvars", "8.3.11", ALL_HTTP, Flag).default("on"),
    passenger("passenger_rolling_restarts", "8.3.12", ALL_HTTP, Flag).default("off"),
    passenger(
        "passenger_resist_deployment_errors",
        "8.3.13",
        ALL_HTTP,
        Flag,
    )
    .default("off"),
    passenger("passenger_user_switching", "8.4.1", HTTP, Flag)
        .default(on_off(defaults::USER_SWITCHING)),
    // Ferry's own (issue 17): without it, no app runs as uid 0 or gid 0. Taken only from a file
    // root owns (`deploy`).
    ferry("passenger_allow_root_apps", HTTP, Flag).default("off"),
    passenger("passenger_user", "8.4.2", ALL_HTTP, Text),
    passenger("passenger_group", "8.4.3", ALL_HTTP, Text),
    passenger("passenger_default_user", "8.4.4", HTTP, Text).default(defaults::DEFAULT_USER),
    // Seed heading: "Passenger_default_group" (a typo). Default: the default user's primary
    // group, found at startup, so no fixed value here.
    passenger("passenger_default_group", "8.4.5", HTTP, Text),
    passenger("passenger_show_version_in_header", "8.4.6", ALL_HTTP, Flag)
        .default(on_off(defaults::SHOW_VERSION_IN_HEADER)),
    // Default: off when the app environment is staging or production, on otherwise.
    passenger("passenger_friendly_error_pages", "8.4.7", ALL_HTTP, Flag),
    passenger("passenger_max_pool_size", "8.5.1", HTTP, integer(1))
        .default(decimal!(defaults::MAX_POOL_SIZE)),
    passenger("passenger_min_instances", "8.5.2", ALL_HTTP, integer(0))
        .default(decimal!(defaults::MIN_INSTANCES)),
    passenger("passenger_max_instances", "8.5.3", ALL_HTTP, integer(0)).default("0"),
    passenger("passenger_max_instances_per_app", "8.5.4", HTTP, integer(0)).default("0"),
    passenger("passenger_pool_idle_time", "8.5.5", HTTP, seconds(0))
        .default(decimal!(defaults::POOL_IDLE_TIME_SECS)),
    passenger(
        "passenger_max_preloader_idle_time",
        "8.5.6",
        ALL_HTTP,
        seconds(0),
    )
    .default(decimal!(defaults::MAX_PRELOADER_IDLE_TIME_SECS)),
    passenger("passenger_start_timeout", "8.5.7", ALL_HTTP, seconds(1))
        .default(decimal!(defaults::START_TIMEOUT_SECS)),
    passenger(
        "passenger_concurrency_model",
        "8.5.8",
        ALL_HTTP,
        choice(&["process", "thread"]),
    )
    .default("process"),
    passenger("passenger_thread_count", "8.5.9", ALL_HTTP, integer(1))
        .default(decimal!(defaults::THREAD_COUNT)),
    passenger("passenger_max_requests", "8.5.10", ALL_HTTP, integer(0)).default("0"),
    passenger("passenger_max_request_time", "8.5.11", ALL_HTTP, seconds(0)).default("0"),
    passenger("passenger_memory_limit", "8.5.12", ALL_HTTP, integer(0)).default("0"),
    passenger("passenger_pre_start", "8.5.13", HTTP, PreStartUrl).many(),
    passenger(
        "passenger_set_cgi_param",
        "8.6.1",
        SERVER_LOCATION_IF,
        CgiParam,
    )
    .takes(Arity::Exactly(2))
    .many()
    .inherit(Inherit::No),
    passenger(
        "passenger_max_request_queue_size",
        "8.6.2",
        ALL_HTTP,
        integer(0),
    )
    .default(decimal!(defaults::MAX_REQUEST_QUEUE_SIZE)),
    passenger(
        "passenger_request_queue_overflow_status_code",
        "8.6.3",
        ALL_HTTP,
        StatusCode,
    )
    .default(decimal!(defaults::QUEUE_OVERFLOW_STATUS)),
    passenger("passenger_sticky_sessions", "8.6.4", ALL_HTTP, Flag).default("off"),
    passenger(
        "passenger_sticky_sessions_cookie_name",
        "8.6.5",
        ALL_HTTP,
        CookieName,
    )
    .default(defaults::STICKY_SESSIONS_COOKIE_NAME),
    passenger("passenger_ignore_client_abort", "8.6.6", ALL_HTTP, Flag).default("off"),
    passenger("passenger_intercept_errors", "8.6.7", ALL_HTTP, Flag).default("off"),
    passenger("passenger_pass_header", "8.6.8", ALL_HTTP, HeaderName).many(),
    passenger(
        "passenger_ignore_headers",
        "8.6.9",
        ALL_HTTP,
        IgnoredHeaders,
    )
    .takes(Arity::AtLeast(1))
    .many(),
    // On: the client gets a response's body only once the app has sent all of it (nginx-level
    // buffering). Off or on, Ferry reads the app's response as fast as the app writes it.
    passenger("passenger_buffer_response", "8.6.10", ALL_HTTP, Flag).default("off"),
    // Passenger 6's scale and default, not the seed's (Passenger 4: 0 to 3, default 0): Ferry's
    // log levels are Passenger 6's 0 (crit) to 7 (debug3), default 3 (notice).
    passenger("passenger_log_level", "8.7.1", HTTP, range(0, 7))
        .default(decimal!(defaults::LOG_LEVEL)),
    passenger("passenger_debug_log_file", "8.7.2", HTTP, Path),
    passenger("passenger_debugger", "8.7.3", ALL_HTTP, Flag)
        .default("off")
        .role(Role::NoEffect {
            why: "Ferry has no passenger-irb console to attach a debugger with",
        }),
    // Seed: no "at most once"; one temp directory. Ferry puts its instance directory there
    // (unless passenger_instance_registry_dir says where).
    passenger("passenger_temp_dir", "8.8.1", HTTP, Path).default("/tmp"),
    passenger("passenger_fly_with", "8.8.2", HTTP, Path).role(Role::NoEffect {
        why: "Ferry is itself the server; there is no separate Flying Passenger daemon to use",
    }),
    // --- Seed 000 §11.9 ---
    // Giving a hook again adds commands to it, as `ferry start --hook` does.
    passenger("passenger_ctl", "11.9", HTTP, Hook)
        .takes(Arity::Exactly(2))
        .many(),
    // --- Passenger 6 names users already write ---
    passenger6("passenger_env_var", ALL_HTTP, EnvVar)
        .takes(Arity::Exactly(2))
        .many()
        .inherit(Inherit::Merge),
    passenger6("passenger_app_group_name", ALL_HTTP, Text),
    passenger6("passenger_max_request_queue_time", ALL_HTTP, seconds(0)).default("0"),
    passenger6("passenger_app_start_command", ALL_HTTP, Text),
    passenger6(
        "passenger_sticky_sessions_cookie_attributes",
        ALL_HTTP,
        CookieAttributes,
    )
    .default(defaults::STICKY_SESSIONS_COOKIE_ATTRIBUTES),
    passenger6("passenger_instance_registry_dir", HTTP, Path),
    // --- Nginx core, implemented ---
    // The blocks and `listen`/`server_name` describe structure; nothing inherits them.
    core("http", MAIN, Arity::Exactly(0), Nothing)
        .block()
        .inherit(Inherit::No),
    core("events", MAIN, Arity::Exactly(0), Nothing)
        .block()
        .inherit(Inherit::No),
    core("server", HTTP, Arity::Exactly(0), Nothing)
        .block()
        .many()
        .inherit(Inherit::No),
    core(
        "location",
        SERVER_LOCATION,
        Arity::Range(1, 2),
        LocationMatch,
    )
    .block()
    .many()
    .inherit(Inherit::No),
    core("listen", SERVER, Arity::AtLeast(1), Listen)
        .many()
        .inherit(Inherit::No),
    // Nginx's default is the empty name, which only a request without a Host header matches.
    core("server_name", SERVER, Arity::AtLeast(1), ServerName)
        .many()
        .inherit(Inherit::No),
    // No default: Nginx's `html` is relative to Nginx's install prefix, which Ferry has not.
    core("root", ALL_HTTP, Arity::Exactly(1), Path),
    core("alias", LOCATION, Arity::Exactly(1), Path),
    // Inherited whole, mode and `from=` together, as nginx does (a block that writes a mode
    // without `from=` has none). Default: `if_not_owner` when Ferry runs as root, nginx's `off`
    // otherwise, decided at start; the table writes the root case.
    core(
        "disable_symlinks",
        HTTP_SERVER_LOCATION,
        Arity::Range(1, 2),
        DisableSymlinks,
    )
    .default(defaults::DISABLE_SYMLINKS_AS_ROOT.name())
    .default_note(DISABLE_SYMLINKS_DEFAULT),
    core("index", HTTP_SERVER_LOCATION, Arity::AtLeast(1), Path)
        .many()
        .default("index.html"),
    core("error_page", ALL_HTTP, Arity::AtLeast(2), ErrorPage).many(),
    core(
        "client_max_body_size",
        HTTP_SERVER_LOCATION,
        Arity::Exactly(1),
        Size,
    )
    .default(defaults::CLIENT_MAX_BODY_SIZE),
    core(
        "default_type",
        HTTP_SERVER_LOCATION,
        Arity::Exactly(1),
        Text,
    )
    .default("text/plain"),
    core("types", HTTP_SERVER_LOCATION, Arity::Exactly(0), MimeTypes)
        .block()
        .many(),
    // No defaults for the logs: Nginx's are relative to its install prefix; without them
    // Ferry logs to its own log.
    core("access_log", ALL_HTTP, Arity::AtLeast(1), AccessLog).many(),
    core(
        "error_log",
        MAIN_HTTP_SERVER_LOCATION,
        Arity::Range(1, 2),
        ErrorLog,
    )
    .many(),
    // The parser replaces `include` by what it includes; it is here for its places.
    core("include", EVERYWHERE, Arity::Exactly(1), Path).many(),
    // --- Nginx, refused ---
    nginx_only(
        "if",
        SERVER_LOCATION,
        Role::Rejected {
            message: "Ferry does not support if blocks (Nginx's own documentation calls them \
                      error-prone); use separate server or location blocks instead",
        },
    )
    .takes(Arity::AtLeast(1))
    .block(),
    // Issue 19, TLS: the TLS directives Ferry implements are at the end of the table.
    nginx_only(
        "ssl",
        HTTP_SERVER,
        Role::Unsupported {
            message: "`ssl on` is obsolete in nginx too: write `listen 443 ssl;`",
        },
    ),
    nginx_only(
        "ssl_session_timeout",
        HTTP_SERVER,
        Role::Unsupported {
            message: "rustls fixes how long a session lasts (6 hours for a session ticket, the \
                      cache's size for a cached session): remove the directive",
        },
    ),
    nginx_only(
        "ssl_stapling",
        HTTP_SERVER,
        Role::Unsupported {
            message: "Ferry does not fetch or staple OCSP responses yet (Let's Encrypt has \
                      ended OCSP; browsers do not need it): remove the directive",
        },
    ),
    nginx_only(
        "ssl_dhparam",
        HTTP_SERVER,
        Role::Unsupported {
            message: "rustls has no DHE cipher suites (only ECDHE), so there are no DH \
                      parameters to set: remove the directive",
        },
    ),
    nginx_only(
        "ssl_*",
        HTTP_SERVER,
        Role::Unsupported {
            message: TLS_UNSUPPORTED,
        },
    ),
    nginx_only(
        "add_header",
        ALL_HTTP,
        Role::Unsupported {
            message: "Ferry does not add response headers; set them in the app, or in a proxy \
                      in front of Ferry (ignoring them would silently drop security headers)",
        },
    ),
    // --- Nginx, accepted and ignored with a warning ---
    ignored("user", MAIN, NO_USER_SWITCH),
    ignored(
        "pid",
        MAIN,
        "Ferry does not write a pid file for this directive",
    ),
    ignored(
        "daemon",
        MAIN,
        "Ferry never daemonizes; run it under a service manager",
    ),
    ignored(
        "master_process",
        MAIN,
        "Ferry has no master and worker processes",
    ),
    ignored(
        "worker_processes",
        MAIN,
        "Ferry is one process and sizes its own thread pool",
    ),
    ignored(
        "worker_rlimit_nofile",
        MAIN,
        "Ferry raises its soft open-file limit to the hard limit at start; raise the hard limit \
         (ulimit -Hn, systemd's LimitNOFILE=) to give it more",
    ),
    ignored(
        "worker_cpu_affinity",
        MAIN,
        "Ferry does not pin its threads to CPUs",
    ),
    ignored("env", MAIN, KEEPS_ENV),
    ignored(
        "load_module",
        MAIN,
        "Ferry has no modules to load; Passenger support is built in",
    ),
    ignored("use", EVENTS, "Ferry picks its event mechanism itself"),
    ignored("multi_accept", EVENTS, OWN_ACCEPT),
    ignored("accept_mutex", EVENTS, OWN_ACCEPT),
    ignored(
        "sendfile",
        ALL_HTTP,
        "Ferry chooses how it sends files itself",
    ),
    ignored("tcp_nopush", HTTP_SERVER_LOCATION, OWN_SOCKETS),
    ignored("tcp_nodelay", HTTP_SERVER_LOCATION, OWN_SOCKETS),
    ignored("keepalive_requests", HTTP_SERVER_LOCATION, OWN_TIMEOUTS),
    ignored("server_tokens", HTTP_SERVER_LOCATION, SERVER_HEADER),
    ignored(
        "charset",
        ALL_HTTP,
        "Ferry does not add a charset to Content-Type",
    ),
    ignored("types_hash_max_size", HTTP_SERVER_LOCATION, OWN_TABLES),
    ignored("types_hash_bucket_size", HTTP_SERVER_LOCATION, OWN_TABLES),
    ignored("server_names_hash_max_size", HTTP, OWN_TABLES),
    ignored("server_names_hash_bucket_size", HTTP, OWN_TABLES),
    ignored("open_file_cache", HTTP_SERVER_LOCATION, NO_FILE_CACHE),
    ignored("open_file_cache_valid", HTTP_SERVER_LOCATION, NO_FILE_CACHE),
    ignored(
        "open_file_cache_min_uses",
        HTTP_SERVER_LOCATION,
        NO_FILE_CACHE,
    ),
    ignored(
        "open_file_cache_errors",
        HTTP_SERVER_LOCATION,
        NO_FILE_CACHE,
    ),
    ignored(
        "log_format",
        HTTP,
        "Ferry writes access logs in its own format",
    ),
    ignored("gzip", ALL_HTTP, NO_GZIP),
    ignored("gzip_types", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored("gzip_vary", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored("gzip_comp_level", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored("gzip_min_length", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored("gzip_proxied", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored("gzip_disable", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored("gzip_http_version", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored("gzip_buffers", HTTP_SERVER_LOCATION, NO_GZIP),
    ignored(
        "gzip_static",
        HTTP_SERVER_LOCATION,
        "Ferry serves a file, not its .gz copy",
    ),
    ignored(
        "expires",
        ALL_HTTP,
        "Ferry does not add Expires or Cache-Control headers",
    ),
    // --- Issue 16, request side: request bodies ---
    // Passenger 6's places: http, server, location and if.
    passenger6("passenger_request_buffering", ALL_HTTP, Flag)
        .default(on_off(defaults::REQUEST_BUFFERING)),
    core(
        "client_body_buffer_size",
        HTTP_SERVER_LOCATION,
        Arity::Exactly(1),
        Size,
    )
    .default(defaults::CLIENT_BODY_BUFFER_SIZE),
    // Ferry reads 0 as "no timeout".
    core(
        "client_body_timeout",
        HTTP_SERVER_LOCATION,
        Arity::Exactly(1),
        Time,
    )
    .default(decimal!(defaults::CLIENT_BODY_TIMEOUT_SECS)),
    // The directory, then nginx's up to three subdirectory levels, which Ferry accepts and
    // ignores: its temp files are unlinked as soon as they are created. No default: the
    // instance directory's tmp/, decided at start.
    core(
        "client_body_temp_path",
        HTTP_SERVER_LOCATION,
        Arity::Range(1, 4),
        Path,
    ),
    // Issue 22, ASGI: requests one process of an ASGI app takes at once (0: no limit).
    ferry("passenger_asgi_concurrency", ALL_HTTP, integer(0))
        .default(decimal!(defaults::ASGI_CONCURRENCY)),
    // --- Issue 16, response side ---
    // Passenger's name (its Nginx module, 5.0.7+, where it is nginx's upstream read timeout):
    // nothing from the app for this long while a request is in progress → 504 before the
    // response head, a closed connection after it; the process is stopped. Passenger's default
    // is 200 minutes, Ferry's off (0): long polls and slow reports stay quiet for long.
    passenger6("passenger_read_timeout", HTTP_SERVER_LOCATION, Time).default("0"),
    // Ferry's own: an upgraded connection (WebSocket) with no byte either way for this long is
    // closed; 0 = never.
    ferry(
        "passenger_websocket_idle_timeout",
        HTTP_SERVER_LOCATION,
        Time,
    )
    .default(decimal!(defaults::WEBSOCKET_IDLE_TIMEOUT_SECS)),
    // --- Issue 16, connection side: Nginx core, implemented ---
    // A connection reads these before its request has picked a server, so it takes them from
    // the default server of the address it came to, as nginx does; a location's own
    // keepalive_timeout or send_timeout is a warning (`deploy`).
    core("worker_connections", EVENTS, Arity::Exactly(1), integer(1))
        .default_note(MAX_CONNECTIONS_DEFAULT),
    core(
        "client_header_timeout",
        HTTP_SERVER,
        Arity::Exactly(1),
        Time,
    )
    .default(decimal!(defaults::CLIENT_HEADER_TIMEOUT_SECS)),
    core(
        "keepalive_timeout",
        HTTP_SERVER_LOCATION,
        Arity::Range(1, 2),
        Time,
    )
    .default(decimal!(defaults::KEEPALIVE_TIMEOUT_SECS)),
    core(
        "send_timeout",
        HTTP_SERVER_LOCATION,
        Arity::Exactly(1),
        Time,
    )
    .default(decimal!(defaults::SEND_TIMEOUT_SECS)),
    core(
        "client_header_buffer_size",
        HTTP_SERVER,
        Arity::Exactly(1),
        Size,
    )
    .default("1k")
    .role(Role::NoEffect {
        why: "Ferry allocates a request head's buffer only when its first bytes arrive, at a \
                  fixed 8k, growing up to large_client_header_buffers' total",
    }),
    // Default `4 8k`: a test compares it with `defaults`.
    core(
        "large_client_header_buffers",
        HTTP_SERVER,
        Arity::Exactly(2),
        HeaderBuffers,
    )
    .default("4 8k"),
    core(
        "underscores_in_headers",
        HTTP_SERVER,
        Arity::Exactly(1),
        Flag,
    )
    .default(on_off(defaults::UNDERSCORES_IN_HEADERS)),
    core(
        "ignore_invalid_headers",
        HTTP_SERVER,
        Arity::Exactly(1),
        Flag,
    )
    .default(on_off(defaults::IGNORE_INVALID_HEADERS)),
    // Issue 22, refork: Ferry's own (Passenger has no re-forking).
    ferry("passenger_refork_after", HTTP_SERVER_LOCATION, integer(0)).default("0"),
    // Issue 18, health: Ferry's own. A location that answers with Ferry's health itself (200
    // and a JSON body while ready, 503 while not ready, draining or stopping), as nginx's
    // `stub_status` answers with its counters; not inherited by nested locations.
    ferry("passenger_health_check", LOCATION, Flag)
        .default("off")
        .inherit(Inherit::No),
    // After SIGTERM, keep accepting and serving this long with the health locations answering
    // 503, then stop as usual (0: stop accepting at once).
    ferry("passenger_shutdown_delay", HTTP, Time).default(decimal!(defaults::SHUTDOWN_DELAY_SECS)),
    // Issue 19, TLS: Nginx core, implemented with rustls. Used on the addresses a `listen ...
    // ssl` names; the handshake settings come from the address's default server, the
    // certificate from the server SNI names (docs/tls.md).
    core("ssl_certificate", HTTP_SERVER, Arity::Exactly(1), TlsFile),
    core(
        "ssl_certificate_key",
        HTTP_SERVER,
        Arity::Exactly(1),
        TlsFile,
    ),
    core(
        "ssl_protocols",
        HTTP_SERVER,
        Arity::AtLeast(1),
        TlsProtocols,
    )
    .default("TLSv1.2 TLSv1.3"),
    // Read by the planner (OpenSSL's list syntax, mapped to rustls' suites).
    core("ssl_ciphers", HTTP_SERVER, Arity::Exactly(1), Text).default("HIGH:!aNULL:!MD5"),
    core(
        "ssl_prefer_server_ciphers",
        HTTP_SERVER,
        Arity::Exactly(1),
        Flag,
    )
    .default("off"),
    core("ssl_session_cache", HTTP_SERVER, Arity::Range(1, 2), Text).default("none"),
    core("ssl_session_tickets", HTTP_SERVER, Arity::Exactly(1), Flag).default("on"),
    // nginx 1.25.1's switch; `listen ... http2` is the older spelling.
    core("http2", HTTP_SERVER, Arity::Exactly(1), Flag).default("off"),
];

// === impl Spec ===

impl Spec {
    /// Whether the directive may appear in `context`.
    pub(super) fn allows(&self, context: Context) -> bool {
        self.contexts.contains(&context)
    }

    /// Where the directive may appear, to follow "NAME is": "only allowed in the http block".
    pub(super) fn allowed_in(&self) -> String {
        describe_contexts(self.contexts)
    }

    /// The directive this name stands for: the alias's target, or itself.
    pub(super) fn canonical_name(&self) -> &'static str {
        match self.role {
            Role::Alias { of } => of,
            _ => self.name,
        }
    }

    /// Checks the number and kind of `args`. Ignored and refused directives take anything.
    pub(super) fn check_args<S: AsRef<str>>(&self, args: &[S]) -> Result<(), Invalid> {
        if !self.args.allows(args.len()) {
            return Err(Invalid::ArgCount {
                directive: self.name,
                expected: self.args,
                got: args.len(),
            });
        }
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        self.value.check(&args).map_err(|bad| Invalid::Value {
            directive: self.name,
            expected: bad.expected,
            value: args[bad.index].to_owned(),
            detail: bad.detail,
        })
    }

    /// Checks that a block follows the directive exactly when it takes one.
    pub(super) fn check_block(&self, has_block: bool) -> Result<(), Invalid> {
        match (self.block, has_block) {
            (true, false) => Err(Invalid::MissingBlock {
                directive: self.name,
            }),
            (false, true) => Err(Invalid::UnexpectedBlock {
                directive: self.name,
            }),
            _ => Ok(()),
        }
    }

    // Builders for the table.

    const fn default(mut self, value: &'static str) -> Spec {
        self.default = Some(value);
        self
    }

    const fn default_note(mut self, note: &'static str) -> Spec {
        self.default_note = Some(note);
        self
    }

    const fn many(mut self) -> Spec {
        self.repeatable = true;
        self
    }

    const fn takes(mut self, args: Arity) -> Spec {
        self.args = args;
        self
    }

    const fn inherit(mut self, inherit: Inherit) -> Spec {
        self.inherit = inherit;
        self
    }

    const fn block(mut self) -> Spec {
        self.block = true;
        self
    }

    const fn role(mut self, role: Role) -> Spec {
        self.role = role;
        self
    }

    /// The same directive under another name.
    const fn alias(mut self, name: &'static str) -> Spec {
        self.role = Role::Alias { of: self.name };
        self.name = name;
        self
    }
}

// === impl Arity ===

impl Arity {
    /// Whether `count` arguments are allowed.
    pub(super) fn allows(self, count: usize) -> bool {
        match self {
            Arity::Exactly(n) => count == n,
            Arity::AtLeast(n) => count >= n,
            Arity::Range(low, high) => (low..=high).contains(&count),
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        match *self {
            Arity::Exactly(0) => f.write_str("no arguments"),
            Arity::Exactly(n) => write!(f, "exactly {n} {}", plural(n)),
            Arity::AtLeast(0) => f.write_str("any number of arguments"),
            Arity::AtLeast(n) => write!(f, "at least {n} {}", plural(n)),
            Arity::Range(low, high) if high == low + 1 => write!(f, "{low} or {high} arguments"),
            Arity::Range(low, high) => write!(f, "{low} to {high} arguments"),
        }
    }
}

// === impl ValueKind ===

/// An argument that does not fit, by position, with what would be right.
pub(super) struct Bad {
    index: usize,
    expected: String,
    detail: Option<&'static str>,
}

impl Bad {
    fn at(index: usize, expected: impl Into<String>) -> Bad {
        Bad {
            index,
            expected: expected.into(),
            detail: None,
        }
    }

    fn because(mut self, detail: &'static str) -> Bad {
        self.detail = Some(detail);
        self
    }
}

impl ValueKind {
    /// What a right value looks like, for messages and documentation.
    pub(super) fn expected(self) -> String {
        match self {
            ValueKind::Nothing => "no value".to_owned(),
            ValueKind::Flag => "on or off".to_owned(),
            ValueKind::Integer { min, max } if max == NO_LIMIT => format!("an integer ≥ {min}"),
            ValueKind::Integer { min, max } => format!("an integer from {min} to {max}"),
            ValueKind::Seconds { min } => format!("a number of seconds (an integer ≥ {min})"),
            ValueKind::Size => "a size such as 1024, 64k, 10m or 1g".to_owned(),
            ValueKind::Text => "a non-empty value".to_owned(),
            ValueKind::Path => "a path".to_owned(),
            ValueKind::UriPath => "a URI path starting with /, such as /blog".to_owned(),
            ValueKind::PreStartUrl => "an http:// URL or a path starting with /".to_owned(),
            ValueKind::StatusCode => "an HTTP status code from 100 to 599".to_owned(),
            ValueKind::Choice(words @ [_, _]) => join(words, "or"),
            ValueKind::Choice(words) => format!("one of {}", join(words, "or")),
            ValueKind::HeaderName => "an HTTP header name such as X-Accel-Redirect".to_owned(),
            ValueKind::IgnoredHeaders => format!("one of {}", join(IGNORABLE_HEADERS, "or")),
            ValueKind::EnvVar => "an environment variable name without = or NUL".to_owned(),
            ValueKind::CgiParam => {
                "a CGI variable name of letters, digits and _, such as HTTP_X_FORWARDED_FOR"
                    .to_owned()
            }
            ValueKind::CookieName => {
                "a cookie name of letters, digits and !#$%&'*+-.^_`|~".to_owned()
            }
            ValueKind::CookieAttributes => {
                "cookie attributes in printable ASCII, such as \"SameSite=Lax; Secure;\"".to_owned()
            }
            ValueKind::Hook => {
                "hook_NAME (NAME of letters, digits, _ and -) followed by a command".to_owned()
            }
            ValueKind::Listen => LISTEN_ADDRESS.to_owned(),
            ValueKind::ServerName => SERVER_NAME.to_owned(),
            ValueKind::LocationMatch => "[= | ~ | ~* | ^~] URI, or @name".to_owned(),
            ValueKind::ErrorPage => "status codes from 300 to 599, then [=[CODE]] URI".to_owned(),
            ValueKind::DisableSymlinks => {
                "off, on or if_not_owner, then optionally from=PATH (absolute) or \
                 from=$document_root"
                    .to_owned()
            }
            ValueKind::AccessLog => "a path or off".to_owned(),
            ValueKind::ErrorLog => "a path, then optionally a level".to_owned(),
            ValueKind::MimeTypes => "MIME/TYPE ext...; entries".to_owned(),
            ValueKind::Any => "anything".to_owned(),
            ValueKind::Time => "a time such as 60, 60s, 1m or 500ms".to_owned(),
            ValueKind::HeaderBuffers => "a number and a size, such as 4 8k".to_owned(),
            // Issue 19, TLS:
            ValueKind::TlsProtocols => "TLSv1.2 or TLSv1.3".to_owned(),
            ValueKind::TlsFile => "the path of a PEM file".to_owned(),
        }
    }

    /// Checks a whole argument list whose length already fits the directive.
    fn check(self, args: &[&str]) -> Result<(), Bad> {
        match self {
            ValueKind::Nothing | ValueKind::MimeTypes | ValueKind::Any => Ok(()),
            ValueKind::EnvVar => check_name(args, env_var_name, self),
            ValueKind::CgiParam => check_name(args, cgi_name, self).map_err(|bad| {
                bad.because(
                    "write header variables in CGI form: HTTP_X_FORWARDED_FOR, not X-Forwarded-For",
                )
            }),
            ValueKind::Hook => check_hook(args),
            ValueKind::Listen => check_listen(args),
            ValueKind::LocationMatch => check_location(args),
            ValueKind::ErrorPage => check_error_page(args),
            ValueKind::DisableSymlinks => disable_symlinks(args).map(|_| ()),
            ValueKind::AccessLog => check_access_log(args),
            ValueKind::ErrorLog => check_error_log(args),
            ValueKind::HeaderBuffers => header_buffers(args).map(|_| ()),
            // Issue 19, TLS:
            ValueKind::TlsProtocols => check_tls_protocols(args),
            ValueKind::TlsFile => check_tls_file(args),
            single => args.iter().enumerate().try_for_each(|(index, value)| {
                single.check_one(value).map_err(|detail| Bad {
                    index,
                    expected: single.expected(),
                    detail,
                })
            }),
        }
    }

    /// Checks one argument of a single-valued kind; the error is an optional detail.
    fn check_one(self, value: &str) -> Result<(), Option<&'static str>> {
        let ok = match self {
            ValueKind::Flag => {
                value.eq_ignore_ascii_case("on") || value.eq_ignore_ascii_case("off")
            }
            ValueKind::Integer { min, max } => {
                parse_digits(value).is_some_and(|n| (min..=max).contains(&n))
            }
            ValueKind::Seconds { min } => parse_digits(value).is_some_and(|n| n >= min),
            ValueKind::Size => is_size(value),
            ValueKind::Text | ValueKind::Path => !value.is_empty(),
            ValueKind::UriPath => value.starts_with('/'),
            ValueKind::PreStartUrl => {
                // The parser's generic complaint repeats what `expected` says; keep only its
                // specific ones (https, credentials, ...).
                return crate::PreStart::parse(value).map(|_| ()).map_err(|reason| {
                    (!reason.contains("an http:// URL or a path starting with /")).then_some(reason)
                });
            }
            ValueKind::StatusCode => value.len() == 3 && parse_digits(value).is_some_and(is_status),
            ValueKind::Choice(words) => words.contains(&value),
            ValueKind::HeaderName => is_token(value),
            ValueKind::IgnoredHeaders => IGNORABLE_HEADERS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(value)),
            ValueKind::CookieName => crate::sticky::check_cookie_name(value).is_ok(),
            ValueKind::CookieAttributes => crate::sticky::check_cookie_attributes(value).is_ok(),
            ValueKind::ServerName => is_server_name(value),
            ValueKind::Time => crate::units::time(value).is_some(),
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(None)
        }
    }
}

// === Argument checks ===

const LISTEN_ADDRESS: &str =
    "an address such as 80, 127.0.0.1:8080, [::1]:80 or unix:/path/to/socket";
const LISTEN_PARAMETER: &str = "a listen parameter such as default_server, backlog=N, \
     ipv6only=on|off, reuseport, deferred or bind";
const SERVER_NAME: &str =
    "a server name such as example.com, *.example.com, www.example.*, .example.com or ~regex";

/// Listen parameters Ferry accepts (it honours `default_server`; the rest only tune sockets).
const LISTEN_FLAGS: &[&str] = &[
    "default_server",
    "default",
    "bind",
    "deferred",
    "reuseport",
    // Issue 19, TLS:
    "ssl",
    "http2",
];
const LISTEN_SETTINGS: &[&str] = &[
    "backlog=",
    "rcvbuf=",
    "sndbuf=",
    "ipv6only=",
    "so_keepalive=",
    "fastopen=",
    "accept_filter=",
    "setfib=",
];
/// Listen parameters that change the protocol, which Ferry does not speak.
const LISTEN_UNSUPPORTED: &[&str] = &["http3", "quic", "proxy_protocol", "spdy"];

/// `NAME VALUE` lists: the name must pass `valid`; any value goes.
fn check_name(args: &[&str], valid: fn(&str) -> bool, kind: ValueKind) -> Result<(), Bad> {
    if valid(args[0]) {
        Ok(())
    } else {
        Err(Bad::at(0, kind.expected()))
    }
}

fn env_var_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

fn cgi_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `passenger_ctl hook_NAME COMMAND`, with names as `ferry start --hook` accepts them.
fn check_hook(args: &[&str]) -> Result<(), Bad> {
    let name = args[0].strip_prefix("hook_").unwrap_or("");
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !name_ok {
        return Err(Bad::at(0, ValueKind::Hook.expected())
            .because("Ferry's passenger_ctl only sets hooks (seed 000 §11.9)"));
    }
    if args[1].trim().is_empty() {
        return Err(Bad::at(1, "a command"));
    }
    Ok(())
}

fn check_listen(args: &[&str]) -> Result<(), Bad> {
    if !is_listen_address(args[0]) {
        return Err(Bad::at(0, LISTEN_ADDRESS));
    }
    for (index, param) in args.iter().enumerate().skip(1) {
        let known = LISTEN_FLAGS.contains(param)
            || LISTEN_SETTINGS
                .iter()
                .any(|prefix| param.strip_prefix(prefix).is_some_and(|v| !v.is_empty()));
        if known {
            continue;
        }
        let bad = Bad::at(index, LISTEN_PARAMETER);
        return Err(if LISTEN_UNSUPPORTED.contains(param) {
            bad.because("Ferry does not support this listen parameter")
        } else {
            bad
        });
    }
    Ok(())
}

// Issue 19, TLS:
/// `ssl_protocols`: TLS 1.2 and 1.3 only.
fn check_tls_protocols(args: &[&str]) -> Result<(), Bad> {
    for (index, arg) in args.iter().enumerate() {
        if !["TLSv1.2", "TLSv1.3"].contains(arg) {
            let bad = Bad::at(index, ValueKind::TlsProtocols.expected());
            return Err(if ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1"].contains(arg) {
                bad.because(
                    "Ferry's TLS (rustls) speaks only TLS 1.2 and 1.3; the older versions are \
                     deprecated (RFC 8996): remove them from the list",
                )
            } else {
                bad
            });
        }
    }
    Ok(())
}

/// `ssl_certificate`/`ssl_certificate_key`: a file.
fn check_tls_file(args: &[&str]) -> Result<(), Bad> {
    let bad = Bad::at(0, ValueKind::TlsFile.expected());
    match args[0] {
        "acme" => Err(bad.because(
            "automatic certificates (ACME) are not implemented yet: give a certificate file \
             (certbot's /etc/letsencrypt/live/NAME/fullchain.pem and privkey.pem)",
        )),
        path if path.starts_with("data:") || path.starts_with("engine:") => Err(bad.because(
            "Ferry reads certificates and keys from files only (no data: or engine: values)",
        )),
        path if path.contains('$') => Err(
            bad.because("Ferry loads certificates when it starts, not per handshake: no variables")
        ),
        "" => Err(bad),
        _ => Ok(()),
    }
}

/// `unix:PATH`, `[IPV6][:PORT]`, `HOST[:PORT]` or `PORT`. Port 0 (the OS picks one) is
/// accepted, unlike in Nginx, so tests can bind free ports.
fn is_listen_address(address: &str) -> bool {
    if let Some(path) = address.strip_prefix("unix:") {
        return !path.is_empty();
    }
    if let Some(rest) = address.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        return ip.parse::<Ipv6Addr>().is_ok()
            && (after.is_empty() || after.strip_prefix(':').is_some_and(is_port));
    }
    if address.bytes().all(|b| b.is_ascii_digit()) {
        return is_port(address);
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (address, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_*".contains(&b));
    host_ok && port.is_none_or(is_port)
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && parse_digits(port).is_some_and(|p| p <= 65535)
}

/// Exact names, `.example.com`, one `*` as the first or last label, `~regex`, and `""`.
fn is_server_name(name: &str) -> bool {
    if let Some(regex) = name.strip_prefix('~') {
        return !regex.is_empty();
    }
    if name.contains(|c: char| c.is_whitespace() || c == '/') {
        return false;
    }
    match name.matches('*').count() {
        0 => true,
        1 => name.starts_with("*.") || name.ends_with(".*"),
        _ => false,
    }
}

const LOCATION_MODIFIERS: &[&str] = &["=", "~", "~*", "^~"];

fn check_location(args: &[&str]) -> Result<(), Bad> {
    match args {
        [modifier] if LOCATION_MODIFIERS.contains(modifier) => {
            Err(Bad::at(0, "a URI after the modifier"))
        }
        [modifier, _] if !LOCATION_MODIFIERS.contains(modifier) => {
            Err(Bad::at(0, "a modifier (=, ~, ~* or ^~) before the URI"))
        }
        [.., ""] => Err(Bad::at(args.len() - 1, "a URI")),
        _ => Ok(()),
    }
}

/// `error_page CODE... [=[RESPONSE]] URI`.
fn check_error_page(args: &[&str]) -> Result<(), Bad> {
    let last = args.len() - 1;
    if args[last].is_empty() {
        return Err(Bad::at(last, "a URI"));
    }
    let mut codes = &args[..last];
    if let Some(response) = codes.last().and_then(|a| a.strip_prefix('=')) {
        if !response.is_empty() && !parse_digits(response).is_some_and(is_status) {
            return Err(Bad::at(
                last - 1,
                "= or =CODE with a status code from 100 to 599",
            ));
        }
        codes = &codes[..codes.len() - 1];
    }
    if codes.is_empty() {
        return Err(Bad::at(0, "a status code from 300 to 599"));
    }
    match codes
        .iter()
        .position(|c| !parse_digits(c).is_some_and(|n| (300..=599).contains(&n)))
    {
        Some(index) => Err(Bad::at(index, "a status code from 300 to 599")),
        None => Ok(()),
    }
}

/// `disable_symlinks`' arguments as the setting they make: a mode and an optional `from=`, in
/// either order (as nginx reads them). `from=` takes an absolute path or `$document_root` (nginx
/// takes any variables), and not with `off`.
pub(super) fn disable_symlinks<S: AsRef<str>>(args: &[S]) -> Result<Symlinks, Bad> {
    let mut mode = None;
    let mut from = None;
    for (index, arg) in args.iter().map(AsRef::as_ref).enumerate() {
        if let Some(prefix) = arg.strip_prefix("from=") {
            if from.is_some() {
                return Err(Bad::at(index, "one from= at most"));
            }
            from = Some(match prefix {
                "$document_root" => SymlinkFrom::DocumentRoot,
                path if path.starts_with('/') => SymlinkFrom::Path(path.into()),
                _ => {
                    return Err(Bad::at(
                        index,
                        "from=PATH (absolute) or from=$document_root",
                    ))
                }
            });
            continue;
        }
        match (arg.parse::<SymlinkMode>(), mode) {
            (Ok(parsed), None) => mode = Some(parsed),
            (Ok(_), Some(_)) => return Err(Bad::at(index, "one mode at most")),
            (Err(_), _) => return Err(Bad::at(index, ValueKind::DisableSymlinks.expected())),
        }
    }
    match (mode, from) {
        (None, _) => Err(Bad::at(0, ValueKind::DisableSymlinks.expected())),
        (Some(SymlinkMode::Off), Some(_)) => {
            Err(Bad::at(0, "on or if_not_owner").because("from= cannot be used with off"))
        }
        (Some(mode), from) => Ok(Symlinks { mode, from }),
    }
}

fn check_access_log(args: &[&str]) -> Result<(), Bad> {
    if args[0].is_empty() {
        return Err(Bad::at(0, "a path or off"));
    }
    if args[0] == "off" && args.len() > 1 {
        return Err(Bad::at(1, "nothing after off"));
    }
    Ok(())
}

fn check_error_log(args: &[&str]) -> Result<(), Bad> {
    if args[0].is_empty() {
        return Err(Bad::at(0, "a path"));
    }
    match args.get(1) {
        Some(level) if !LOG_LEVELS.contains(level) => Err(Bad::at(
            1,
            format!("a log level: {}", join(LOG_LEVELS, "or")),
        )),
        _ => Ok(()),
    }
}

// Issue 16, connection side:

/// `large_client_header_buffers NUMBER SIZE` as (number, size in bytes), both at least 1.
pub(super) fn header_buffers<S: AsRef<str>>(args: &[S]) -> Result<(u64, u64), Bad> {
    let number = parse_digits(args[0].as_ref()).filter(|&n| n >= 1);
    let size = crate::units::size(args[1].as_ref()).filter(|&n| n >= 1);
    match (number, size) {
        (None, _) => Err(Bad::at(0, "a number of buffers, at least 1")),
        (_, None) => Err(Bad::at(1, "a size such as 8k, at least 1 byte")),
        (Some(number), Some(size)) => Ok((number, size)),
    }
}

// === Helpers ===

/// Where a directive may appear, to follow "NAME is": "only allowed in the http block",
/// "allowed in http, server, location and if blocks", "only allowed at the top level".
pub(super) fn describe_contexts(contexts: &[Context]) -> String {
    if EVERYWHERE.iter().all(|c| contexts.contains(c)) {
        return "allowed anywhere".to_owned();
    }
    let top = contexts.contains(&Main);
    let blocks: Vec<&str> = contexts
        .iter()
        .filter(|c| **c != Main)
        .map(|c| c.name())
        .collect();
    let in_blocks = match blocks.as_slice() {
        [] => None,
        [one] => Some(format!("in the {one} block")),
        many => Some(format!("in {} blocks", join(many, "and"))),
    };
    match (top, in_blocks) {
        (true, None) => "only allowed at the top level".to_owned(),
        (false, Some(place)) if blocks.len() == 1 => format!("only allowed {place}"),
        (false, Some(place)) => format!("allowed {place}"),
        (true, Some(place)) => format!("allowed at the top level and {place}"),
        (false, None) => "not allowed anywhere".to_owned(),
    }
}

/// Looks a directive up by name: an exact entry, else an entry whose name ends in `*` and
/// whose prefix `name` starts with.
pub(super) fn lookup(name: &str) -> Option<&'static Spec> {
    DIRECTIVES
        .iter()
        .find(|spec| spec.name == name)
        .or_else(|| {
            DIRECTIVES.iter().find(|spec| {
                spec.name
                    .strip_suffix('*')
                    .is_some_and(|prefix| name.starts_with(prefix))
            })
        })
}

/// "a, b and c" (or "or").
fn join(words: &[&str], conjunction: &str) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

fn detail_suffix(detail: &Option<&str>) -> String {
    detail.map(|d| format!("; {d}")).unwrap_or_default()
}

/// Plain decimal digits, as Nginx reads numbers: no sign, no spaces.
fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn is_status(code: u64) -> bool {
    (100..=599).contains(&code)
}

/// Digits with an optional `k`, `m` or `g` suffix in either case.
fn is_size(value: &str) -> bool {
    let digits = value
        .strip_suffix(['k', 'K', 'm', 'M', 'g', 'G'])
        .unwrap_or(value);
    parse_digits(digits).is_some()
}

/// An RFC 9110 token (header names).
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// Constructors for the table.

const fn passenger(
    name: &'static str,
    section: &'static str,
    contexts: &'static [Context],
    value: ValueKind,
) -> Spec {
    Spec {
        name,
        contexts,
        args: Arity::Exactly(1),
        block: false,
        value,
        repeatable: false,
        inherit: Inherit::Yes,
        default: None,
        default_note: None,
        role: Role::Passenger,
        source: Source::Seed(section),
    }
}

const fn passenger6(name: &'static str, contexts: &'static [Context], value: ValueKind) -> Spec {
    let mut spec = passenger(name, "", contexts, value);
    spec.source = Source::Passenger6;
    spec
}

/// A directive of Ferry's own, with a Passenger-style name.
const fn ferry(name: &'static str, contexts: &'static [Context], value: ValueKind) -> Spec {
    let mut spec = passenger(name, "", contexts, value);
    spec.source = Source::Ferry;
    spec
}

const fn core(
    name: &'static str,
    contexts: &'static [Context],
    args: Arity,
    value: ValueKind,
) -> Spec {
    let mut spec = passenger(name, "", contexts, value);
    spec.args = args;
    spec.role = Role::Core;
    spec.source = Source::Nginx;
    spec
}

/// Accepted with any arguments, any number of times, and ignored.
const fn ignored(name: &'static str, contexts: &'static [Context], warning: &'static str) -> Spec {
    nginx_only(name, contexts, Role::Ignored { warning })
}

/// An Nginx directive Ferry does not implement, described by `role`.
const fn nginx_only(name: &'static str, contexts: &'static [Context], role: Role) -> Spec {
    core(name, contexts, Arity::AtLeast(0), ValueKind::Any)
        .many()
        .inherit(Inherit::No)
        .role(role)
}

/// How many decimal digits `n` has.
const fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// `n`'s decimal digits, as ASCII; `LEN` is [`decimal_len`]`(n)`.
const fn decimal_digits<const LEN: usize>(mut n: u64) -> [u8; LEN] {
    let mut digits = [b'0'; LEN];
    let mut i = LEN;
    while i > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    digits
}

/// A flag's default as the table writes it.
const fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

const fn integer(min: u64) -> ValueKind {
    ValueKind::Integer { min, max: NO_LIMIT }
}

const fn range(min: u64, max: u64) -> ValueKind {
    ValueKind::Integer { min, max }
}

const fn seconds(min: u64) -> ValueKind {
    ValueKind::Seconds { min }
}

const fn choice(words: &'static [&'static str]) -> ValueKind {
    ValueKind::Choice(words)
}

#[cfg(test)]
mod tests;
