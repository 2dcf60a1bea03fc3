//! Random strings from the kernel's CSPRNG: admin passwords and instance names.

use std::io::Read;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const MIXED: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `n` random letters and digits (passwords: 24 of them is about 143 bits).
pub(crate) fn alnum(n: usize) -> std::io::Result<String> {
    pick(MIXED, n)
}

/// `n` random lower-case letters and digits (instance names: easy to type).
pub(crate) fn lower_alnum(n: usize) -> std::io::Result<String> {
    pick(LOWER, n)
}

/// A password must never be predictable, so unlike error ids there is no fallback when
/// `/dev/urandom` cannot be read.
fn pick(alphabet: &[u8], n: usize) -> std::io::Result<String> {
    // Bytes at or above the largest multiple of the alphabet's size are rejected, so that every
    // character is equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    let mut out = String::with_capacity(n);
    let mut buf = vec![0u8; n * 2];
    while out.len() < n {
        urandom.read_exact(&mut buf)?;
        for &b in &buf {
            if usize::from(b) < limit && out.len() < n {
                out.push(alphabet[usize::from(b) % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_strings_have_the_asked_length_and_alphabet() {
        let a = super::alnum(24).expect("urandom");
        let b = super::alnum(24).expect("urandom");
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        let name = super::lower_alnum(8).expect("urandom");
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
