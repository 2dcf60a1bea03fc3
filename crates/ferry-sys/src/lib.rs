//! What Ferry asks of the operating system, in one place low in the crate graph.
//!
//! * [`secret`]: random bytes and strings from the kernel's CSPRNG, failing closed.
//!
//! No module here knows HTTP, the pool or the configuration; each wraps one kind of system
//! interface so that the crates above call it instead of writing it again.

pub mod fs;
pub mod secret;
