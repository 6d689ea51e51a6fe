//! The shape of a YAML file as ops see it: which setting sits on which line,
//! under which section, and the first line whose indentation fits nothing
//! above it. Read from the text alone, so it also works on a file the YAML
//! parser gave up on.

/// A `key:` on a line, with the sections it sits in (`-` for a list item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) line: usize,
    pub(crate) indent: usize,
    pub(crate) path: Vec<String>,
    pub(crate) key: String,
}

impl Entry {
    /// The path of what is written under this key.
    pub(crate) fn inner(&self) -> Vec<String> {
        let mut path = self.path.clone();
        path.push(self.key.clone());
        path
    }
}

/// A line that no reading of the indentation makes sense of, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    pub(crate) line: usize,
    pub(crate) message: String,
}

#[derive(Debug, Default)]
pub(crate) struct Shape {
    pub(crate) entries: Vec<Entry>,
    pub(crate) bad: Option<Bad>,
}

impl Shape {
    /// The entries written directly under `path`, in file order.
    pub(crate) fn children<'a>(&'a self, path: &'a [String]) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.path == path)
    }
}

/// An open section: the key that opened it and where its settings start.
struct Frame {
    name: String,
    line: usize,
    indent: usize,
    /// Unknown until its first setting is read.
    child_indent: Option<usize>,
}

/// What one line holds once its indentation is set aside.
enum Content<'a> {
    Item(&'a str),
    Key { key: &'a str, value: &'a str },
    Scalar,
}

/// Read `text`; `fits(path, key)` says whether a setting named `key` may
/// sit at `path`, to offer the likelier of two indentations first.
pub(crate) fn read(text: &str, fits: &dyn Fn(&[String], &str) -> bool) -> Shape {
    let mut reader = Reader {
        fits,
        shape: Shape::default(),
        stack: vec![Frame {
            name: String::new(),
            line: 0,
            indent: 0,
            child_indent: Some(0),
        }],
        previous: None,
    };
    let mut skip_deeper_than: Option<usize> = None;
    let mut open_brackets = 0i32;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = raw.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') || raw.starts_with("---") || raw.starts_with("...") {
            continue;
        }
        let lead = &raw[..raw.len() - trimmed.len()];
        let indent = lead.len();
        if open_brackets > 0 {
            open_brackets += brackets(trimmed);
            continue;
        }
        if let Some(limit) = skip_deeper_than {
            if indent > limit {
                continue;
            }
            skip_deeper_than = None;
        }
        if lead.contains('\t') {
            reader.fail(
                number,
                format!(
                    "line {number} is indented with a tab; YAML indents with spaces only: replace the tab with spaces"
                ),
            );
            break;
        }
        let value = reader.line(number, indent, trimmed);
        if reader.shape.bad.is_some() {
            break;
        }
        if let Some(value) = value {
            if value.starts_with('|') || value.starts_with('>') {
                skip_deeper_than = Some(indent);
            }
            if value.starts_with(['[', '{']) {
                open_brackets = brackets(value).max(0);
            }
        }
    }
    reader.shape
}

struct Reader<'f> {
    fits: &'f dyn Fn(&[String], &str) -> bool,
    shape: Shape,
    stack: Vec<Frame>,
    /// The last key read, for "indented further than ..." messages.
    previous: Option<Entry>,
}

