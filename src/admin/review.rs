//! `portcullis users review`: who has access (scenario 9). One row per user
//! in the policy: groups, where they may come from with each client type,
//! second factors, last sign-in, open sessions, status, and flags that ask
//! for a look (inactive, never signed in, a shared-looking name, signs of a
//! shared login, no second factor).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::tables;

pub use super::review_csv::csv;
use crate::auth::credentials::Credentials;
use crate::policy::lint::is_generic_name;
use crate::policy::{PasswordFrom, Policy};
use crate::session::LastLogin;
use crate::session::{same_network, SessionService};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub user: String,
    pub name: Option<String>,
    /// `active`, `disabled`, `expired`, or `offboarded` (credentials revoked).
    pub status: String,
    /// GET and HEAD only (their own setting or a group's).
    pub read_only: bool,
    /// When access ends (RFC 3339), and the whole days left until then.
    pub expires: Option<String>,
    pub expires_in_days: Option<u64>,
    pub groups: Vec<String>,
    /// By client type: where from, in words.
    pub access: Vec<ClientAccess>,
    /// The second factors the policy asks this user for (`totp`, `email`, `sms`).
    pub asked_for: Vec<String>,
    /// Whether they have set a password (an invite used).
    pub enrolled: bool,
    /// What they have set up: `totp`, `passkeys (N)`, `recovery codes (N)`;
    /// empty when not enrolled.
    pub second_factors: Vec<String>,
    /// Their passkeys and security keys.
    pub passkeys: Vec<PasskeyRow>,
    /// A passkey alone signs them in.
    pub passwordless: bool,
    /// The company identity providers that can sign them in instead of
    /// the password (by label), and those whose own second factor counts
    /// for ours (`trust_mfa`).
    pub company_sign_in: Vec<String>,
    pub company_second_factor: Vec<String>,
    /// May sign in with a password (`password_sign_in`).
    pub password_sign_in: bool,
    /// Where that password is checked: `local` or `directory`.
    pub password_from: String,
    /// Not in the YAML: the identity provider (its label) that vouched
    /// for them and whose groups gave theirs.
    pub provisioned_by: Option<String>,
    /// Exemptions running now.
    pub exemptions: Vec<RunningExemption>,
    pub exempted: bool,
    pub last_login: Option<SignIn>,
    pub open_sessions: usize,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAccess {
    pub client_type: String,
    /// false for a passthrough client type: nobody signs in there.
    pub signs_in: bool,
    pub access: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningExemption {
    pub until: String,
    pub reason: String,
}

/// One passkey: its name, when it was added and last used, and whether
/// it syncs to other devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRow {
    pub name: String,
    pub created: String,
    pub last_used: Option<String>,
    pub synced: bool,
}

/// The last sign-in, with its time as the table writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub at: String,
    pub ip: String,
    pub client_type: String,
}

