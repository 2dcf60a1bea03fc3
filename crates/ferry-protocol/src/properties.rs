//! `response/properties.json`: the sockets a SpawningKit-enabled process reports at the end of
//! its handshake (loaders/PROTOCOL.md §1.3, seed 004, "Application response properties"),
//! validated field by field so that a mistake is named, and the choice of the socket that takes
//! requests (a worker) or spawn commands (a preloader).
//!
//! Reading the file and checking who owns a unix socket are the spawner's: [`parse_checked`]
//! asks it about each socket path as the document names it.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Concurrency, Endpoint, Protocol};

/// One socket the process listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Where it listens.
    pub address: Endpoint,
    /// What it speaks: `http`, `session`, `preloader`, or anything else a loader names.
    pub protocol: String,
    /// 0 = unlimited; negative = unknown (treated as unlimited).
    pub concurrency: i64,
    /// Whether live requests may go there.
    pub accept_http_requests: bool,
}

/// Where live requests go, chosen from the reported sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSocket {
    /// Where requests go.
    pub endpoint: Endpoint,
    /// What the process speaks there.
    pub protocol: Protocol,
    /// How many requests it takes at once.
    pub concurrency: Concurrency,
}

/// Parses and validates `properties.json`.
pub fn parse(json: &str) -> Result<Vec<Socket>, String> {
    parse_checked(json, |_| Ok(()))
}

/// Parses and validates `properties.json`, asking `check` about each unix socket's path once its
/// socket is otherwise valid; a complaint is reported against that socket's `address`.
pub fn parse_checked(
    json: &str,
    mut check: impl FnMut(&Path) -> Result<(), String>,
) -> Result<Vec<Socket>, String> {
    let doc: Value =
        serde_json::from_str(json).map_err(|e| format!("it is not valid JSON: {e}"))?;
    let object = doc
        .as_object()
        .ok_or("the top level must be a JSON object")?;
    let sockets = object
        .get("sockets")
        .ok_or("it has no `sockets` key")?
        .as_array()
        .ok_or("`sockets` must be an array")?;
    sockets
        .iter()
        .enumerate()
        .map(|(i, s)| socket(i, s, &mut check))
        .collect()
}

fn socket(
    index: usize,
    value: &Value,
    check: &mut impl FnMut(&Path) -> Result<(), String>,
) -> Result<Socket, String> {
    let field = |name: &str| format!("`sockets[{index}].{name}`");
    let object = value
        .as_object()
        .ok_or_else(|| format!("`sockets[{index}]` must be an object"))?;
    let address = object
        .get("address")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{} must be a string", field("address")))?;
    let address = parse_address(address).map_err(|e| format!("{}: {e}", field("address")))?;
    let protocol = object
        .get("protocol")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{} must be a string", field("protocol")))?
        .to_owned();
    let concurrency = object
        .get("concurrency")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("{} must be an integer", field("concurrency")))?;
    let accept_http_requests = match object.get("accept_http_requests") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| format!("{} must be true or false", field("accept_http_requests")))?,
    };
    if let Endpoint::Unix(path) = &address {
        check(path).map_err(|e| format!("{}: {e}", field("address")))?;
    }
    Ok(Socket {
        address,
        protocol,
        concurrency,
        accept_http_requests,
    })
}

fn parse_address(address: &str) -> Result<Endpoint, String> {
    if let Some(path) = address.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("the unix socket path is empty".into());
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if let Some(rest) = address.strip_prefix("tcp://") {
        return rest
            .parse()
            .map(Endpoint::Tcp)
            .map_err(|_| format!("`{rest}` is not an IP address and port"));
    }
    Err(format!("`{address}` must start with `tcp://` or `unix:`"))
}

/// Picks the socket that takes live requests: the first with `accept_http_requests`, which must
/// speak `http` or `session`.
pub fn request_socket(sockets: &[Socket]) -> Result<RequestSocket, String> {
    let socket = sockets
        .iter()
        .find(|s| s.accept_http_requests)
        .ok_or("no socket has `accept_http_requests: true`")?;
    let protocol = match socket.protocol.as_str() {
        "http" => Protocol::Http,
        "session" => Protocol::Session,
        other => {
            return Err(format!(
                "the socket that accepts HTTP requests speaks `{other}`; it must speak `http` or \
                 `session`"
            ))
        }
    };
    let concurrency = usize::try_from(socket.concurrency)
        .ok()
        .and_then(NonZeroUsize::new)
        .map_or(Concurrency::Unlimited, Concurrency::Limited);
    Ok(RequestSocket {
        endpoint: socket.address.clone(),
        protocol,
        concurrency,
    })
}

/// The socket a preloader takes commands on: the first that speaks `preloader`, which must be a
/// unix socket (seed 004, "The preloader protocol").
pub fn preloader_socket(sockets: &[Socket]) -> Result<PathBuf, String> {
    let socket = sockets
        .iter()
        .find(|s| s.protocol == "preloader")
        .ok_or("no socket speaks the `preloader` protocol")?;
    match &socket.address {
        Endpoint::Unix(path) => Ok(path.clone()),
        Endpoint::Tcp(addr) => Err(format!(
            "the preloader socket must be a unix socket, not `tcp://{addr}`"
        )),
    }
}

