//! Operator tools: what `passenger-memory-stats`, `passenger-status` and `passenger-config` do
//! for Passenger. Today only [`memory_stats`] (`ferry memory-stats`); the admin API on a unix
//! socket and `ferry status` come with issue 7.

pub mod memory_stats;