impl Reader<'_> {
    fn fail(&mut self, line: usize, message: String) {
        self.shape.bad = Some(Bad { line, message });
    }

    /// Read one line at `indent`; the value written after its key, if any.
    fn line<'a>(&mut self, number: usize, indent: usize, text: &'a str) -> Option<&'a str> {
        match content(text) {
            Content::Item(rest) => {
                if !self.place(number, indent, "-") {
                    return None;
                }
                let inner = rest.trim_start_matches(' ');
                if inner.is_empty() {
                    self.open(number, indent, "-");
                    return None;
                }
                let column = indent + 1 + (rest.len() - inner.len());
                self.stack.push(Frame {
                    name: "-".into(),
                    line: number,
                    indent,
                    child_indent: Some(column),
                });
                self.line(number, column, inner)
            }
            Content::Key { key, value } => {
                if !self.place(number, indent, key) {
                    return None;
                }
                if value.is_empty() || value.starts_with('&') && !value.contains(' ') {
                    self.open(number, indent, key);
                }
                Some(value)
            }
            Content::Scalar => {
                let words: Vec<&str> = text.split_whitespace().collect();
                let in_list = self.stack.last().is_some_and(|f| f.name == "-");
                if !in_list && words.len() == 2 && words[0].chars().all(|c| c.is_alphanumeric() || c == '_') {
                    self.fail(
                        number,
                        format!(
                            "line {number} has no `:` after `{}`: settings are written `name: value`, as in `{}: {}`",
                            words[0], words[0], words[1]
                        ),
                    );
                } else if !in_list && self.stack.len() > 1 {
                    self.fail(
                        number,
                        format!("line {number} is neither `name: value` nor a list item (`- ...`): is a `:` missing?"),
                    );
                }
                Some(text)
            }
        }
    }

    fn open(&mut self, line: usize, indent: usize, name: &str) {
        self.stack.push(Frame {
            name: name.to_string(),
            line,
            indent,
            child_indent: None,
        });
    }

    /// Find the section a line at `indent` belongs to; false (and the line
    /// marked bad) when its indentation fits none.
    fn place(&mut self, number: usize, indent: usize, key: &str) -> bool {
        // The sections this line closes: the innermost may be a `key:`
        // with nothing under it yet, the outermost the one it fell out of.
        let mut opened: Option<Frame> = None;
        let mut left: Option<Frame> = None;
        loop {
            let top = self.stack.last().expect("the top level is never left");
            let in_item = top.name == "-";
            match top.child_indent {
                None if indent > top.indent || (indent == top.indent && key == "-" && !in_item) => {
                    if let Some(top) = self.stack.last_mut() {
                        top.child_indent = Some(indent);
                    }
                    break;
                }
                // A `key:` with nothing under it (an empty value).
                None => opened = self.stack.pop(),
                Some(level) if level == indent => break,
                Some(level) if indent > level => {
                    let message = match &self.previous {
                        Some(prev) if left.is_none() && opened.is_none() => format!(
                            "line {number}: `{key}` is indented further than `{}` on line {}, which already has its value on that line. Line it up with `{}` ({}), or, if it belongs under `{}`, remove the value after `{}:`",
                            prev.key, prev.line, prev.key, spaces(prev.indent), prev.key, prev.key
                        ),
                        _ => self.between(number, indent, key, opened.as_ref(), left.as_ref()),
                    };
                    self.fail(number, message);
                    return false;
                }
                Some(_) if self.stack.len() == 1 => {
                    let message = self.between(number, indent, key, opened.as_ref(), left.as_ref());
                    self.fail(number, message);
                    return false;
                }
                Some(_) => left = self.stack.pop(),
            }
        }
        let path = self.stack.iter().skip(1).map(|f| f.name.clone()).collect();
        let entry = Entry {
            line: number,
            indent,
            path,
            key: key.to_string(),
        };
        self.previous = Some(entry.clone());
        self.shape.entries.push(entry);
        true
    }

    /// A line indented between two levels: offer both, nearest first.
    fn between(&self, number: usize, indent: usize, key: &str, opened: Option<&Frame>, left: Option<&Frame>) -> String {
        let outer = self.stack.last().expect("the top level is never left");
        let outer_level = outer.child_indent.unwrap_or(0);
        let beside = match outer.name.as_str() {
            "" => "a top-level setting".to_string(),
            "-" => "a setting of the same list item".to_string(),
            name => format!("a setting of `{name}` (line {})", outer.line),
        };
        let mut message = format!(
            "line {number}: `{key}` is indented by {}, which lines it up with nothing above it.",
            spaces(indent)
        );
        if let Some(opened) = opened {
            // Right after a `name:` with nothing under it: it surely belongs there.
            let under = under(opened);
            return message + &format!(" Indent it by {} to put it {under}", spaces(opened.indent + 2));
        }
        match left {
            Some(inner) => {
                let inner_level = inner.child_indent.unwrap_or(inner.indent + 2);
                let under = under(inner);
                let outer_path: Vec<String> = self.stack.iter().skip(1).map(|f| f.name.clone()).collect();
                let mut inner_path = outer_path.clone();
                inner_path.push(inner.name.clone());
                let inner_first = match ((self.fits)(&inner_path, key), (self.fits)(&outer_path, key)) {
                    (true, false) => true,
                    (false, true) => false,
                    _ => inner_level.abs_diff(indent) <= outer_level.abs_diff(indent),
                };
                let mut options = [
                    (inner_level, format!("put it {under}")),
                    (outer_level, format!("make it {beside}")),
                ];
                if !inner_first {
                    options.reverse();
                }
                let [(first, first_words), (second, second_words)] = options;
                message += &format!(
                    " Indent it by {} to {first_words}, or by {} to {second_words}",
                    spaces(first),
                    spaces(second)
                );
            }
            None => message += &format!(" Indent it by {} to make it {beside}", spaces(outer_level)),
        }
        message
    }
}

fn under(frame: &Frame) -> String {
    match frame.name.as_str() {
        "-" => format!("in the list item on line {}", frame.line),
        name => format!("under `{name}` (line {})", frame.line),
    }
}

fn spaces(n: usize) -> String {
    match n {
        0 => "no spaces".into(),
        1 => "1 space".into(),
        n => format!("{n} spaces"),
    }
}

/// A line's content: a list item, a `key: value`, or something else.
fn content(text: &str) -> Content<'_> {
    if text == "-" || text.starts_with("- ") {
        return Content::Item(&text[1..]);
    }
    if text.starts_with(['{', '[', '"', '\'', '|', '>']) && !quoted_key(text) {
        return Content::Scalar;
    }
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'#' && i > 0 && bytes[i - 1] == b' ' => break,
            None if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') => {
                let key = text[..i].trim().trim_matches(['"', '\'']);
                let value = text[i + 1..].trim();
                let value = if value.starts_with('#') { "" } else { value };
                return Content::Key { key, value };
            }
            None => {}
        }
    }
    Content::Scalar
}

fn quoted_key(text: &str) -> bool {
    let Some(q) = text.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return false;
    };
    text[1..]
        .find(q)
        .is_some_and(|end| text[1 + end + 1..].starts_with(':'))
}

/// How many flow brackets a value leaves open (strings set aside).
fn brackets(text: &str) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, '#') => break,
            _ => {}
        }
    }
    depth
}
