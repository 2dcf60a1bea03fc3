//! Who may do what: [`authorize`] turns a request's `Authorization` header and its peer's uid
//! into an [`Access`] (see the table in [`crate::server`]).

use super::ApiConfig;
use base64::Engine as _;

use crate::types::{BASE64, FULL_USER, READ_ONLY_USER};

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything.
    Full,
    /// Read everything but secrets; change nothing.
    ReadOnly,
    /// See and restart the groups running as this uid.
    User(u32),
}

/// Decides what the caller may do (the table in [`crate::server`]); `Err` is a 401 with its
/// reason.
pub fn authorize(
    header: Option<&http::HeaderValue>,
    peer_uid: Option<u32>,
    config: &ApiConfig,
) -> Result<Access, &'static str> {
    if let Some(header) = header {
        let (user, password) = basic_credentials(header).ok_or("malformed Authorization header")?;
        return if user == FULL_USER && constant_time_eq(&password, &config.full_password) {
            Ok(Access::Full)
        } else if user == READ_ONLY_USER && constant_time_eq(&password, &config.read_only_password)
        {
            Ok(Access::ReadOnly)
        } else {
            Err("wrong user name or password")
        };
    }
    match peer_uid {
        Some(uid) if config.peer_credentials => {
            if uid == 0 || uid == config.ferry_uid {
                Ok(Access::Full)
            } else {
                Ok(Access::User(uid))
            }
        }
        _ => Err("credentials required"),
    }
}

fn basic_credentials(header: &http::HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.trim().to_owned()))
}

/// Compares without leaking, through timing, how much of a password was right
/// ([`ferry_sys::secret::constant_time_eq`], the one comparison of secrets). An empty expected
/// password matches nothing.
pub(super) fn constant_time_eq(given: &str, expected: &str) -> bool {
    !expected.is_empty()
        && ferry_sys::secret::constant_time_eq(given.as_bytes(), expected.as_bytes())
}
