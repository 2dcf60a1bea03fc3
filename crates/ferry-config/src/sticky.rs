//! Sticky sessions (`--sticky-sessions`): the cookie that routes a client back to its process.

/// The sticky-session cookie, when sticky sessions are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickySessions {
    /// The cookie's name (`sticky_sessions_cookie_name`).
    pub cookie_name: String,
    /// What follows `Path=...;` in its `Set-Cookie` (`sticky_sessions_cookie_attributes`).
    pub cookie_attributes: String,
}

/// Why `name` cannot be a cookie name: it must be an RFC 9110 token (RFC 6265 `cookie-name`).
pub(crate) fn check_cookie_name(name: &str) -> Result<(), &'static str> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err("must be a cookie name: letters, digits and !#$%&'*+-.^_`|~");
    }
    Ok(())
}

/// Why `attributes` cannot follow a `Set-Cookie` value: it must be a valid header value.
pub(crate) fn check_cookie_attributes(attributes: &str) -> Result<(), &'static str> {
    if !attributes
        .bytes()
        .all(|b| b == b' ' || b.is_ascii_graphic())
    {
        return Err("must be printable ASCII, e.g. \"SameSite=Lax; Secure;\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::{STICKY_SESSIONS_COOKIE_ATTRIBUTES, STICKY_SESSIONS_COOKIE_NAME};

    #[test]
    fn cookie_names_are_tokens() {
        assert!(check_cookie_name(STICKY_SESSIONS_COOKIE_NAME).is_ok());
        assert!(check_cookie_name("route-1.a~b").is_ok());
        for bad in ["", "a b", "a=b", "a;b", "a,b", "é", "a\"b", "(a)"] {
            assert!(check_cookie_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cookie_attributes_are_header_text() {
        assert!(check_cookie_attributes(STICKY_SESSIONS_COOKIE_ATTRIBUTES).is_ok());
        assert!(check_cookie_attributes("").is_ok());
        assert!(check_cookie_attributes("Secure;\r\nX-Evil: 1").is_err());
        assert!(check_cookie_attributes("Secure;\tHttpOnly").is_err());
    }
}
