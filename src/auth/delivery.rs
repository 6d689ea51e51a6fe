//! Sending one-time codes: by email over SMTP (lettre) and by SMS through an
//! HTTP webhook. The demo prints them to its console instead. A failure to
//! send is an error the sign-in page shows; it never lets anyone in.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use askama::Template;

use crate::config::codes::{CodeSettings, EmailSettings, SmsSettings, Webhook, WebhookBody};
use crate::config::raw::SmtpSecurity;
use crate::i18n::{fill, Texts};

/// How long the SMTP server or the SMS provider may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no way to send these codes is configured")]
    NotConfigured,
    #[error("cannot set up sending: {0}")]
    Setup(String),
    #[error("the mail server refused or did not answer: {0}")]
    Email(String),
    #[error("the SMS provider refused or did not answer: {0}")]
    Sms(String),
}

/// Where and why a code was asked for: told to the user in the message,
/// in the language of the page they asked from.
pub struct Context<'a> {
    pub t: &'a Texts,
    pub company: &'a str,
    pub ip: IpAddr,
    pub client_type: &'a str,
    pub at: SystemTime,
    pub valid_for: Duration,
}

pub struct Delivery {
    email: Option<EmailSender>,
    sms: Option<SmsSender>,
}

// One of each per gateway, made at start: their size does not matter.
#[allow(clippy::large_enum_variant)]
enum EmailSender {
    Console,
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        subject: String,
    },
}

type WebhookClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

#[allow(clippy::large_enum_variant)] // as above
enum SmsSender {
    Console,
    Webhook { client: WebhookClient, hook: Webhook },
}

impl Delivery {
    pub fn new(settings: &CodeSettings) -> Result<Delivery, SendError> {
        let email = match &settings.email {
            None => None,
            Some(EmailSettings::Console) => Some(EmailSender::Console),
            Some(EmailSettings::Smtp(smtp)) => {
                let setup = |e: &dyn std::fmt::Display| SendError::Setup(e.to_string());
                let mut tls = TlsParameters::builder(smtp.host.clone());
                for der in smtp.ca_certs.iter().flatten() {
                    tls = tls.add_root_certificate(Certificate::from_der(der.to_vec()).map_err(|e| setup(&e))?);
                }
                let tls = tls.build_rustls().map_err(|e| setup(&e))?;
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
                    .port(smtp.port)
                    .timeout(Some(SEND_TIMEOUT))
                    .tls(match smtp.security {
                        SmtpSecurity::Starttls => Tls::Required(tls),
                        SmtpSecurity::Tls => Tls::Wrapper(tls),
                        SmtpSecurity::None => Tls::None,
                    });
                if let Some((user, password)) = &smtp.credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
                }
                Some(EmailSender::Smtp {
                    transport: builder.build(),
                    from: smtp.from.parse().map_err(|e| setup(&e))?,
                    subject: smtp.subject.clone(),
                })
            }
        };
        let sms = match &settings.sms {
            None => None,
            Some(SmsSettings::Console) => Some(SmsSender::Console),
            Some(SmsSettings::Webhook(hook)) => {
                // The provider named, not the process default: there may be
                // more than one in the build.
                let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_webpki_roots(provider)
                    .map_err(|e| SendError::Setup(e.to_string()))?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Some(SmsSender::Webhook {
                    client: Client::builder(TokioExecutor::new()).build(connector),
                    hook: hook.clone(),
                })
            }
        };
        Ok(Delivery { email, sms })
    }

    pub fn can_email(&self) -> bool {
        self.email.is_some()
    }

    pub fn can_text(&self) -> bool {
        self.sms.is_some()
    }

    pub async fn email(&self, to: &str, code: &str, ctx: &Context<'_>) -> Result<(), SendError> {
        let (transport, from, subject) = match &self.email {
            None => return Err(SendError::NotConfigured),
            Some(EmailSender::Console) => {
                println!("  [demo] code for {to} by email: {code}");
                return Ok(());
            }
            Some(EmailSender::Smtp {
                transport,
                from,
                subject,
            }) => (transport, from, subject),
        };
        let fail = |e: &dyn std::fmt::Display| SendError::Email(e.to_string());
        let to: Mailbox = to.parse().map_err(|e| fail(&e))?;
        let (text, html) = email_body(code, ctx);
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject.as_str())
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| fail(&e))?;
        transport.send(message).await.map(|_| ()).map_err(|e| fail(&e))
    }

    /// A plain-text notice (an alert), from the codes' sender.
    pub async fn notice(&self, to: &str, subject: &str, text: String) -> Result<(), SendError> {
        let (transport, from) = match &self.email {
            None => return Err(SendError::NotConfigured),
            Some(EmailSender::Console) => {
                println!("  [demo] email to {to}: {subject}");
                return Ok(());
            }
            Some(EmailSender::Smtp { transport, from, .. }) => (transport, from),
        };
        let fail = |e: &dyn std::fmt::Display| SendError::Email(e.to_string());
        let message = Message::builder()
            .from(from.clone())
            .to(to.parse().map_err(|e| fail(&e))?)
            .subject(subject)
            .body(text)
            .map_err(|e| fail(&e))?;
        transport.send(message).await.map(|_| ()).map_err(|e| fail(&e))
    }

    pub async fn sms(&self, phone: &str, code: &str, ctx: &Context<'_>) -> Result<(), SendError> {
        let (client, hook) = match &self.sms {
            None => return Err(SendError::NotConfigured),
            Some(SmsSender::Console) => {
                println!("  [demo] code for {phone} by SMS: {code}");
                return Ok(());
            }
            Some(SmsSender::Webhook { client, hook }) => (client, hook),
        };
        let fail = |e: &dyn std::fmt::Display| SendError::Sms(e.to_string());
        let message = sms_text(code, ctx);
        let fill = |template: &str, escape: fn(&str) -> String| {
            template
                .replace("{phone}", &escape(phone))
                .replace("{code}", &escape(code))
                .replace("{message}", &escape(&message))
        };
        let (content_type, body) = match &hook.body {
            WebhookBody::Form(fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    form.append_pair(name, &fill(value, str::to_owned));
                }
                ("application/x-www-form-urlencoded", form.finish())
            }
            WebhookBody::Json(template) => ("application/json", fill(template, json_escape)),
        };
        let mut request = http::Request::builder()
            .method(hook.method.clone())
            .uri(hook.url.clone())
            .header(http::header::CONTENT_TYPE, content_type);
        for (name, value) in &hook.headers {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| fail(&e))?;
        let response = tokio::time::timeout(SEND_TIMEOUT, client.request(request))
            .await
            .map_err(|_| fail(&"no answer within 10 s"))?
            .map_err(|e| fail(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(fail(&format!("it answered {}", response.status())))
        }
    }
}

