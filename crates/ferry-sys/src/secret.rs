//! Random bytes and strings from the kernel's CSPRNG (`getrandom(2)`).
//!
//! Every secret Ferry makes (connect passwords, admin passwords) and every id that must not
//! collide (error ids, gupids, instance names) comes from here. There is no fallback: when the
//! kernel cannot give randomness the caller gets an error and must fail, because a predictable
//! secret is worse than none.

/// Letters and digits, both cases: passwords (24 of them carry about 143 bits).
pub const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Lower-case letters and digits: names people type (instance names).
pub const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The kernel could not give random bytes.
#[derive(Debug)]
pub struct Unavailable(getrandom::Error);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the kernel's random number generator is unavailable ({})",
            self.0
        )
    }
}

impl std::error::Error for Unavailable {}

impl From<Unavailable> for std::io::Error {
    fn from(e: Unavailable) -> Self {
        std::io::Error::other(e)
    }
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> Result<(), Unavailable> {
    getrandom::fill(buf).map_err(Unavailable)
}

/// `n` characters drawn uniformly from `alphabet` (at most 256 symbols, at least one).
///
/// # Panics
///
/// If `alphabet` is empty or longer than 256 bytes (a programmer's error).
pub fn string(alphabet: &[u8], n: usize) -> Result<String, Unavailable> {
    assert!(
        !alphabet.is_empty() && alphabet.len() <= 256,
        "alphabet of 1..=256 symbols"
    );
    // Bytes at or above the largest multiple of the alphabet's size are rejected, so that every
    // symbol is equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    let mut buf = vec![0u8; n.max(8) * 2];
    while out.len() < n {
        fill(&mut buf)?;
        for &b in &buf {
            if usize::from(b) < limit && out.len() < n {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// `n` random bytes as `2n` lower-case hex digits (error ids).
pub fn hex(n: usize) -> Result<String, Unavailable> {
    let mut buf = vec![0u8; n];
    fill(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares two secrets in time that depends only on their lengths, not on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_have_the_asked_length_and_alphabet_and_differ() {
        let a = string(ALNUM, 24).unwrap();
        let b = string(ALNUM, 24).unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALNUM.contains(&c)));
        let name = string(LOWER_ALNUM, 8).unwrap();
        assert!(name.bytes().all(|c| LOWER_ALNUM.contains(&c)));
        assert_eq!(string(ALNUM, 0).unwrap(), "");
    }

    #[test]
    fn every_symbol_of_a_small_alphabet_appears() {
        let s = string(b"ab", 200).unwrap();
        assert!(s.contains('a') && s.contains('b'));
    }

    #[test]
    fn hex_is_twice_as_long_as_its_bytes() {
        let h = hex(4).unwrap();
        assert_eq!(h.len(), 8);
        assert!(h.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn constant_time_eq_compares_whole_secrets() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secre"));
        assert!(constant_time_eq(b"", b""));
    }
}
