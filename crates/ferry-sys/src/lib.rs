//! What Ferry asks of the operating system, in one place low in the crate graph.
//!
//! * [`secret`]: random bytes and strings from the kernel's CSPRNG, failing closed.
//! * [`proc`]: what `/proc` says about processes, parsed in one place.
//! * [`fs`]: files opened without trusting their owner: served files under nginx's
//!   `disable_symlinks` rules, and the files an app writes for Ferry.
//!
//! No module here knows HTTP, the pool or the configuration; each wraps one kind of system
//! interface so that the crates above call it instead of writing it again.

pub mod fs;
pub mod proc;
pub mod secret;
