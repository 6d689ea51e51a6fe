//! The `codes` section, compiled: how one-time codes reach users by email
//! (SMTP) and SMS (an HTTP webhook, or the common provider form). Secrets
//! (an SMTP password, an API key) are read from files or the environment
//! when the config loads, and never printed.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Uri};
use rustls::pki_types::CertificateDer;

use super::raw::{Factor, RawCodes, RawConfig, RawEmail, RawSms, SmtpSecurity};
use super::Found;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSettings {
    pub digits: u32,
    pub valid_for: Duration,
    pub email: Option<EmailSettings>,
    pub sms: Option<SmsSettings>,
    /// Who hears of a sign-in from a new place (`alerts.new_sign_in_place`).
    pub new_place: Option<NewPlaceAlert>,
}

/// Email on a sign-in from a network or client type new for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlaceAlert {
    pub to_user: bool,
    pub also: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailSettings {
    /// Printed to standard output (the demo).
    Console,
    Smtp(Smtp),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, Secret)>,
    pub ca_certs: Option<Vec<CertificateDer<'static>>>,
    pub from: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSettings {
    Console,
    Webhook(Webhook),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: Uri,
    pub method: Method,
    /// Values are marked sensitive (hidden from Debug).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: WebhookBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookBody {
    /// Form fields; `{phone}`, `{code}` and `{message}` are filled in.
    Form(Vec<(String, String)>),
    /// A JSON template; the same placeholders, JSON-escaped.
    Json(String),
}

/// A password or token: usable, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub(super) fn compile(raw: &RawConfig, base: &Path, found: &mut Found) -> CodeSettings {
    let codes: &RawCodes = &raw.codes;
    if !(6..=8).contains(&codes.digits) {
        found.add("codes.digits", "must be 6, 7 or 8");
    }
    if codes.valid_for.0 < Duration::from_secs(10) || codes.valid_for.0 > Duration::from_secs(30 * 60) {
        found.add("codes.valid_for", "must be between 10s and 30m");
    }
    let email = codes.email.as_ref().and_then(|e| email(e, base, found));
    let sms = codes.sms.as_ref().and_then(|s| sms(s, base, found));
    // A factor the policy offers must have a way to reach the user.
    for (factor, configured, name, word) in [
        (Factor::Email, codes.email.is_some(), "codes.email", "email"),
        (Factor::Sms, codes.sms.is_some(), "codes.sms", "SMS"),
    ] {
        if configured {
            continue;
        }
        let wanted = raw.second_factors.iter().flatten().any(|f| *f == factor)
            || raw
                .groups
                .values()
                .flat_map(|g| g.second_factors.iter().flatten())
                .any(|f| *f == factor)
            || raw
                .users
                .values()
                .flat_map(|u| u.second_factors.iter().flatten())
                .any(|f| *f == factor);
        if wanted {
            found.add(
                name,
                format!("second_factors offers {word} codes, but {name} is not set; say how to send them"),
            );
        }
    }
    let new_place = raw.alerts.new_sign_in_place.as_ref().map(|a| NewPlaceAlert {
        to_user: a.to_user,
        also: a.also.clone(),
    });
    if new_place.is_some() && codes.email.is_none() {
        found.add(
            "alerts.new_sign_in_place",
            "is sent by email, but codes.email is not set; say how to send mail there",
        );
    }
    let quota_alerts = (raw.routes.iter().enumerate())
        .filter_map(|(i, r)| Some((format!("routes[{i}].quota.alert"), &r.quota.as_ref()?.alert)));
    let also = (raw.alerts.new_sign_in_place.as_ref()).map(|a| ("alerts.new_sign_in_place.also".to_owned(), &a.also));
    for (path, addresses) in quota_alerts.chain(also).filter(|(_, a)| !a.is_empty()) {
        if codes.email.is_none() && path.starts_with("routes") {
            found.add(
                &path,
                "is sent by email, but codes.email is not set; say how to send mail there",
            );
        }
        for (i, address) in addresses.iter().enumerate() {
            if address.parse::<lettre::Address>().is_err() {
                found.add(&format!("{path}[{i}]"), format!("{address:?} is not an email address"));
            }
        }
    }
    CodeSettings {
        digits: codes.digits,
        valid_for: codes.valid_for.0,
        email,
        sms,
        new_place,
    }
}

fn email(raw: &RawEmail, base: &Path, found: &mut Found) -> Option<EmailSettings> {
    match (&raw.smtp, raw.console) {
        (None, true) => Some(EmailSettings::Console),
        (Some(_), true) => {
            found.add("codes.email", "set smtp or console, not both");
            None
        }
        (None, false) => {
            found.add("codes.email", "set smtp (or console: true, for a demo)");
            None
        }
        (Some(smtp), false) => {
            if raw.from.parse::<lettre::message::Mailbox>().is_err() {
                found.add(
                    "codes.email.from",
                    format!(
                        "{:?} is not an address; write it like \"Acme CRM <crm@example.com>\"",
                        raw.from
                    ),
                );
            }
            let password = smtp
                .password_file
                .as_ref()
                .and_then(|file| found.check("codes.email.smtp.password_file", read_secret(&base.join(file))));
            let credentials = match (&smtp.username, password) {
                (Some(user), Some(password)) => Some((user.clone(), password)),
                (None, None) => None,
                _ => {
                    found.add("codes.email.smtp", "set both username and password_file, or neither");
                    None
                }
            };
            let ca_certs = smtp
                .ca_file
                .as_ref()
                .and_then(|file| found.check("codes.email.smtp.ca_file", super::tls::load_ca_file(&base.join(file))));
            Some(EmailSettings::Smtp(Smtp {
                host: smtp.host.clone(),
                port: smtp.port,
                security: smtp.security,
                credentials,
                ca_certs,
                from: raw.from.clone(),
                subject: raw.subject.clone(),
            }))
        }
    }
}

