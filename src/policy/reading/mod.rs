//! The request as the CRM may read it. The CRM's server, not the gateway,
//! decides what a request means, and legacy CRMs run on servers that read
//! the same bytes in different ways. A rule holds only if it holds under
//! every reading, so the gateway works out each reading a server of the
//! configured family ([`Server`]) could make, decides on every one of them
//! ([`super::decide_reading`]), and lets the request through only when
//! all of them are allowed. What no reading can make unambiguous is refused.
//!
//! | what | defence | families |
//! |---|---|---|
//! | case (`/Billing` is `/billing` on IIS) | route globs and path prefixes match case-insensitively | all |
//! | `;` path parameters (`/billing;x`, `/billing%3Bx`) | also read with them removed, as servlet containers and Spring do | java, generic |
//! | `..;` / `.;` segments (a servlet's `..`) | refused | all |
//! | trailing dots and spaces (`/billing.`, `/billing%20`) | refused (Windows drops them) | iis, generic |
//! | 8.3 short names (`/BILLIN~1`) | refused | iis, generic |
//! | NTFS streams (`/billing::$DATA`) | `:` refused | iis, generic |
//! | `HEAD` (run as `GET`) | also read as `GET` | all |
//! | method overrides (`X-HTTP-Method-Override`, `_method` in the query, a form or JSON body) | also read as the method named | all |
//! | WebDAV `Destination` | its path is read too | all |
//! | `TRACE`, `TRACK`, `DEBUG` | refused | all |
//!
//! Encodings that mean different things everywhere (double encoding,
//! look-alikes, encoded slashes) are refused in [`super::path`].

use std::borrow::Cow;
use std::future::Future as _;

use http::{HeaderMap, Method};
use smallvec::SmallVec;

use super::path::{self, PathError};
pub use crate::config::raw::Server;

/// Why a request has no reading the gateway can stand behind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("{0}")]
    Path(#[from] PathError),
    #[error("the method {0} is never passed to the CRM")]
    Method(Method),
    #[error("a method override that is not a method name: {0:?}")]
    Override(String),
    #[error("a Destination header that is not a path on this server")]
    Destination,
    #[error("a form body the gateway cannot read, on a request whose method matters")]
    Body,
    #[error("the client type differs between readings of the path")]
    ClientType,
}

/// Every path and method some server of the family could act on. The
/// first path is the normalised one: what is forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<'a> {
    pub paths: SmallVec<[Cow<'a, str>; 2]>,
    pub methods: SmallVec<[Method; 2]>,
}

impl<'a> Reading<'a> {
    /// The normalised path, which is matched first and forwarded.
    pub fn path(&self) -> &str {
        &self.paths[0]
    }

    /// Add methods (overrides found in a body), keeping each once.
    pub fn add_methods(&mut self, methods: impl IntoIterator<Item = Method>) {
        for method in methods {
            push_method(&mut self.methods, method);
        }
    }
}

/// Methods no CRM request needs, that some servers answer in ways that leak
/// (TRACE echoes the request, cookies included; TRACK is IIS's TRACE; DEBUG
/// starts ASP.NET's remote debugging).
const NEVER_FORWARDED: [&str; 3] = ["TRACE", "TRACK", "DEBUG"];

/// Read a request: its method, its path and query (as on the request line)
/// and its headers.
pub fn read<'a>(
    server: Server,
    method: &Method,
    path: &'a str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Reading<'a>, Unreadable> {
    if NEVER_FORWARDED.contains(&method.as_str()) {
        return Err(Unreadable::Method(method.clone()));
    }
    let normal = path::normalize(path)?;
    let mut paths = SmallVec::new();
    paths.push(normal);
    add_path_readings(server, &mut paths)?;
    // One look at the names: is there a Destination or an override header?
    // (Cheaper than a lookup of each, on every request.)
    let mut overridden = false;
    for name in headers.keys() {
        match name.as_str() {
            "destination" => {
                let target = headers.get(name).and_then(|d| destination_path(d.as_bytes()));
                let target = target.ok_or(Unreadable::Destination)?;
                let normal = path::normalize(&target)?.into_owned();
                paths.push(Cow::Owned(normal));
                add_path_readings(server, &mut paths)?;
            }
            n if OVERRIDE_HEADERS.contains(&n) => overridden = true,
            _ => {}
        }
    }

    let mut methods = SmallVec::new();
    push_method(&mut methods, method.clone());
    for name in OVERRIDE_HEADER_NAMES.iter().filter(|_| overridden) {
        for value in headers.get_all(name) {
            let value = value.to_str().map_err(|_| Unreadable::Override("(not text)".into()))?;
            for part in value.split(',') {
                push_method(&mut methods, override_method(part)?);
            }
        }
    }
    let names_a_method = |q: &&str| q.as_bytes().windows(6).any(|w| w.eq_ignore_ascii_case(b"method"));
    if let Some(query) = query.filter(names_a_method) {
        // Some servers also split a query on `;` (Python's older parsers).
        let query = query.replace(';', "&");
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if is_override_field(&name) {
                push_method(&mut methods, override_method(&value)?);
            }
        }
    }
    Ok(Reading { paths, methods })
}

