//! Recovery codes: ten single-use codes shown once at enrolment, stored as
//! SHA-256 hashes (they are random, so a fast hash is enough), for when the
//! authenticator is lost.

use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

/// No 0/o, 1/l/i: codes are read off paper. 31 characters: about 59 bits
/// for a 12-character code.
const ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";

pub const COUNT: usize = 10;

/// Ten new codes like `k7pq-x2mh-w9rd`, to show the user once.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let bytes: [u8; 12] = super::random_bytes();
            let chars: Vec<char> = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            format!(
                "{}-{}-{}",
                chars[..4].iter().collect::<String>(),
                chars[4..8].iter().collect::<String>(),
                chars[8..].iter().collect::<String>()
            )
        })
        .collect()
}

/// What the store keeps for a code.
pub fn hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(digest(&SHA256, normal.as_bytes()).as_ref())
}

/// The index of the stored hash that `code` matches, if any. The caller
/// removes it: each code works once.
pub fn find(code: &str, stored: &[String]) -> Option<usize> {
    let candidate = hash(code);
    stored
        .iter()
        .position(|h| bool::from(h.as_bytes().ct_eq(candidate.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_readable_codes() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 14, "{code}");
            assert!(!code.contains(['0', 'o', '1', 'l', 'i']), "{code}");
        }
    }

    #[test]
    fn a_code_matches_its_hash_however_it_is_typed() {
        let codes = generate();
        let stored: Vec<String> = codes.iter().map(|c| hash(c)).collect();
        assert_eq!(find(&codes[3], &stored), Some(3));
        assert_eq!(find(&codes[3].to_uppercase().replace('-', " "), &stored), Some(3));
        assert_eq!(find("aaaa-bbbb-cccc", &stored), None);
        assert!(
            !stored[0].contains(&codes[0][..4]),
            "the store never holds the code itself"
        );
    }
}
