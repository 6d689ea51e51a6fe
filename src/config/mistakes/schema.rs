//! Which settings each section of the file takes, read from the raw
//! structs themselves (serde hands their field names to a deserializer),
//! so this list cannot fall behind them.

use std::sync::OnceLock;

use serde::de::{self, Deserialize, Visitor};

use crate::config::raw;

/// Section paths as the file nests them: `*` for any name in a map,
/// `-` for any item of a list.
fn sections() -> &'static [(&'static str, &'static [&'static str])] {
    static SECTIONS: OnceLock<Vec<(&'static str, &'static [&'static str])>> = OnceLock::new();
    SECTIONS.get_or_init(|| {
        vec![
            ("", fields_of::<raw::RawConfig>()),
            ("listen", fields_of::<raw::RawListen>()),
            ("listen.tls", fields_of::<raw::RawTls>()),
            ("listen.tls.sni.*", fields_of::<raw::RawCertPair>()),
            ("upstream", fields_of::<raw::RawUpstream>()),
            ("limits", fields_of::<raw::RawLimits>()),
            ("store", fields_of::<raw::RawStore>()),
            ("sessions", fields_of::<raw::RawSessions>()),
            ("auth", fields_of::<raw::RawAuth>()),
            ("admin", fields_of::<raw::RawAdmin>()),
            ("codes", fields_of::<raw::RawCodes>()),
            ("codes.email", fields_of::<raw::RawEmail>()),
            ("codes.email.smtp", fields_of::<raw::RawSmtp>()),
            ("codes.sms", fields_of::<raw::RawSms>()),
            ("codes.sms.webhook", fields_of::<raw::RawWebhook>()),
            ("codes.sms.account", fields_of::<raw::RawSmsAccount>()),
            ("identity_headers", fields_of::<raw::RawIdentityHeaders>()),
            ("client_types.*", fields_of::<raw::RawClientType>()),
            ("client_types.*.match", fields_of::<raw::RawMatch>()),
            ("client_types.*.match.header", fields_of::<raw::RawHeaderMatch>()),
            ("groups.*", fields_of::<raw::RawGroup>()),
            ("users.*", fields_of::<raw::RawUser>()),
            ("exemptions.-", fields_of::<raw::RawExemption>()),
            ("routes.-", fields_of::<raw::RawRoute>()),
        ]
    })
}

/// The section a path in the file is, if it is one.
pub(super) fn section_of(path: &[String]) -> Option<&'static str> {
    sections().iter().map(|(name, _)| *name).find(|name| {
        let parts: Vec<&str> = if name.is_empty() {
            vec![]
        } else {
            name.split('.').collect()
        };
        parts.len() == path.len() && parts.iter().zip(path).all(|(want, got)| *want == "*" || want == got)
    })
}

/// May a setting named `key` sit at `path`? Any name may in a map (`groups`).
pub(super) fn fits(path: &[String], key: &str) -> bool {
    let mut each = path.to_vec();
    each.push("*".into());
    section_of(&each).is_some() || section_of(path).is_some_and(|s| has(s, key))
}

pub(super) fn fields(section: &str) -> &'static [&'static str] {
    sections()
        .iter()
        .find(|(name, _)| *name == section)
        .map_or(&[], |(_, fields)| fields)
}

pub(super) fn has(section: &str, key: &str) -> bool {
    fields(section).contains(&key)
}

/// "a group", for the entries of the map `groups`.
pub(super) fn entry_kind(map: &str) -> &'static str {
    match map {
        "groups" => "a group",
        "users" => "a user",
        "client_types" => "a client type",
        "sni" => "a certificate",
        _ => "an entry",
    }
}

/// The field names serde's derive gives `deserialize_struct` (or the
/// variant names it gives `deserialize_enum`).
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Peek) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// A deserializer that answers nothing and records what it was asked for.
struct Peek;

#[derive(Debug)]
struct Found(&'static [&'static str]);

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Found(&[])
    }
}

impl<'de> de::Deserializer<'de> for Peek {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        Err(Found(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        Err(Found(fields))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        Err(Found(variants))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map identifier ignored_any
    }
}
