//! Path globs for route rules, compiled to anchored regular expressions.
//!
//! `*` matches within one segment, `**` across segments, and a trailing
//! `/**` also matches the bare prefix: `/billing/**` covers `/billing`,
//! `/billing/` and everything below, so the area's own page is never
//! left out by accident.

pub fn to_regex(glob: &str) -> Result<String, String> {
    if !glob.starts_with('/') {
        return Err(format!("{glob:?} must start with /"));
    }
    let (body, any_below) = match glob.strip_suffix("/**") {
        Some(prefix) => (prefix, true),
        None => (glob, false),
    };
    let mut pattern = String::from("^");
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '*' {
            if chars.peek() == Some(&'*') {
                chars.next();
                pattern.push_str(".*");
            } else {
                pattern.push_str("[^/]*");
            }
        } else {
            pattern.push_str(&regex::escape(&c.to_string()));
        }
    }
    if any_below {
        pattern.push_str("(?:/.*)?");
    }
    pattern.push('$');
    Ok(pattern)
}

/// Does `wide` match every path `narrow` matches (case aside, as rules
/// match)? Sound, not complete: `true` is always right; some exotic
/// overlaps of wildcards are not recognised and answer `false`.
pub fn covers(wide: &str, narrow: &str) -> bool {
    let wides = alternatives(wide);
    alternatives(narrow)
        .iter()
        .all(|n| wides.iter().any(|w| pattern_covers(w, n)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`: anything within a segment.
    Star,
    /// `**`: anything at all.
    Any,
}

/// A glob as token sequences, one of which must match: a trailing `/**`
/// is the bare prefix, or the prefix, a slash and anything.
fn alternatives(glob: &str) -> Vec<Vec<Token>> {
    let tokens = |text: &str| {
        let mut out = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            out.push(match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    Token::Any
                }
                '*' => Token::Star,
                c => Token::Char(c.to_ascii_lowercase()),
            });
        }
        out
    };
    match glob.strip_suffix("/**") {
        Some(prefix) => {
            let bare = tokens(prefix);
            let mut below = bare.clone();
            below.extend([Token::Char('/'), Token::Any]);
            vec![bare, below]
        }
        None => vec![tokens(glob)],
    }
}

/// Does the pattern `w` match every string `n` can produce?
fn pattern_covers(w: &[Token], n: &[Token]) -> bool {
    match (w.first(), n.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(_), None) => w.iter().all(|t| !matches!(t, Token::Char(_))),
        (Some(Token::Char(a)), Some(Token::Char(b))) => a == b && pattern_covers(&w[1..], &n[1..]),
        (Some(Token::Char(_)), Some(_)) => false,
        (Some(Token::Star), Some(next)) => {
            let within_segment = matches!(next, Token::Star) || matches!(next, Token::Char(c) if *c != '/');
            pattern_covers(&w[1..], n) || (within_segment && pattern_covers(w, &n[1..]))
        }
        (Some(Token::Any), Some(_)) => pattern_covers(&w[1..], n) || pattern_covers(w, &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wider_glob_covers_the_narrower_ones_inside_it() {
        for (wide, narrow) in [
            ("/billing/**", "/billing/invoices/*"),
            ("/billing/**", "/billing/**"),
            ("/billing/**", "/billing"),
            ("/BILLING/**", "/billing/x"),
            ("/**", "/contacts/export*"),
            ("/contacts/*", "/contacts/export*"),
            ("/contacts/export*", "/contacts/export.csv"),
            ("/a/**", "/a/*/b/**"),
        ] {
            assert!(covers(wide, narrow), "{wide} should cover {narrow}");
        }
        for (wide, narrow) in [
            ("/contacts/*", "/contacts/**"),
            ("/billing/**", "/billingx"),
            ("/contacts/export", "/contacts/export*"),
            ("/a/*", "/a/b/c"),
            ("/billing/*", "/billing"),
        ] {
            assert!(!covers(wide, narrow), "{wide} does not cover {narrow}");
        }
    }

    fn matches(glob: &str, path: &str) -> bool {
        regex::Regex::new(&to_regex(glob).unwrap()).unwrap().is_match(path)
    }

    #[test]
    fn double_star_covers_the_area_and_everything_below() {
        for path in ["/billing", "/billing/", "/billing/invoices/7"] {
            assert!(matches("/billing/**", path), "{path}");
        }
        assert!(!matches("/billing/**", "/billingx"));
        assert!(!matches("/billing/**", "/contacts/billing"));
    }

    #[test]
    fn single_star_stays_in_its_segment() {
        assert!(matches("/contacts/export*", "/contacts/export"));
        assert!(matches("/contacts/export*", "/contacts/export.csv"));
        assert!(!matches("/contacts/export*", "/contacts/export/all"));
        assert!(matches("/contacts/export**", "/contacts/export/all"));
        assert!(matches("/contacts/*/delete", "/contacts/17/delete"));
    }

    #[test]
    fn regex_characters_in_globs_are_literal() {
        assert!(matches("/a.b", "/a.b"));
        assert!(!matches("/a.b", "/axb"));
        assert!(to_regex("billing").is_err());
    }
}
