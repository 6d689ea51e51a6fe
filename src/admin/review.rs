//! `portcullis users review`: who has access (scenario 9). One row per user
//! in the policy: groups, where they may come from with each client type,
//! second factors, last sign-in, open sessions, status, and flags that ask
//! for a look (inactive, never signed in, a shared-looking name, signs of a
//! shared login, no second factor).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::auth::credentials::Credentials;
use crate::policy::lint::is_generic_name;
use crate::policy::Policy;
use crate::session::LastLogin;
use crate::session::{same_network, SessionService};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub user: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// By client type: where from, in words.
    pub access: Vec<(String, String)>,
    /// `totp`, `recovery codes (N)`; empty when not enrolled.
    pub second_factors: Vec<String>,
    pub last_login: Option<LastLogin>,
    pub open_sessions: usize,
    /// `active`, `disabled`, `expired`, or `offboarded` (credentials revoked).
    pub status: String,
    pub exempted: bool,
    pub flags: Vec<String>,
}

/// The review as of `now`; `inactive` is how long without a sign-in counts
/// as inactive.
pub async fn review(
    service: &SessionService,
    policy: &Policy,
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
        if let Some(c) = credentials.as_ref().filter(|c| c.totp.is_some()) {
            second_factors.push("totp".to_owned());
            second_factors.push(format!("recovery codes ({})", c.recovery.len()));
        }
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
        rows.push(Row {
            user: name.clone(),
            name: user.display_name.clone(),
            groups: user.groups.iter().map(|g| policy.group_name(*g).to_owned()).collect(),
            access: policy
                .client_type_ids()
                .map(|(id, c)| (c.name.clone(), policy.access_in_words(user, id, now)))
                .collect(),
            second_factors,
            last_login,
            open_sessions: sessions.len(),
            status: status.to_owned(),
            exempted: policy.running_exemptions(user, now).next().is_some(),
            flags,
        });
    }
    Ok(rows)
}

fn when(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn last_login_words(last: &Option<LastLogin>) -> String {
    last.as_ref().map_or("never".to_owned(), |l| {
        format!("{} from {} ({})", when(l.at), l.ip, l.client_type)
    })
}

/// One block per user, for a terminal.
pub fn text(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        let title = match &row.name {
            Some(name) => format!("{} ({name})", row.user),
            None => row.user.clone(),
        };
        out.push_str(&format!(
            "{title}: {}{}\n",
            row.status,
            if row.exempted { ", exempted" } else { "" }
        ));
        out.push_str(&format!("  groups:         {}\n", or_none(&row.groups.join(", "))));
        for (client, access) in &row.access {
            out.push_str(&format!("  {:<15} {access}\n", format!("{client}:")));
        }
        out.push_str(&format!(
            "  second factor:  {}\n",
            or_none(&row.second_factors.join(", "))
        ));
        out.push_str(&format!("  last sign-in:   {}\n", last_login_words(&row.last_login)));
        out.push_str(&format!("  open sessions:  {}\n", row.open_sessions));
        for flag in &row.flags {
            out.push_str(&format!("  ! {flag}\n"));
        }
    }
    out
}

fn or_none(text: &str) -> &str {
    if text.is_empty() {
        "none"
    } else {
        text
    }
}

/// CSV with a header line, for spreadsheets (the `csv` crate quotes).
pub fn csv(rows: &[Row]) -> String {
    let header = [
        "user",
        "name",
        "status",
        "exempted",
        "groups",
        "access",
        "second_factors",
        "last_login",
        "open_sessions",
        "flags",
    ];
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = out.write_record(header);
    for row in rows {
        let access: Vec<String> = row.access.iter().map(|(c, a)| format!("{c}: {a}")).collect();
        let fields = [
            row.user.clone(),
            row.name.clone().unwrap_or_default(),
            row.status.clone(),
            row.exempted.to_string(),
            row.groups.join("; "),
            access.join("; "),
            row.second_factors.join("; "),
            last_login_words(&row.last_login),
            row.open_sessions.to_string(),
            row.flags.join("; "),
        ];
        let _ = out.write_record(fields.iter().map(|f| not_a_formula(f)));
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A field a spreadsheet would run as a formula (a leading `=`, `+`, `-`,
/// `@`, or a tab or carriage return before one) gets a leading `'`.
fn not_a_formula(field: &str) -> String {
    match field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{field}"),
        false => field.to_owned(),
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
            exempted: false,
            groups: vec!["sales".into(), "finance".into()],
            access: Vec::new(),
            second_factors: Vec::new(),
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
