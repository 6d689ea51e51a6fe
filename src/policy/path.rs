//! Request paths as route rules see them, and as the CRM then receives them.
//!
//! A route rule on `/billing/**` must not be bypassed by `/x/../billing`,
//! `//billing` or `/%62illing`. So before matching, the path is normalised
//! (RFC 3986 §6.2.2: unreserved characters decoded, dot segments removed,
//! repeated slashes merged), and the normalised path is what is forwarded,
//! so the CRM sees exactly what was matched.
//!
//! Some encodings mean different things to different servers, and no
//! normalisation can make them agree, so they are refused:
//! - an encoded slash, backslash or NUL (`%2F`, `%5C`, `%00`) or a raw backslash;
//! - an encoded percent that starts another escape (`%2562`: `%62` to a
//!   server that decodes twice, as some frameworks and IIS modules do);
//! - encoded control characters;
//! - escapes that are not UTF-8 (overlong forms such as `%C0%AF` included);
//! - non-ASCII characters that some server reads as ASCII: compatibility
//!   forms (`ｂ`, fullwidth; `ﬁ`, a ligature), characters whose case
//!   mapping is ASCII (`ı`, `ſ`, the Kelvin sign), Windows "best fit"
//!   look-alikes (`∕`, `¥`) and invisible characters.
//!
//! Server-family specific readings (`;` parameters, trailing dots, short
//! names) are in [`super::reading`].

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path does not start with /")]
    NotAbsolute,
    #[error("an encoded slash, backslash or NUL in the path")]
    AmbiguousEncoding,
    #[error("a % not followed by two hex digits")]
    BadEscape,
    #[error("an encoded % that starts another escape (double encoding)")]
    DoubleEncoding,
    #[error("a control character in the path")]
    ControlCharacter,
    #[error("escapes in the path that are not UTF-8")]
    NotUtf8,
    #[error("a character in the path that some servers read as another (a look-alike)")]
    LookAlike,
    #[error("a dot segment with a path parameter (`..;`), which servlet containers read as `..`")]
    DotSegmentWithParameters,
    #[error("a path segment ending in a dot or a space, which Windows servers drop")]
    TrailingDotOrSpace,
    #[error("a `~` and a digit in a segment, which Windows servers may read as a short (8.3) file name")]
    ShortName,
    #[error("a `:` in the path, which Windows servers read as a file stream")]
    StreamName,
}

pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if raw.contains('\\') {
        return Err(PathError::AmbiguousEncoding);
    }
    if !raw.is_ascii() || raw.bytes().any(|b| b.is_ascii_control()) {
        check_text(raw)?;
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
/// Runs of escaped bytes beyond ASCII must be UTF-8 and not look like ASCII.
fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    // Escaped bytes beyond ASCII, checked as text when their run ends.
    let mut high: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            check_utf8_run(&mut high)?;
            // Up to the next escape, as text: a byte at a time would turn
            // UTF-8 into Latin-1 (found by fuzzing: not idempotent).
            let next = raw[i..].find('%').map_or(raw.len(), |n| i + n);
            out.push_str(&raw[i..next]);
            i = next;
            continue;
        }
        let value = hex_byte(bytes.get(i + 1..i + 3)).ok_or(PathError::BadEscape)?;
        if value < 0x80 {
            check_utf8_run(&mut high)?;
        }
        match value {
            b'/' | b'\\' | 0 => return Err(PathError::AmbiguousEncoding),
            b'%' if hex_byte(bytes.get(i + 3..i + 5)).is_some() => return Err(PathError::DoubleEncoding),
            b if b.is_ascii_control() => return Err(PathError::ControlCharacter),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(b as char),
            b => {
                if b >= 0x80 {
                    high.push(b);
                }
                out.push_str(&format!("%{b:02X}"));
            }
        }
        i += 3;
    }
    check_utf8_run(&mut high)?;
    Ok(out)
}

