//! What an approver is shown of a held request's body: enough to know what
//! they approve (a form's or a JSON object's fields, the start of a text),
//! never a password or token in it, and never all of a large upload.
//! The page escapes it like any other text.

/// Field names whose values are never shown.
const SECRET_WORDS: &[&str] = &[
    "pass", "secret", "token", "csrf", "key", "code", "auth", "session", "otp",
];

const MAX_FIELDS: usize = 30;
const MAX_VALUE: usize = 120;
const MAX_TEXT: usize = 300;

/// A body in a few lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Its size and kind, in words.
    pub about: String,
    /// Field names and (shortened or hidden) values, in order.
    pub fields: Vec<(String, String)>,
    /// The start of a text body.
    pub text: Option<String>,
}

pub fn summarize(content_type: Option<&str>, body: &[u8]) -> Summary {
    let kind = content_type.unwrap_or("no content type");
    let about = format!("{} bytes, {kind}", body.len());
    if body.is_empty() {
        return Summary {
            about: "no body".into(),
            ..Summary::default()
        };
    }
    let essence = kind.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let fields = match essence.as_str() {
        "application/x-www-form-urlencoded" => form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        json if json == "application/json" || json.ends_with("+json") => {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, v)| (k, json_value(&v))).collect(),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    let more = fields.len().saturating_sub(MAX_FIELDS);
    let mut fields: Vec<(String, String)> = (fields.into_iter().take(MAX_FIELDS))
        .map(|(name, value)| {
            let value = match is_secret(&name) {
                true => "(hidden)".to_owned(),
                false => shortened(&value, MAX_VALUE),
            };
            (shortened(&name, MAX_VALUE), value)
        })
        .collect();
    if more > 0 {
        fields.push(("…".into(), format!("{more} more fields")));
    }
    let text = (fields.is_empty()
        && (essence.starts_with("text/") || essence.contains("json") || essence.contains("xml")))
    .then(|| shortened(&String::from_utf8_lossy(body), MAX_TEXT));
    Summary { about, fields, text }
}

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

fn json_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => format!("[{} items]", items.len()),
        serde_json::Value::Object(map) => format!("{{{} fields}}", map.len()),
        other => other.to_string(),
    }
}

fn shortened(text: &str, max: usize) -> String {
    match text.chars().count() > max {
        true => text.chars().take(max).chain(['…']).collect(),
        false => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_shows_its_fields_but_never_a_password_or_token() {
        let body = b"id=42&name=Globex+Corp&password=hunter2&csrf_token=abc&confirm=yes";
        let s = summarize(Some("application/x-www-form-urlencoded; charset=utf-8"), body);
        assert_eq!(s.about, "66 bytes, application/x-www-form-urlencoded; charset=utf-8");
        let fields: Vec<(&str, &str)> = s.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("id", "42"),
                ("name", "Globex Corp"),
                ("password", "(hidden)"),
                ("csrf_token", "(hidden)"),
                ("confirm", "yes")
            ]
        );
        assert_eq!(s.text, None);
    }

    #[test]
    fn json_shows_its_top_level_fields_and_other_bodies_only_their_size() {
        let body = br#"{"ids":[1,2,3],"mode":"hard","apiKey":"s3cret","owner":{"id":7}}"#;
        let s = summarize(Some("application/json"), body);
        let names: Vec<String> = s.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            names,
            ["apiKey=(hidden)", "ids=[3 items]", "mode=hard", "owner={1 fields}"]
        );
        let upload = summarize(Some("application/pdf"), &[0u8; 2048]);
        assert_eq!(upload.about, "2048 bytes, application/pdf");
        assert!(upload.fields.is_empty() && upload.text.is_none());
        let long = "x".repeat(1000);
        let text = summarize(Some("text/plain"), long.as_bytes()).text.unwrap();
        assert_eq!(text.chars().count(), MAX_TEXT + 1, "shortened, with an ellipsis");
        assert_eq!(summarize(None, b"").about, "no body");
    }
}