/// The review as of `now`; `inactive` is how long without a sign-in counts
/// as inactive.
pub async fn review(
    service: &SessionService,
    policy: &Policy,
    providers: &[crate::config::providers::ProviderSettings],
    now: SystemTime,
    inactive: Duration,
) -> Result<Vec<Row>, StoreError> {
    let unavailable = |e: crate::auth::credentials::CredentialError| StoreError::Unavailable(e.to_string());
    let mut rows = Vec::new();
    for (name, user) in &policy.users {
        let credentials = Credentials::load(&service.store, name).await.map_err(unavailable)?;
        let revoked = Credentials::revoked_at(&service.store, name)
            .await
            .map_err(unavailable)?;
        let last_login = LastLogin::load(&service.store, name).await?;
        let sessions = service.sessions().list(name, now).await?;

        let mut second_factors = Vec::new();
        let no_keys = Vec::new();
        let keys = credentials.as_ref().map_or(&no_keys, |c| &c.passkeys);
        if let Some(c) = credentials
            .as_ref()
            .filter(|c| c.totp.is_some() || !c.passkeys.is_empty())
        {
            if c.totp.is_some() {
                second_factors.push("totp".to_owned());
            }
            if !keys.is_empty() {
                second_factors.push(format!("passkeys ({})", keys.len()));
            }
            second_factors.push(format!("recovery codes ({})", c.recovery.len()));
        }
        let passkeys = (keys.iter())
            .map(|k| PasskeyRow {
                name: k.name.clone(),
                created: tables::when(k.created),
                last_used: k.last_used.map(tables::when),
                synced: k.synced(),
            })
            .collect();
        let status = if user.disabled {
            "disabled"
        } else if user.expires.is_some_and(|at| at <= now) {
            "expired"
        } else if credentials.is_none() && revoked.is_some() {
            "offboarded"
        } else {
            "active"
        };
        let mut flags = Vec::new();
        match &last_login {
            None => flags.push("never signed in".to_owned()),
            Some(last) if UNIX_EPOCH + Duration::from_secs(last.at) + inactive < now => {
                flags.push(format!("inactive for over {} days", inactive.as_secs() / 86_400))
            }
            Some(_) => {}
        }
        if is_generic_name(name) {
            flags.push("generic username".to_owned());
        }
        let shared = sessions
            .iter()
            .enumerate()
            .any(|(i, (_, a))| sessions[i + 1..].iter().any(|(_, b)| !same_network(a.ip, b.ip)));
        if shared {
            flags.push("possible sharing: live sessions from different networks".to_owned());
        }
        if second_factors.is_empty() && status == "active" {
            flags.push("no second factor enrolled".to_owned());
        }
        let exemptions: Vec<RunningExemption> = policy
            .running_exemptions(user, now)
            .map(|e| RunningExemption {
                until: humantime::format_rfc3339_seconds(e.until).to_string(),
                reason: e.reason.clone(),
            })
            .collect();
        // A provisioned user signs in with the provider that vouched for them only.
        let by = user.provisioned_by.as_deref();
        let signing_in = (providers.iter()).filter(|p| by.is_none_or(|by| p.id == by));
        rows.push(Row {
            user: name.clone(),
            name: user.display_name.clone(),
            status: status.to_owned(),
            read_only: user.is_read_only(),
            expires: user.expires.map(|at| humantime::format_rfc3339_seconds(at).to_string()),
            expires_in_days: user
                .expires
                .and_then(|at| at.duration_since(now).ok())
                .map(|left| left.as_secs() / 86_400),
            groups: user.groups.iter().map(|g| policy.group_name(*g).to_owned()).collect(),
            access: policy
                .client_type_ids()
                .map(|(id, c)| ClientAccess {
                    client_type: c.name.clone(),
                    signs_in: policy.signs_in(id),
                    access: policy.access_in_words(user, id, now),
                })
                .collect(),
            asked_for: user.second_factors.iter().map(|f| f.name().to_owned()).collect(),
            enrolled: credentials.as_ref().is_some_and(Credentials::enrolled),
            second_factors,
            passkeys,
            passwordless: user.passkeys.passwordless,
            company_sign_in: signing_in.clone().map(|p| p.label.clone()).collect(),
            password_sign_in: user.password_sign_in,
            password_from: match user.password_from {
                PasswordFrom::Local => "local".to_owned(),
                PasswordFrom::Directory => "directory".to_owned(),
            },
            provisioned_by: signing_in
                .clone()
                .find(|_| user.provisioned_by.is_some())
                .map(|p| p.label.clone()),
            company_second_factor: (signing_in.clone())
                .filter(|p| !p.trust_mfa.is_empty())
                .map(|p| p.label.clone())
                .collect(),
            exempted: !exemptions.is_empty(),
            exemptions,
            last_login: last_login.map(|l| SignIn {
                at: tables::when(l.at),
                ip: l.ip.to_string(),
                client_type: l.client_type,
            }),
            open_sessions: sessions.len(),
            flags,
        });
    }
    Ok(rows)
}

/// How the user signs in, after their password, in a few words: the
/// factors they can use now, or that they have not enrolled yet.
fn sign_in_words(row: &Row) -> String {
    if row.status != "active" {
        return "-".to_owned();
    }
    let company = row.company_sign_in.join(" or ");
    if !row.enrolled {
        return match row.company_second_factor.is_empty() {
            true => "not enrolled".to_owned(),
            false => format!("{} alone (not enrolled here)", row.company_second_factor.join(" or ")),
        };
    }
    let has_totp = row.second_factors.iter().any(|f| f == "totp");
    let usable: Vec<&str> = row
        .asked_for
        .iter()
        .map(String::as_str)
        .filter(|f| *f != "totp" || has_totp)
        .filter(|f| *f != "passkey" || !row.passkeys.is_empty())
        .collect();
    let password = match row.password_from.as_str() {
        "directory" => "directory password",
        _ => "password",
    };
    match usable.as_slice() {
        [] => "no factor set up".to_owned(),
        _ if row.passwordless && !row.passkeys.is_empty() => {
            format!("passkey alone, or {password} then {}", usable.join(" or "))
        }
        _ if company.is_empty() && !row.password_sign_in => "no way: passwords off and no provider".to_owned(),
        factors if company.is_empty() && password != "password" => format!("{password}; then {}", factors.join(" or ")),
        factors if company.is_empty() => factors.join(" or "),
        factors if !row.password_sign_in => format!("{company}; then {}", factors.join(" or ")),
        factors => format!("{company}, or {password}; then {}", factors.join(" or ")),
    }
}

