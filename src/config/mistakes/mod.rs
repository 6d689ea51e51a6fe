//! A YAML file the gateway cannot read, explained in ops' words: the line
//! to change and the likely fix. The parser's own words (`did not find
//! expected key ... while parsing a block mapping at line 2`) point at the
//! block, not at the line; a setting dedented out of its section reads to
//! serde as an unknown field of the one above.
//!
//! Three kinds of mistake, tried in this order:
//! 1. indentation that fits nothing above it, a tab, a missing `:`
//!    ([`shape`] reads the lines themselves);
//! 2. a setting in the wrong section: known elsewhere (`server:` at the
//!    top level belongs under `upstream:`), or an entry whose own settings
//!    are those of a group, user or client type;
//! 3. a required setting written outside its section.
//!
//! Anything else keeps serde's message, with the most likely typo.

mod schema;
mod shape;
#[cfg(test)]
mod tests;

use shape::{Entry, Shape};

/// The message for a file serde_yaml could not read.
pub(crate) fn explain(text: &str, err: &serde_yaml::Error) -> String {
    let shape = shape::read(text, &schema::fits);
    let at = err.location().map(|l| l.line());
    // Indentation that fits nothing comes first, even where the YAML reader
    // went on: what it then found (a missing setting above) follows from it.
    if let Some(bad) = &shape.bad {
        return bad.message.clone();
    }
    let message = err.to_string();
    let (path, what) = split(&message);
    if let Some(key) = quoted_after(what, "unknown field `") {
        if let Some(better) = unknown_field(&shape, path, key, at) {
            return better;
        }
    }
    if let Some(key) = quoted_after(what, "missing field `") {
        if let Some(better) = missing_field(&shape, path, key, at) {
            return better;
        }
    }
    if let Some(better) = wrong_kind(path, what, at) {
        return better;
    }
    with_suggestion(message)
}

/// A list where settings were expected, or the other way round.
fn wrong_kind(path: &str, what: &str, at: Option<usize>) -> Option<String> {
    let line = at?;
    let name = if path.is_empty() {
        "the file".to_string()
    } else {
        format!("`{path}`")
    };
    if what.starts_with("invalid type: map, expected a sequence") {
        return Some(format!(
            "line {line}: {name} is a list: start each of its items with `- `"
        ));
    }
    if what.starts_with("invalid type: sequence, expected struct")
        || what.starts_with("invalid type: sequence, expected a map")
    {
        return Some(format!(
            "line {line}: {name} takes settings (`name: value`), not a list: remove the `- `"
        ));
    }
    None
}

/// serde_yaml writes `listen.tls: unknown field ... at line 3 column 5`.
fn split(message: &str) -> (&str, &str) {
    let body = message.split(" at line ").next().unwrap_or(message);
    match body.split_once(": ") {
        Some((path, what)) if !path.contains(' ') && !path.contains('`') => (path, what),
        _ => ("", body),
    }
}

fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.split('`').next()
}

/// Where the reader finds a section, for messages.
fn place(path: &str) -> String {
    if path.is_empty() {
        "the top level".into()
    } else {
        format!("`{path}`")
    }
}

fn unknown_field(shape: &Shape, path: &str, key: &str, at: Option<usize>) -> Option<String> {
    let entry = shape
        .entries
        .iter()
        .find(|e| e.key == key && Some(e.line) == at)
        .or_else(|| shape.entries.iter().find(|e| e.key == key))?;
    let here = schema::section_of(&entry.path);
    // Known in another section: it was written in the wrong one.
    let homes: Vec<&Entry> = shape
        .entries
        .iter()
        .filter(|home| {
            schema::section_of(&home.inner()).is_some_and(|s| s != here.unwrap_or("") && schema::has(s, key))
        })
        .collect();
    let where_ = if path.is_empty() {
        "a top-level setting".to_string()
    } else {
        format!("a setting of `{path}`")
    };
    if let Some(home) = nearest_above(&homes, entry.line) {
        return Some(format!(
            "line {}: `{key}` is not {where_}; it belongs under `{}:` (line {}). {}",
            entry.line,
            home.key,
            home.line,
            indent_advice(shape, home, "it")
        ));
    }
    // A typo is likelier than a misplaced section when a name is this close.
    if let Some(best) = here.and_then(|s| super::suggest(key, schema::fields(s).iter().copied())) {
        return Some(format!(
            "line {}: `{key}` is not {where_}: did you mean `{best}`?",
            entry.line
        ));
    }
    // An entry (a group, a user ...) dedented out of its map: judge it by
    // the settings written under it.
    let inner = entry.inner();
    let own: Vec<&str> = shape.children(&inner).map(|e| e.key.as_str()).collect();
    if own.is_empty() {
        return None;
    }
    let maps: Vec<&Entry> = shape
        .entries
        .iter()
        .filter(|map| {
            let mut each = map.inner();
            each.push("*".into());
            schema::section_of(&each).is_some_and(|s| own.iter().all(|k| schema::has(s, k)))
        })
        .collect();
    let map = nearest_above(&maps, entry.line)?;
    let kind = schema::entry_kind(&map.key);
    Some(format!(
        "line {}: `{key}` is not {where_}. The settings under it ({}) are {kind}'s: to make it {kind}, move it under `{}:` (line {}). {}",
        entry.line,
        own.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
        map.key,
        map.line,
        indent_advice(shape, map, "it and the lines under it")
    ))
}

fn missing_field(shape: &Shape, path: &str, key: &str, at: Option<usize>) -> Option<String> {
    let wanted: Vec<String> = if path.is_empty() {
        vec![]
    } else {
        path.split('.').map(str::to_string).collect()
    };
    let section = shape.entries.iter().find(|e| e.inner() == wanted);
    // Written, but outside its section.
    if let Some(section) = section {
        if let Some(stray) = shape
            .entries
            .iter()
            .find(|e| e.key == key && e.path != wanted && e.line > section.line)
        {
            return Some(format!(
                "line {}: `{key}` belongs under `{}:` (line {}), but it is not indented under it. {}",
                stray.line,
                section.key,
                section.line,
                indent_advice(shape, section, "it and the lines under it")
            ));
        }
        return Some(format!(
            "line {}: {} needs `{key}`; add it under `{}:`",
            section.line,
            place(path),
            section.key
        ));
    }
    at.map(|line| format!("line {line}: {} needs `{key}`", place(path)))
}

/// The closest of `candidates` above `line`, else the first below it.
fn nearest_above<'a>(candidates: &[&'a Entry], line: usize) -> Option<&'a Entry> {
    candidates
        .iter()
        .filter(|c| c.line < line)
        .max_by_key(|c| c.line)
        .or_else(|| candidates.first())
        .copied()
}

/// "Indent it by 2 spaces, like `url` on line 7."
fn indent_advice(shape: &Shape, section: &Entry, what: &str) -> String {
    let inner = section.inner();
    let first = shape.children(&inner).next();
    match first {
        Some(first) => format!(
            "Indent {what} by {} spaces, like `{}` on line {}",
            first.indent, first.key, first.line
        ),
        None => format!("Indent {what} by {} spaces", section.indent + 2),
    }
}

/// serde lists the fields it expected; add the one the user probably meant.
fn with_suggestion(message: String) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return message;
    };
    let Some(unknown) = rest.split('`').next() else {
        return message;
    };
    let expected: Vec<&str> = rest
        .split_once("expected")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    match super::suggest(unknown, expected) {
        Some(best) => format!("{message} (did you mean `{best}`?)"),
        None => message,
    }
}
