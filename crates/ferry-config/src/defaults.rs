//! Passenger's defaults, each written once.
//!
//! `ferry start` applies them to whatever no flag, environment variable or `Passengerfile.json`
//! gave ([`crate::StartOptions::resolve`]). The Nginx directive table writes them out as its
//! defaults, which `ferry config show` lists and `ferry start --config` applies (the planner
//! reads a setting nobody wrote through the table). The crates below take theirs from here too:
//! `ferry_spawn::SpawnOptions::generic` and the front end's sticky cookie.
//!
//! Settings whose default is 0 for "no limit" (`max_instances`, `max_requests`,
//! `memory_limit`, `max_request_time`, `max_request_queue_time`) have no constant: 0 is what
//! turns them off, not a value to tune.

use crate::deployment::symlinks::SymlinkMode;
use crate::SpawnMethod;

/// `ferry start --address`: every IPv4 address.
pub const ADDRESS: &str = "0.0.0.0";
/// `ferry start --port`.
pub const PORT: u16 = 3000;
/// `passenger_app_env`.
pub const APP_ENV: &str = "production";
/// `passenger_max_pool_size`: most app processes alive at once, over all apps.
pub const MAX_POOL_SIZE: usize = 6;
/// `passenger_min_instances`: fewest processes kept per app once it has started.
pub const MIN_INSTANCES: usize = 1;
/// `passenger_max_request_queue_size`.
pub const MAX_REQUEST_QUEUE_SIZE: usize = 100;
/// `passenger_request_queue_overflow_status_code`.
pub const QUEUE_OVERFLOW_STATUS: u16 = 503;
/// `passenger_pool_idle_time`, in seconds.
pub const POOL_IDLE_TIME_SECS: u64 = 300;
/// `passenger_max_preloader_idle_time`, in seconds (seed 000 §8.5.6).
pub const MAX_PRELOADER_IDLE_TIME_SECS: u64 = 300;
/// `passenger_start_timeout`, in seconds.
pub const START_TIMEOUT_SECS: u64 = 90;
/// `passenger_thread_count` (for the `thread` concurrency model).
pub const THREAD_COUNT: usize = 1;
/// `passenger_spawn_method`, for the apps a preloader can run (the others are spawned directly).
pub const SPAWN_METHOD: SpawnMethod = SpawnMethod::Smart;
/// `passenger_log_level`: 3, notice, on Passenger 6's scale of 0 (crit) to 7 (debug3).
pub const LOG_LEVEL: u8 = 3;
/// `passenger_user_switching`.
pub const USER_SWITCHING: bool = true;
/// `passenger_default_user`.
pub const DEFAULT_USER: &str = "nobody";
/// `passenger_show_version_in_header`.
pub const SHOW_VERSION_IN_HEADER: bool = true;
/// `passenger_sticky_sessions_cookie_name`.
pub const STICKY_SESSIONS_COOKIE_NAME: &str = "_passenger_route";
/// `passenger_sticky_sessions_cookie_attributes`: what follows `Path=...;` in `Set-Cookie`.
pub const STICKY_SESSIONS_COOKIE_ATTRIBUTES: &str = "SameSite=Lax; Secure;";
/// `disable_symlinks` when none is written and Ferry does not run as root: nginx's default,
/// every link followed.
pub const DISABLE_SYMLINKS: SymlinkMode = SymlinkMode::Off;
/// `disable_symlinks` when none is written and Ferry runs as root: a link is followed only when
/// it and what it leads to have the same owner, so that no link an app's owner writes makes root
/// serve a file that owner could not read. A deliberate difference from nginx, whose default is
/// `off` whoever it runs as.
pub const DISABLE_SYMLINKS_AS_ROOT: SymlinkMode = SymlinkMode::IfNotOwner;
/// `ferry start --disable-symlinks`: the links in the app's `public/` that are followed, whoever
/// Ferry runs as (a Capistrano `public/system -> shared/system` of the same owner is).
pub const START_DISABLE_SYMLINKS: SymlinkMode = SymlinkMode::IfNotOwner;
/// `--max-parallel-spawns` (Ferry's own): Passenger's one spawn at a time per app.
pub const MAX_PARALLEL_SPAWNS: usize = 1;

// Issue 16, request side: request bodies.

