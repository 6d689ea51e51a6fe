//! `users review --format csv`: every field of the review's JSON, one row
//! a user, for spreadsheets.

use super::review::Row;
use super::tables;

/// CSV with a header line, for spreadsheets: every field of the JSON.
pub fn csv(rows: &[Row]) -> String {
    let header = [
        "user",
        "name",
        "status",
        "read_only",
        "expires",
        "expires_in_days",
        "exempted",
        "exemptions",
        "groups",
        "access",
        "asked_for",
        "enrolled",
        "second_factors",
        "passkeys",
        "passwordless",
        "last_login",
        "open_sessions",
        "flags",
        "company_sign_in",
        "company_second_factor",
        "password_sign_in",
        "password_from",
        "provisioned_by",
    ];
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let access: Vec<String> = row
                .access
                .iter()
                .map(|a| format!("{}: {}", a.client_type, a.access))
                .collect();
            let exemptions: Vec<String> = row
                .exemptions
                .iter()
                .map(|e| format!("until {} ({})", e.until, e.reason))
                .collect();
            vec![
                row.user.clone(),
                row.name.clone().unwrap_or_default(),
                row.status.clone(),
                row.read_only.to_string(),
                row.expires.clone().unwrap_or_default(),
                row.expires_in_days.map(|d| d.to_string()).unwrap_or_default(),
                row.exempted.to_string(),
                exemptions.join("; "),
                row.groups.join("; "),
                access.join("; "),
                row.asked_for.join("; "),
                row.enrolled.to_string(),
                row.second_factors.join("; "),
                (row.passkeys.iter())
                    .map(|k| format!("{}{}", k.name, if k.synced { " (synced)" } else { "" }))
                    .collect::<Vec<_>>()
                    .join("; "),
                row.passwordless.to_string(),
                row.last_login.as_ref().map_or("never".to_owned(), |l| {
                    format!("{} from {} ({})", l.at, l.ip, l.client_type)
                }),
                row.open_sessions.to_string(),
                row.flags.join("; "),
                row.company_sign_in.join("; "),
                row.company_second_factor.join("; "),
                row.password_sign_in.to_string(),
                row.password_from.clone(),
                row.provisioned_by.clone().unwrap_or_default(),
            ]
        })
        .collect();
    tables::csv(&header, &lines)
}
