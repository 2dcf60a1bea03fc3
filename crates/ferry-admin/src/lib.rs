//! Operator tools: what `passenger-memory-stats`, `passenger-status` and `passenger-config` do
//! for Passenger. One crate serves both ends of the admin API, as sozu's `command` crate does:
//!
//! ```text
//!   server (in `ferry start`)              client (`ferry status`, `restart-app`, ...)
//!     │ AdminBackend, routes, /metrics       │ Client, status
//!     ├──────────────> types, pool <─────────┤   what both speak
//!     └──────────────> registry    <─────────┘   where an instance is, its passwords
//! ```
//!
//! * [`types`]: the user names, the API version and the bodies both sides exchange.
//! * [`pool`]: [`pool::PoolState`], the live pool as JSON, Passenger-compatible XML and text.
//! * [`registry`]: the instance directory each running Ferry keeps, and finding them.
//! * [`server`]: the admin API, HTTP over the instance's unix socket, talking to Ferry through
//!   [`server::AdminBackend`]; `/metrics` serves `ferry_metrics`' counters and histograms, and
//!   gauges from the pool state.
//! * [`client`]: the admin API client the commands use, and [`client::status`], `ferry status`.
//! * [`memory_stats`]: `ferry memory-stats`.
//!
//! Imports go downward only: `server` and `client` use `types`, `pool` and `registry`, never
//! each other; the shared modules use neither.

pub mod client;
pub mod memory_stats;
pub mod pool;
pub mod registry;
pub mod server;
pub mod types;