fn hex_byte(hex: Option<&[u8]>) -> Option<u8> {
    let hex = std::str::from_utf8(hex?).ok()?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// A run of escaped bytes beyond ASCII: UTF-8 (std refuses overlong forms
/// and surrogates) and free of look-alikes. Empties the run.
fn check_utf8_run(run: &mut Vec<u8>) -> Result<(), PathError> {
    if run.is_empty() {
        return Ok(());
    }
    let text = std::str::from_utf8(run).map_err(|_| PathError::NotUtf8)?;
    check_text(text)?;
    run.clear();
    Ok(())
}

/// Text in a path (decoded, or raw as `explain` may be given it): no
/// control characters and no character that some server reads as ASCII.
fn check_text(text: &str) -> Result<(), PathError> {
    for c in text.chars() {
        if c.is_control() {
            return Err(PathError::ControlCharacter);
        }
        if !c.is_ascii() && reads_as_ascii(c) {
            return Err(PathError::LookAlike);
        }
    }
    Ok(())
}

/// Does some server (by case mapping, compatibility normalisation, Windows'
/// best-fit code page conversion, or by dropping it) read `c` as ASCII?
fn reads_as_ascii(c: char) -> bool {
    const BEST_FIT_OR_INVISIBLE: &[char] = &[
        '\u{2215}', // ∕ division slash → /
        '\u{2216}', // ∖ set minus → \
        '\u{2044}', // ⁄ fraction slash → /
        '\u{29F8}', // ⧸ big solidus → /
        '\u{00A5}', // ¥ → \ in Japanese code pages
        '\u{20A9}', // ₩ → \ in Korean code pages
        '\u{00AD}', // soft hyphen (invisible)
        '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{2060}', '\u{FEFF}',
    ];
    BEST_FIT_OR_INVISIBLE.contains(&c)
        || c.to_lowercase().any(|l| l.is_ascii())
        || c.to_uppercase().any(|u| u.is_ascii())
        || std::iter::once(c).nfkc().any(|n| n.is_ascii())
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
        assert_eq!(
            normalize("/100%25").unwrap(),
            "/100%25",
            "a percent sign of its own is fine"
        );
        assert_eq!(normalize("/100%25zz").unwrap(), "/100%25zz");
    }

    #[test]
    fn text_beyond_ascii_keeps_its_bytes_and_normalising_twice_changes_nothing() {
        // The shape of the input the fuzzer found (fuzz/corpus/paths/utf8-dot-segment);
        // its control character and spacing tilde are refused now.
        let once = normalize("/p/./.poAté").unwrap().into_owned();
        assert_eq!(once, "/p/.poAté");
        assert_eq!(normalize(&once).unwrap(), once);
        assert_eq!(normalize("/caf%C3%A9/./x").unwrap(), "/caf%C3%A9/x");
        assert_eq!(normalize("/contacts/Jos%C3%A9").unwrap(), "/contacts/Jos%C3%A9");
    }

    #[test]
    fn ambiguous_or_broken_encodings_are_refused() {
        assert_eq!(normalize("/billing%2Finvoices"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/billing%5cx"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/a%00"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/a\\b"), Err(PathError::AmbiguousEncoding));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%4"), Err(PathError::BadEscape));
        assert_eq!(
            normalize("/%u0062illing"),
            Err(PathError::BadEscape),
            "IIS's %u escapes"
        );
        assert_eq!(normalize("*"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn double_encoding_is_refused_because_a_second_decoding_would_give_billing() {
        assert_eq!(normalize("/%2562illing"), Err(PathError::DoubleEncoding));
        assert_eq!(normalize("/x/%252e%252e/billing"), Err(PathError::DoubleEncoding));
    }

    #[test]
    fn control_characters_are_refused_encoded_or_raw() {
        for path in ["/billing%0A", "/a%0d%0aSet-Cookie:x", "/a%7F", "/a%09b", "/a\u{1}"] {
            assert_eq!(normalize(path), Err(PathError::ControlCharacter), "{path}");
        }
    }

    #[test]
    fn escapes_that_are_not_utf8_are_refused_overlong_slashes_included() {
        for path in ["/a%C0%AFbilling", "/a%E9", "/a%C3", "/%ED%A0%80", "/a%C3%A9%FF"] {
            assert_eq!(normalize(path), Err(PathError::NotUtf8), "{path}");
        }
    }

    #[test]
    fn look_alikes_that_some_server_reads_as_ascii_are_refused() {
        for (path, what) in [
            ("/%EF%BD%82illing", "fullwidth b (NFKC: b)"),
            ("/bi%C4%B1ling", "dotless ı (upper case: I)"),
            ("/billing%C5%BF", "long ſ (upper case: S)"),
            ("/%E2%84%AAey", "Kelvin sign (lower case: k)"),
            ("/%EF%AC%81les", "ligature ﬁ (NFKC: fi)"),
            ("/billing%E2%88%95x", "division slash (best fit: /)"),
            ("/bil%E2%80%8Bling", "zero-width space"),
            ("/ｂilling", "fullwidth b, raw (explain)"),
        ] {
            assert_eq!(normalize(path), Err(PathError::LookAlike), "{what}");
        }
    }
}
