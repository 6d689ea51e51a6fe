//! Checking a password with the company directory (LDAP, Active
//! Directory): connect over TLS (LDAPS or StartTLS), bind as the service
//! account, find the one entry the user's name names, then bind as that
//! entry with the password typed. A fresh connection per sign-in, all of
//! it within `auth.directory.timeout`.
//!
//! A directory that does not answer, or refuses the service account, is
//! [`Down`]: the sign-in fails closed and the user is told so. An empty
//! password is wrong before any bind: to LDAP it would be an
//! unauthenticated bind, which succeeds.

use std::sync::Arc;

use ldap3::{ldap_escape, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use crate::auth::Password;
use crate::config::directory::DirectorySettings;

/// What the directory said of the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Right,
    /// Why, for the audit log (never shown: every failure looks the same).
    Wrong(&'static str),
}

/// The directory could not say: nobody signs in with its passwords now.
#[derive(Debug, thiserror::Error)]
#[error("the directory at {url}: {detail}")]
pub struct Down {
    pub url: String,
    pub detail: String,
}

/// LDAP result codes that mean "not this password" (RFC 4511): invalid
/// credentials (AD adds why: expired, disabled, locked), and
/// inappropriate authentication.
const REFUSED: [u32; 2] = [49, 48];

pub async fn check(settings: &DirectorySettings, user: &str, password: &Password) -> Result<Verdict, Down> {
    if password.expose().is_empty() {
        return Ok(Verdict::Wrong("empty password"));
    }
    let down = |detail: String| Down {
        url: settings.url.clone(),
        detail,
    };
    match tokio::time::timeout(settings.timeout, bind_as(settings, user, password)).await {
        Ok(answer) => answer.map_err(down),
        Err(_) => Err(down(format!("no answer within {:?}", settings.timeout))),
    }
}

async fn bind_as(settings: &DirectorySettings, user: &str, password: &Password) -> Result<Verdict, String> {
    let tls = crate::proxy::forward::client_tls(settings.ca_certs.as_deref()).map_err(|e| e.to_string())?;
    let connection = LdapConnSettings::new()
        .set_conn_timeout(settings.timeout)
        .set_starttls(settings.starttls)
        .set_config(Arc::new(tls));
    let (conn, mut ldap) = LdapConnAsync::with_settings(connection, &settings.url)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    ldap3::drive!(conn);
    let service = ldap
        .simple_bind(&settings.bind_dn, &settings.bind_password.0)
        .await
        .map_err(|e| format!("binding as the service account: {e}"))?;
    if service.rc != 0 {
        return Err(format!(
            "the service account {} was refused ({}: {}); check auth.directory.bind_dn and its password",
            settings.bind_dn, service.rc, service.text
        ));
    }
    let filter = settings.user_filter.replace("{user}", &ldap_escape(user));
    let ldap3::SearchResult(entries, done) = ldap
        .search(&settings.base_dn, Scope::Subtree, &filter, vec!["1.1"])
        .await
        .map_err(|e| format!("searching {}: {e}", settings.base_dn))?;
    if done.rc != 0 {
        return Err(format!(
            "searching {} for {filter}: {} {}",
            settings.base_dn, done.rc, done.text
        ));
    }
    let dn = match entries.as_slice() {
        [] => return Ok(Verdict::Wrong("no such user in the directory")),
        [one] => SearchEntry::construct(one.clone()).dn,
        _ => return Ok(Verdict::Wrong("more than one directory entry matches the name")),
    };
    let bound = ldap
        .simple_bind(&dn, password.expose())
        .await
        .map_err(|e| format!("binding as the user: {e}"))?;
    let _ = ldap.unbind().await;
    match bound.rc {
        0 => Ok(Verdict::Right),
        rc if REFUSED.contains(&rc) => Ok(Verdict::Wrong("wrong directory password")),
        rc => Err(format!("binding as the user: {rc} {}", bound.text)),
    }
}