/// A string's content as it goes between JSON quotes.
fn json_escape(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

fn minutes(d: Duration) -> String {
    d.as_secs().div_ceil(60).to_string()
}

pub fn sms_text(code: &str, ctx: &Context<'_>) -> String {
    let minutes = minutes(ctx.valid_for);
    fill(
        &ctx.t.sms,
        &[("code", code), ("company", ctx.company), ("minutes", &minutes)],
    )
}

/// What the email says, in the asker's language.
struct Words<'a> {
    lang: &'a str,
    intro: String,
    code: &'a str,
    once: String,
    where_from: String,
    not_you: &'a str,
}

#[derive(Template)]
#[template(path = "email/code.txt")]
struct EmailText<'a> {
    w: &'a Words<'a>,
}

/// Escaped by default, as every HTML template is.
#[derive(Template)]
#[template(path = "email/code.html")]
struct EmailHtml<'a> {
    w: &'a Words<'a>,
}

/// The plain-text and HTML bodies of the email.
pub fn email_body(code: &str, ctx: &Context<'_>) -> (String, String) {
    let t = ctx.t;
    let when = humantime::format_rfc3339_seconds(ctx.at).to_string();
    let ip = ctx.ip.to_string();
    let words = Words {
        lang: &t.lang,
        intro: fill(&t.email_intro, &[("company", ctx.company)]),
        code,
        once: fill(&t.email_once, &[("minutes", &minutes(ctx.valid_for))]),
        where_from: fill(
            &t.email_where,
            &[("ip", &ip), ("client", ctx.client_type), ("time", &when)],
        ),
        not_you: &t.email_not_you,
    };
    // Rendering into a String cannot fail: the templates only interpolate.
    let text = EmailText { w: &words }.render().unwrap_or_default();
    let html = EmailHtml { w: &words }.render().unwrap_or_default();
    (text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        static CATALOG: std::sync::LazyLock<crate::i18n::Catalog> =
            std::sync::LazyLock::new(crate::i18n::Catalog::built_in);
        Context {
            t: CATALOG.for_accept_language(None),
            company: "Acme <CRM>",
            ip: "193.167.1.70".parse().unwrap(),
            client_type: "web",
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            valid_for: Duration::from_secs(300),
        }
    }

    #[test]
    fn the_email_says_the_code_where_from_when_and_what_to_do_if_it_was_not_you() {
        let (text, html) = email_body("482913", &ctx());
        for body in [&text, &html] {
            assert!(body.contains("482913"));
            assert!(body.contains("193.167.1.70"));
            assert!(body.contains("2027-01-15T08:00:00Z"));
            assert!(body.contains("If this was not you"));
        }
        assert!(
            html.contains("Acme &#60;CRM&#62;") || html.contains("Acme &lt;CRM&gt;"),
            "escaped in HTML: {html}"
        );
        assert!(text.contains("Acme <CRM>"), "plain text is not escaped: {text}");
        assert!(sms_text("482913", &ctx()).starts_with("482913 is your Acme <CRM> sign-in code"));
    }

    #[test]
    fn the_email_is_in_the_language_of_the_page_that_asked() {
        let catalog = crate::i18n::Catalog::built_in();
        let ctx = Context {
            t: catalog.language("de").unwrap(),
            ..ctx()
        };
        let (text, html) = email_body("482913", &ctx);
        assert!(
            text.contains(&fill(&ctx.t.email_intro, &[("company", "Acme <CRM>")])),
            "{text}"
        );
        assert!(html.starts_with("<!doctype html>\n<html lang=\"de\">"), "{html}");
        assert_ne!(sms_text("482913", &ctx), sms_text("482913", &self::ctx()));
    }

    #[test]
    fn json_templates_get_escaped_values() {
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
