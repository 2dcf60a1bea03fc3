//! Operator tools: what `passenger-memory-stats`, `passenger-status` and `passenger-config` do
//! for Passenger.
//!
//! * [`memory_stats`]: `ferry memory-stats`.
//! * [`registry`]: the instance directory each running Ferry keeps, and finding them.
//! * [`pool`]: [`pool::PoolState`], the live pool as JSON and Passenger-compatible XML.
//! * [`api`]: the admin API, HTTP over the instance's unix socket, talking to Ferry through
//!   [`api::AdminBackend`].
//! * `/metrics` serves `ferry_metrics`' counters and histograms, and gauges from the pool state.
//! * [`status`]: `ferry status` output; [`client`]: the admin API client the commands use.

pub mod api;
pub mod client;
pub mod memory_stats;
pub mod pool;
pub mod registry;
pub mod status;

#[doc(hidden)]
pub mod schema;

mod base64;
mod gauges;
mod random;

#[cfg(test)]
mod schema_tests;
