//! The wire formats Ferry shares with the loaders (loaders/PROTOCOL.md), encoded and decoded
//! without I/O.
//!
//! Every function here takes bytes or values and returns values: no sockets, no files, no
//! runtime. The crates that talk to loaders do the reading and writing and call this crate for
//! what the bytes mean, so each format has one definition that both unit tests and the fuzz
//! targets in `fuzz/` can drive on its own.
//!
//! * [`session`]: the request frame of the `session` protocol (PROTOCOL.md §2.1, §2.6), how a
//!   request body is announced, and where a base URI splits a path.
//! * [`response_head`]: the response head a `session` loader writes back (§2.3) and the chunked
//!   decoder; [`response_body`]: the body framing state machine driven by the front end's reader.
//! * [`properties`]: `response/properties.json`, the sockets a process reports at the end of its
//!   handshake (§1.3), and which of them takes requests.
//! * [`preloader`]: the JSON lines of the preloader protocol (§6.2).
//! * [`Endpoint`], [`Protocol`], [`Concurrency`]: how to reach a process and what it speaks, as
//!   `properties.json` says.
//!
//! **Architecture Invariant:** this crate does no I/O and never panics on input (the fuzz
//! targets check the second half).

use std::net::SocketAddr;
use std::path::PathBuf;

pub mod preloader;
pub mod properties;
pub mod response_body;
pub mod response_head;
pub mod session;

/// Entry points for the fuzz targets in `fuzz/`, kept in the crate so unit tests run them too
/// (not a stable API).
#[doc(hidden)]
pub mod fuzz_logic {
    /// Parses a `session`-protocol response head and decodes a chunked body after it, panicking
    /// if an invariant breaks (no `Status` or `!~` header passed on, no body for HEAD, no read
    /// past the input).
    pub fn session_response(input: &[u8]) {
        crate::response_head::check_invariants(input);
    }

    /// Parses and validates a `properties.json` document, panicking if an invariant breaks: a
    /// document that validates always yields a request socket or a clear error, never a panic.
    pub fn properties(json: &[u8]) {
        crate::properties::check_invariants(json);
    }

    /// Reads a preloader's reply to a spawn command, panicking if an invariant breaks: a reply
    /// is a worker's pid above 1, the preloader's own message, or a named error.
    pub fn preloader_reply(reply: &[u8]) {
        crate::preloader::check_invariants(reply);
    }
}

/// How to reach a spawned process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address, normally on loopback.
    Tcp(SocketAddr),
    /// A unix domain socket.
    Unix(PathBuf),
}

/// The protocol a process speaks on its request socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Plain HTTP/1.1.
    Http,
    /// Passenger's `session` protocol (a framed CGI-style head, then the body).
    Session,
}

/// How many requests one process handles at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// The process did not say (generic and Node apps): it takes any number.
    Unlimited,
    /// At most this many at once (a Ruby or Python process: 1).
    Limited(std::num::NonZeroUsize),
}