/// Where the user may sign in from, without the exemptions (NOTES has them).
fn access_words(row: &Row, one_client_type: bool) -> String {
    let cells: Vec<String> = row
        .access
        .iter()
        .filter(|a| a.signs_in)
        .map(|a| {
            let own = a.access.split(" + ").next().unwrap_or_default();
            let own = own.strip_prefix("networks: ").unwrap_or(own);
            if one_client_type {
                own.to_owned()
            } else {
                format!("{}: {own}", a.client_type)
            }
        })
        .collect();
    cells.join("; ")
}

/// What asks for a look, shortest words first: read-only, expiry, exemptions, flags.
fn notes(row: &Row) -> String {
    let mut notes = Vec::new();
    if let Some(by) = &row.provisioned_by {
        notes.push(format!("provisioned by {by}"));
    }
    if row.read_only {
        notes.push("read-only".to_owned());
    }
    if let (Some(days), "active") = (row.expires_in_days, row.status.as_str()) {
        notes.push(format!("expires in {days}d"));
    }
    for exemption in &row.exemptions {
        notes.push(format!("exempt to {}", &exemption.until[..10]));
    }
    // "never signed in" and "no second factor" are in their own columns already.
    let shown_elsewhere = ["never signed in", "no second factor enrolled"];
    notes.extend(
        row.flags
            .iter()
            .filter(|f| !shown_elsewhere.contains(&f.as_str()))
            .map(|f| short_flag(f)),
    );
    notes.join(", ")
}

/// A flag in the table's few words (json and csv keep the whole sentence).
fn short_flag(flag: &str) -> String {
    if flag.starts_with("possible sharing") {
        "shared? 2+ networks".to_owned()
    } else if let Some(days) = flag.strip_prefix("inactive for over ") {
        format!("inactive {}+", days.replace(" days", "d"))
    } else {
        match flag {
            "generic username" => "generic name".to_owned(),
            other => other.to_owned(),
        }
    }
}

const TABLE: [&str; 8] = [
    "USER",
    "STATUS",
    "GROUPS",
    "ACCESS",
    "SIGN-IN",
    "LAST SIGN-IN",
    "SESS",
    "NOTES",
];

/// One row per user, for a terminal of 120 columns; the access of
/// passthrough client types (the same for everyone) once, below.
pub fn text(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return "no users in the policy\n".to_owned();
    };
    let signing: Vec<&str> = first
        .access
        .iter()
        .filter(|a| a.signs_in)
        .map(|a| a.client_type.as_str())
        .collect();
    let one_client_type = signing.len() == 1;
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.user.clone(),
                row.status.clone(),
                or_none(&row.groups.join(", ")).to_owned(),
                access_words(row, one_client_type),
                sign_in_words(row),
                row.last_login
                    .as_ref()
                    .map_or("never".to_owned(), |l| l.at[..10].to_owned()),
                row.open_sessions.to_string(),
                notes(row),
            ]
        })
        .collect();
    let mut out = tables::aligned(&TABLE, &lines);
    out.push('\n');
    if one_client_type {
        out.push_str(&format!(
            "ACCESS: the networks each user may sign in from with {}.\n",
            signing[0]
        ));
    }
    for passthrough in first.access.iter().filter(|a| !a.signs_in) {
        out.push_str(&format!(
            "{}: {} (the same for everyone)\n",
            passthrough.client_type, passthrough.access
        ));
    }
    let active = rows.iter().filter(|r| r.status == "active").count();
    out.push_str(&format!(
        "{} users, {active} active. Every detail: --format json or --format csv.\n",
        rows.len()
    ));
    out
}

fn or_none(text: &str) -> &str {
    if text.is_empty() {
        "none"
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> Row {
        Row {
            user: "alice".into(),
            name: Some(name.into()),
            status: "active".into(),
            read_only: false,
            expires: None,
            expires_in_days: None,
            exempted: false,
            exemptions: Vec::new(),
            groups: vec!["sales".into(), "finance".into()],
            access: Vec::new(),
            asked_for: vec!["totp".into()],
            enrolled: false,
            second_factors: Vec::new(),
            passkeys: Vec::new(),
            passwordless: false,
            company_sign_in: Vec::new(),
            company_second_factor: Vec::new(),
            password_sign_in: true,
            password_from: "local".into(),
            provisioned_by: None,
            last_login: None,
            open_sessions: 0,
            flags: Vec::new(),
        }
    }

    /// The second line's second field, as a spreadsheet would read it.
    fn name_cell(name: &str) -> String {
        let text = csv(&[row(name)]);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        reader.records().next().unwrap().unwrap()[1].to_owned()
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(name_cell("Alice Ng"), "Alice Ng");
        assert_eq!(name_cell("Ng, Alice"), "Ng, Alice");
        assert_eq!(name_cell("say \"hi\"\nbye"), "say \"hi\"\nbye");
        for formula in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(name_cell(formula), format!("'{formula}"), "{formula:?}");
        }
        assert!(csv(&[row("x")]).starts_with("user,name,status,"));
        assert!(csv(&[row("x")]).contains(",sales; finance,"));
    }
}
