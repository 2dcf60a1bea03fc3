//! Random identifiers: error ids, connect passwords, gupids.
//!
//! Read from the kernel's CSPRNG (`getrandom(2)` through `/dev/urandom`); none of these needs to be
//! fast, and the connect password must not be guessable.

use std::io::Read;

/// `n` random bytes.
fn bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // No /dev/urandom (a chroot without /dev): fall back to the clock and pid, which still
        // makes ids unique, though not secret.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ u128::from(std::process::id()) << 64;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
        }
    }
    buf
}

/// Eight hex digits (four random bytes): a spawn error id.
pub(crate) fn hex_id() -> String {
    bytes(4).iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random ASCII letters and digits: connect passwords, gupids, group uuids.
pub(crate) fn alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // 248 is the largest multiple of 62 below 256: rejecting bytes above it keeps the choice fair.
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in bytes(n * 2) {
            if b < 248 && out.len() < n {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alnum_has_the_length_and_alphabet_asked_for() {
        let s = alnum(16);
        assert_eq!(s.len(), 16);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(alnum(16), s);
    }
}