fn sms(raw: &RawSms, base: &Path, found: &mut Found) -> Option<SmsSettings> {
    match (raw.console, &raw.webhook, &raw.account) {
        (true, None, None) => Some(SmsSettings::Console),
        (false, Some(hook), None) => {
            let url = found.check("codes.sms.webhook.url", http_url(&hook.url))?;
            let method = found.check(
                "codes.sms.webhook.method",
                Method::from_bytes(hook.method.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("{:?} is not an HTTP method", hook.method)),
            )?;
            let mut headers = Vec::new();
            for (name, value) in &hook.headers {
                let path = format!("codes.sms.webhook.headers.{name}");
                let Some(name) = found.check(
                    &path,
                    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name")),
                ) else {
                    continue;
                };
                let Some(value) = found.check(&path, expand(value, base)) else {
                    continue;
                };
                match HeaderValue::from_str(&value.0) {
                    Ok(mut value) => {
                        value.set_sensitive(true);
                        headers.push((name, value));
                    }
                    Err(_) => found.add(&path, "is not a valid header value"),
                }
            }
            let body = match (&hook.form, &hook.json) {
                (Some(form), None) => WebhookBody::Form(form.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                (None, Some(json)) => WebhookBody::Json(json.clone()),
                _ => {
                    found.add("codes.sms.webhook", "set exactly one of form and json");
                    return None;
                }
            };
            Some(SmsSettings::Webhook(Webhook {
                url,
                method,
                headers,
                body,
            }))
        }
        (false, None, Some(account)) => {
            let url = found.check("codes.sms.account.url", http_url(&account.url))?;
            let token = found.check(
                "codes.sms.account.auth_token_file",
                read_secret(&base.join(&account.auth_token_file)),
            )?;
            use base64::Engine;
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", account.account_sid, token.0));
            let mut authorization = HeaderValue::from_str(&format!("Basic {basic}")).ok()?;
            authorization.set_sensitive(true);
            Some(SmsSettings::Webhook(Webhook {
                url,
                method: Method::POST,
                headers: vec![(http::header::AUTHORIZATION, authorization)],
                body: WebhookBody::Form(vec![
                    ("To".into(), "{phone}".into()),
                    ("From".into(), account.from.clone()),
                    ("Body".into(), "{message}".into()),
                ]),
            }))
        }
        _ => {
            found.add("codes.sms", "set exactly one of webhook, account and console");
            None
        }
    }
}

fn http_url(text: &str) -> Result<Uri, String> {
    let url: Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    match url.scheme_str() {
        Some("http" | "https") if url.host().is_some() => Ok(url),
        _ => Err(format!("{text:?} must start with http:// or https://")),
    }
}

/// A secret from a file: its contents, surrounding space trimmed.
pub(super) fn read_secret(file: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    Ok(Secret(text.trim().to_owned()))
}

/// A secret set by `<path>.<key>_file` or `<path>.<key>_env`, exactly one
/// of them, and not empty: what is wrong goes to `found`.
pub(super) fn file_or_env(
    found: &mut Found,
    path: &str,
    key: &str,
    (file, env): (Option<&String>, Option<&String>),
    base: &Path,
) -> Option<Secret> {
    let secret = match (file, env) {
        (Some(file), None) => found.check(&format!("{path}.{key}_file"), read_secret(&base.join(file))),
        (None, Some(name)) => found.check(
            &format!("{path}.{key}_env"),
            std::env::var(name)
                .map(|v| Secret(v.trim().to_owned()))
                .map_err(|_| format!("the environment variable {name} is not set")),
        ),
        _ => {
            found.add(path, format!("set {key}_file or {key}_env (one of them)"));
            None
        }
    };
    secret.filter(|s| {
        if s.0.is_empty() {
            found.add(path, format!("the {} is empty", key.replace('_', " ")));
        }
        !s.0.is_empty()
    })
}

/// A header value with `{env:NAME}` and `{file:PATH}` filled in.
fn expand(value: &str, base: &Path) -> Result<Secret, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let token = &rest[start + 1..start + end];
        if let Some(name) = token.strip_prefix("env:") {
            out.push_str(&std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"))?);
        } else if let Some(file) = token.strip_prefix("file:") {
            out.push_str(&read_secret(&base.join(file))?.0);
        } else {
            out.push_str(&rest[start..=start + end]);
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(Secret(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_take_secrets_from_the_environment_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "s3cret\n").unwrap();
        std::env::set_var("PORTCULLIS_TEST_TOKEN", "t0ken");
        assert_eq!(
            expand("Bearer {env:PORTCULLIS_TEST_TOKEN}", dir.path()).unwrap().0,
            "Bearer t0ken"
        );
        assert_eq!(expand("Key {file:key}", dir.path()).unwrap().0, "Key s3cret");
        assert_eq!(expand("{plain}", dir.path()).unwrap().0, "{plain}");
        assert!(expand("{env:PORTCULLIS_NOT_SET_ANYWHERE}", dir.path()).is_err());
        assert_eq!(format!("{:?}", Secret("x".into())), "[redacted]");
    }
}