/// The readings a server family adds to the last path in `paths`, after
/// refusing what it reads in a way no rule can follow.
fn add_path_readings(server: Server, paths: &mut SmallVec<[Cow<'_, str>; 2]>) -> Result<(), PathError> {
    let Some(last) = paths.last() else { return Ok(()) };
    check(server, last)?;
    let servlet = matches!(server, Server::Java | Server::Generic);
    if servlet && (last.contains(';') || last.contains("%3B")) {
        let stripped = without_parameters(last);
        let stripped = path::normalize(&stripped)?.into_owned();
        if stripped != **last {
            paths.push(Cow::Owned(stripped));
        }
    }
    Ok(())
}

/// Refuse what a server of `server`'s family reads in a way that no
/// normalisation of ours can follow.
pub fn check(server: Server, path: &str) -> Result<(), PathError> {
    let windows = matches!(server, Server::Iis | Server::Generic);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let name = segment_name(segment);
        if name.len() != segment.len() && (name == "." || name == "..") {
            return Err(PathError::DotSegmentWithParameters);
        }
        if !windows {
            continue;
        }
        if segment.ends_with('.') || segment.ends_with("%20") {
            return Err(PathError::TrailingDotOrSpace);
        }
        let bytes = segment.as_bytes();
        if bytes.windows(2).any(|w| w[0] == b'~' && w[1].is_ascii_digit()) {
            return Err(PathError::ShortName);
        }
        if segment.contains(':') || segment.contains("%3A") {
            return Err(PathError::StreamName);
        }
    }
    Ok(())
}

/// A segment up to its first path parameter (`;`, or `%3B`, which Spring
/// decodes before it removes parameters).
fn segment_name(segment: &str) -> &str {
    let end = [segment.find(';'), segment.find("%3B")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(segment.len());
    &segment[..end]
}

/// The path as a servlet container maps it: each segment without its
/// parameters (`/billing;jsessionid=1/x` → `/billing/x`).
fn without_parameters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(segment_name(segment));
    }
    out
}

/// The path named by a WebDAV `Destination` header: an absolute URL or a path.
fn destination_path(value: &[u8]) -> Option<String> {
    let uri: http::Uri = std::str::from_utf8(value).ok()?.trim().parse().ok()?;
    let path = uri.path();
    path.starts_with('/').then(|| path.to_owned())
}

/// Headers that frameworks read as the method instead of the request's own.
const OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];
/// The same, ready to look up (no parsing per request).
static OVERRIDE_HEADER_NAMES: [http::HeaderName; 3] = [
    http::HeaderName::from_static("x-http-method-override"),
    http::HeaderName::from_static("x-http-method"),
    http::HeaderName::from_static("x-method-override"),
];

