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

#[cfg(test)]
mod tests {
    use super::*;

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