/// Fuzzing entry: parse arbitrary bytes; whatever validates must give a usable request socket
/// or a named error.
pub(crate) fn check_invariants(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match parse(text) {
        Ok(sockets) => match request_socket(&sockets) {
            Ok(chosen) => assert!(sockets.iter().any(|s| s.address == chosen.endpoint)),
            Err(e) => assert!(!e.is_empty()),
        },
        Err(e) => assert!(!e.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preloader_reports_a_unix_preloader_socket() {
        let json = r#"{"sockets":[{"name":"preloader","address":"unix:/tmp/p.sock","protocol":"preloader","concurrency":1}]}"#;
        let sockets = parse(json).expect("valid");
        assert_eq!(preloader_socket(&sockets), Ok(PathBuf::from("/tmp/p.sock")));
        assert!(request_socket(&sockets).is_err());
        let json = r#"{"sockets":[{"address":"tcp://127.0.0.1:1","protocol":"preloader","concurrency":1}]}"#;
        let sockets = parse(json).expect("valid");
        assert!(preloader_socket(&sockets).unwrap_err().contains("unix"));
        let json = r#"{"sockets":[{"address":"unix:/x","protocol":"session","concurrency":1}]}"#;
        assert!(preloader_socket(&parse(json).unwrap()).is_err());
    }

    #[test]
    fn passenger_loader_properties_are_accepted() {
        let json = r#"{"sockets":[{"name":"main","address":"unix:/tmp/x.sock","protocol":"session","concurrency":1,"accept_http_requests":true},
            {"address":"tcp://127.0.0.1:4000","protocol":"http","concurrency":1}]}"#;
        let sockets = parse(json).expect("valid");
        assert_eq!(sockets.len(), 2);
        let chosen = request_socket(&sockets).expect("chosen");
        assert_eq!(chosen.endpoint, Endpoint::Unix("/tmp/x.sock".into()));
        assert_eq!(chosen.protocol, Protocol::Session);
        assert_eq!(
            chosen.concurrency,
            Concurrency::Limited(NonZeroUsize::new(1).unwrap())
        );
    }

    #[test]
    fn zero_concurrency_is_unlimited() {
        let json = r#"{"sockets":[{"address":"tcp://127.0.0.1:1","protocol":"http","concurrency":0,"accept_http_requests":true}]}"#;
        let chosen = request_socket(&parse(json).unwrap()).unwrap();
        assert_eq!(chosen.concurrency, Concurrency::Unlimited);
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[]", "top level"),
            ("{}", "no `sockets`"),
            (r#"{"sockets":{}}"#, "must be an array"),
            (
                r#"{"sockets":[{"protocol":"http","concurrency":1}]}"#,
                "`sockets[0].address`",
            ),
            (
                r#"{"sockets":[{"address":"http://x","protocol":"http","concurrency":1}]}"#,
                "must start with",
            ),
            (
                r#"{"sockets":[{"address":"unix:/x","protocol":"http","concurrency":"1"}]}"#,
                "`sockets[0].concurrency` must be an integer",
            ),
            (
                r#"{"sockets":[{"address":"unix:/x","concurrency":1}]}"#,
                "`sockets[0].protocol`",
            ),
        ];
        for (json, expected) in cases {
            let err = parse(json).expect_err(json);
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn a_worker_needs_an_http_or_session_socket() {
        let none = r#"{"sockets":[{"address":"unix:/x","protocol":"http","concurrency":1}]}"#;
        let err = request_socket(&parse(none).unwrap()).unwrap_err();
        assert!(err.contains("accept_http_requests"));
        let wrong = r#"{"sockets":[{"address":"unix:/x","protocol":"preloader","concurrency":1,"accept_http_requests":true}]}"#;
        let err = request_socket(&parse(wrong).unwrap()).unwrap_err();
        assert!(err.contains("`preloader`"));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A deterministic sweep of mutations of a valid document (the fuzz target's body).
        let valid = br#"{"sockets":[{"address":"tcp://127.0.0.1:1","protocol":"http","concurrency":0,"accept_http_requests":true}]}"#;
        let mut state = 0x2545_f491_u32;
        for _ in 0..20_000 {
            let mut doc = valid.to_vec();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let i = state as usize % doc.len();
                doc[i] = (state >> 8) as u8;
            }
            check_invariants(&doc);
        }
    }

    #[test]
    fn unix_socket_paths_are_checked_and_complaints_name_the_socket() {
        let json = r#"{"sockets":[{"address":"tcp://127.0.0.1:1","protocol":"http","concurrency":0},
            {"address":"unix:/a","protocol":"http","concurrency":0}]}"#;
        let mut seen = Vec::new();
        let err = parse_checked(json, |path| {
            seen.push(path.to_owned());
            Err("not yours".into())
        })
        .unwrap_err();
        assert_eq!(err, "`sockets[1].address`: not yours");
        assert_eq!(seen, [PathBuf::from("/a")]);
    }
}