/// `client_max_body_size` in a configuration file: nginx's 1 MiB. A body over it gets 413
/// before any app sees it.
pub const CLIENT_MAX_BODY_SIZE: &str = "1m";
/// `ferry start --client-max-body-size`: 1024m, what Passenger Standalone's Nginx template
/// writes (its builtin engine has no limit). Nginx's 1m would refuse the uploads people make
/// through `passenger start` today; no limit at all would let one client fill the disk with a
/// buffered body.
pub const START_CLIENT_MAX_BODY_SIZE: &str = "1024m";
/// `client_body_buffer_size`: how much of a request body is held in memory; a longer body goes
/// whole to an unlinked temp file. Nginx's 16k (on 64-bit platforms).
pub const CLIENT_BODY_BUFFER_SIZE: &str = "16k";
/// `client_body_timeout`, in seconds: the longest wait between two reads of a request body
/// (not for the whole body). Nginx's.
pub const CLIENT_BODY_TIMEOUT_SECS: u64 = 60;
/// `passenger_request_buffering`: a request body is read whole before a process is chosen, as
/// in Passenger 5+ and nginx.
pub const REQUEST_BUFFERING: bool = true;
// Issue 22, ASGI:
/// `--asgi-concurrency` (`passenger_asgi_concurrency`, Ferry's own): requests one process of an
/// ASGI app takes at once before the pool routes elsewhere, spawns or queues. High, because an
/// asyncio process waits on I/O for many requests at once (Granian's default for two workers
/// is 512 each; uvicorn has no limit); 0 lifts the limit, as for a Node app.
pub const ASGI_CONCURRENCY: usize = 256;
// Issue 16, response side:
/// `passenger_websocket_idle_timeout` / `--websocket-idle-timeout` (Ferry's own), in seconds: an
/// upgraded connection (WebSocket) with no byte either way for this long is closed. An hour: far
/// longer than any app that pings waits (Action Cable pings every 3 s, Socket.IO every 25 s),
/// short enough that a client that vanished without closing (a laptop lid, a NAT that forgot the
/// connection) does not hold its process for ever. nginx closes after 60 s
/// (`proxy_read_timeout`), Passenger under nginx after 200 minutes (`passenger_read_timeout`'s
/// default); 0 turns it off.
pub const WEBSOCKET_IDLE_TIMEOUT_SECS: u64 = 3600;
// Issue 16, connection side: client timeouts, header limits and hygiene, connection limits.

/// `client_header_timeout`, in seconds (nginx's): how long a client may take to send a request
/// head (the first one counted from the connection's start, a later one from its first byte).
pub const CLIENT_HEADER_TIMEOUT_SECS: u64 = 60;
/// `keepalive_timeout`, in seconds (nginx's): how long an idle kept-alive connection stays open.
pub const KEEPALIVE_TIMEOUT_SECS: u64 = 75;
/// `send_timeout`, in seconds (nginx's): longest wait for a client to accept more of a response.
pub const SEND_TIMEOUT_SECS: u64 = 60;
/// `client_header_buffer_size`, in bytes (nginx's 1k).
pub const CLIENT_HEADER_BUFFER_SIZE: u64 = 1024;
/// `large_client_header_buffers`' number (nginx's `4 8k`): a request head holds at most this
/// many times [`LARGE_CLIENT_HEADER_BUFFER_SIZE`] bytes.
pub const LARGE_CLIENT_HEADER_BUFFERS: u64 = 4;
/// `large_client_header_buffers`' size, in bytes: the longest request line or header line.
pub const LARGE_CLIENT_HEADER_BUFFER_SIZE: u64 = 8 * 1024;
/// `underscores_in_headers` (nginx's off): request headers whose names hold `_` are dropped.
pub const UNDERSCORES_IN_HEADERS: bool = false;
/// `ignore_invalid_headers` (nginx's on): request headers with names nginx finds invalid are
/// dropped.
pub const IGNORE_INVALID_HEADERS: bool = true;
/// File descriptors always left to Ferry's other work (app sockets, spawns, buffer files, logs)
/// however many client connections `--max-connections` or `worker_connections` allows.
pub const FD_RESERVE: u64 = 64;

/// `--max-connections` / `worker_connections` when none is given: half of Ferry's open-files
/// limit (after Ferry raised its soft limit to the hard one), so that the other half is left for
/// app sockets, spawns and buffer files (nginx's 512 for the usual 1024).
pub const fn max_connections(open_files_limit: u64) -> u64 {
    open_files_limit / 2
}

// Issue 18, health:
/// `--shutdown-delay` / `passenger_shutdown_delay`, in seconds: how long Ferry keeps accepting
/// and serving after SIGTERM or SIGINT, its health path answering 503, before it stops
/// accepting (0: it stops accepting at once).
pub const SHUTDOWN_DELAY_SECS: u64 = 0;
