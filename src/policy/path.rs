//! Request paths as route rules see them, and as the CRM then receives them.
//!
//! A route rule on `/billing/**` must not be bypassed by `/x/../billing`,
//! `//billing` or `/%62illing`. So before matching, the path is normalised
//! (RFC 3986 §6.2.2: unreserved characters decoded, dot segments removed,
//! repeated slashes merged), and the normalised path is what is forwarded,
//! so the CRM sees exactly what was matched. Encodings whose meaning differs
//! between servers (`%2F`, `%5C`, `%00`, a raw backslash) are refused.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path does not start with /")]
    NotAbsolute,
    #[error("an encoded slash, backslash or NUL in the path")]
    AmbiguousEncoding,
    #[error("a % not followed by two hex digits")]
    BadEscape,
}

pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if raw.contains('\\') {
        return Err(PathError::AmbiguousEncoding);
    }
    let clean = !raw.contains('%') && !raw.contains("//") && !raw.contains("/.");
    if clean {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode_unreserved(raw)?;
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/').skip(1) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = matches!(decoded.rsplit('/').next(), Some("" | "." | "..")) && !segments.is_empty();
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// Decode `%XX` where XX is an unreserved character; upper-case the others.
fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            // Up to the next escape, as text: a byte at a time would turn
            // UTF-8 into Latin-1 (found by fuzzing: not idempotent).
            let next = raw[i..].find('%').map_or(raw.len(), |n| i + n);
            out.push_str(&raw[i..next]);
            i = next;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
        let value = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or(PathError::BadEscape)?;
        match value {
            b'/' | b'\\' | 0 => return Err(PathError::AmbiguousEncoding),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_are_untouched_and_not_copied() {
        for path in ["/", "/contacts", "/contacts/", "/a.b/c-d_e~f", "/search"] {
            assert!(matches!(normalize(path), Ok(Cow::Borrowed(p)) if p == path), "{path}");
        }
    }

    #[test]
    fn tricks_that_would_dodge_a_billing_rule_all_become_billing() {
        for trick in [
            "/x/../billing",
            "//billing",
            "/./billing",
            "/%62illing",
            "/%2e%2e/billing",
            "/contacts/%2E%2E/billing",
            "/billing/.",
        ] {
            let normal = normalize(trick).unwrap();
            assert!(normal == "/billing" || normal == "/billing/", "{trick} → {normal}");
        }
    }

    #[test]
    fn dot_segments_cannot_climb_above_the_root() {
        assert_eq!(normalize("/../../etc").unwrap(), "/etc");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize("/..").unwrap(), "/");
    }

    #[test]
    fn other_escapes_stay_encoded_in_upper_case() {
        assert_eq!(normalize("/files/a%20b%c3%a9").unwrap(), "/files/a%20b%C3%A9");
    }

    #[test]
    fn text_beyond_ascii_keeps_its_bytes_and_normalising_twice_changes_nothing() {
        // The input the fuzzer found (fuzz/corpus/paths/utf8-dot-segment).
        let once = normalize("/p/./.poAt\u{1}˜").unwrap().into_owned();
        assert_eq!(once, "/p/.poAt\u{1}˜");
        assert_eq!(normalize(&once).unwrap(), once);
        assert_eq!(normalize("/caf%C3%A9/./x").unwrap(), "/caf%C3%A9/x");
    }

    #[test]
    fn ambiguous_or_broken_encodings_are_refused() {
        assert_eq!(normalize("/billing%2Finvoices"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/billing%5cx"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/a%00"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/a\\b"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%4"), Err(PathError::BadEscape));
        assert_eq!(normalize("*"), Err(PathError::NotAbsolute));
    }
}