/// Is a query, form or JSON field one that some framework reads as the
/// method? Names are compared as PHP registers them (`.`, space and `[`
/// become `_`) and case-insensitively (ASP.NET): `_method` (Rails,
/// Laravel, Symfony, Spring, Express), `X-HTTP-Method-Override` (ASP.NET,
/// Jersey) and kin.
pub fn is_override_field(name: &str) -> bool {
    let canonical: String = name
        .trim_start()
        .chars()
        .map(|c| match c {
            '.' | ' ' | '[' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    canonical == "_method"
        || canonical.starts_with("_method_")
        || OVERRIDE_HEADERS.iter().any(|h| canonical == h.replace('-', "_"))
}

/// The method an override names, as frameworks read it (upper-cased).
fn override_method(value: &str) -> Result<Method, Unreadable> {
    let upper = value.trim().to_ascii_uppercase();
    let plain = !upper.is_empty() && upper.len() <= 20 && upper.bytes().all(|b| b.is_ascii_uppercase());
    match plain.then(|| Method::from_bytes(upper.as_bytes())) {
        Some(Ok(method)) if !NEVER_FORWARDED.contains(&method.as_str()) => Ok(method),
        _ => Err(Unreadable::Override(value.chars().take(40).collect())),
    }
}

/// Keep each method once; a HEAD is also read as the GET that servers run for it.
fn push_method(methods: &mut SmallVec<[Method; 2]>, method: Method) {
    let get = (method == Method::HEAD).then_some(Method::GET);
    for m in std::iter::once(method).chain(get) {
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
}

/// A request body that a framework may read a method override from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormBody {
    /// `application/x-www-form-urlencoded`, or no Content-Type at all (Rack
    /// parses a POST without one as a form).
    UrlEncoded,
    /// `multipart/*` (Rack reads `multipart/mixed` and `related` as forms).
    Multipart { boundary: Option<String> },
    /// JSON (Laravel reads `_method` from a JSON body).
    Json,
}

impl FormBody {
    /// The kind of form a body with these headers is, if it is one.
    pub fn of(headers: &HeaderMap) -> Option<FormBody> {
        let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
            return Some(FormBody::UrlEncoded);
        };
        let text = value.to_str().ok()?.to_ascii_lowercase();
        let essence = text.split(';').next().unwrap_or("").trim();
        if essence == "application/x-www-form-urlencoded" {
            Some(FormBody::UrlEncoded)
        } else if essence.starts_with("multipart/") {
            let boundary = value.to_str().ok().and_then(|v| multer::parse_boundary(v).ok());
            Some(FormBody::Multipart { boundary })
        } else if essence.ends_with("/json") || essence.ends_with("+json") {
            Some(FormBody::Json)
        } else {
            None
        }
    }

    /// The methods a body of this kind names as overrides. A body that
    /// cannot be read (or whose multipart headers could name a field two
    /// ways) is refused: where the gateway cannot be sure, it says no.
    pub fn overrides(&self, body: &bytes::Bytes) -> Result<Vec<Method>, Unreadable> {
        let mut found = Vec::new();
        match self {
            FormBody::UrlEncoded => {
                let text = String::from_utf8_lossy(body).replace(';', "&");
                for (name, value) in form_urlencoded::parse(text.as_bytes()) {
                    if is_override_field(&name) {
                        found.push(override_method(&value)?);
                    }
                }
            }
            FormBody::Json => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(found);
                }
                let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| Unreadable::Body)?;
                for (name, value) in value.as_object().into_iter().flatten() {
                    if is_override_field(name) {
                        found.push(override_method(value.as_str().ok_or(Unreadable::Body)?)?);
                    }
                }
            }
            FormBody::Multipart { boundary } => {
                let boundary = boundary.clone().ok_or(Unreadable::Body)?;
                for (name, value) in multipart_fields(body.clone(), boundary)? {
                    if is_override_field(&name) {
                        found.push(override_method(&value)?);
                    }
                }
            }
        }
        Ok(found)
    }
}

/// Every field of a multipart body: its name, and its value when the name
/// could be an override. The body is in memory, so the parser never waits.
fn multipart_fields(body: bytes::Bytes, boundary: String) -> Result<Vec<(String, String)>, Unreadable> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let parse = async move {
        let mut fields = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(|_| Unreadable::Body)? {
            // A part whose headers name it twice (`name="a"; name="_method"`)
            // or in RFC 2231 form (`name*=`) may be read as another field.
            let disposition = field
                .headers()
                .get(http::header::CONTENT_DISPOSITION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            let names = disposition.matches("name").count() - disposition.matches("filename").count();
            if names != 1 || disposition.contains("name*") {
                return Err(Unreadable::Body);
            }
            let name = field.name().ok_or(Unreadable::Body)?.to_owned();
            let value = match is_override_field(&name) {
                true => field.text().await.map_err(|_| Unreadable::Body)?,
                false => String::new(),
            };
            fields.push((name, value));
        }
        Ok(fields)
    };
    let mut parse = std::pin::pin!(parse);
    match parse
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(Unreadable::Body),
    }
}

#[cfg(test)]
mod tests;
