//! The admin commands (user, users, sessions, store): each goes to the
//! store, or through the running gateway when it holds the embedded file.

use std::path::PathBuf;

use anyhow::Context;
use portcullis::admin;
use portcullis::live::Live;
use portcullis::session::SessionService;

use super::args::{LinkArgs, ListFormat};

/// Send an admin command where the store is: through the running gateway's
/// admin socket when it holds the embedded file, else to the store itself.
pub(crate) async fn admin_command(live: &Live, command: admin::Command, by: &str) -> anyhow::Result<admin::Outcome> {
    let request = admin::Request {
        by: by.to_owned(),
        command,
    };
    let request = &request;
    if let portcullis::config::StoreSettings::Embedded(file) = &live.config.store {
        match admin::socket::call(&admin::socket::path_for(file), request).await {
            Err(admin::socket::CallError::NotRunning(socket)) => {
                // No gateway: open the file ourselves (fails if one holds it).
                let sessions = open_store(live).await.with_context(|| {
                    format!(
                        "no gateway answers on {} and the store cannot be opened directly",
                        socket.display()
                    )
                })?;
                return run_admin(&sessions, live, request).await;
            }
            answered => return Ok(answered?),
        }
    }
    let sessions = open_store(live).await?;
    run_admin(&sessions, live, request).await
}

/// The store itself, as a gateway would open it (the command line has no
/// gateway clock to follow: it answers in the present).
async fn open_store(live: &Live) -> anyhow::Result<SessionService> {
    use portcullis::config::StoreSettings;
    let clock = portcullis::clock::Clock::system();
    let store = match &live.config.store {
        StoreSettings::Embedded(path) => portcullis::store::Store::embedded(path, clock)?,
        StoreSettings::Redis(settings) => portcullis::store::Store::redis_with(settings).await?,
    };
    Ok(SessionService::new(std::sync::Arc::new(store), live.config.sessions))
}

async fn run_admin(sessions: &SessionService, live: &Live, request: &admin::Request) -> anyhow::Result<admin::Outcome> {
    Ok(admin::execute(
        sessions,
        &live.policy,
        &live.config.auth.providers,
        request,
        portcullis::clock::now(),
    )
    .await?)
}

/// What an admin command changed, or why it could not.
fn ended(outcome: admin::Outcome) -> anyhow::Result<Vec<String>> {
    match outcome {
        admin::Outcome::Done { ended, .. } => Ok(ended),
        admin::Outcome::Refused { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
}

/// Listings name no operator: they change nothing.
const READ_ONLY: &str = "a listing";

pub(crate) async fn list_sessions(live: &Live, user: Option<String>, format: ListFormat) -> anyhow::Result<()> {
    let outcome = admin_command(live, admin::Command::ListSessions { user }, READ_ONLY).await?;
    let admin::Outcome::Sessions { sessions } = outcome else {
        anyhow::bail!("unexpected answer: {outcome:?}");
    };
    let lines = admin::session_lines(&sessions);
    match format {
        ListFormat::Table => println!("{}", admin::sessions_table(&lines)),
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&lines)?),
        ListFormat::Csv => print!("{}", admin::sessions_csv(&lines)),
    }
    Ok(())
}

/// `live` with the users identity providers provisioned beside the
/// YAML's, read where the store is; `live` itself where no provider admits
/// anyone not in the YAML.
pub(crate) async fn with_provisioned(live: Live) -> anyhow::Result<Live> {
    if !portcullis::config::providers::admit_unlisted(&live.config.auth.providers) {
        return Ok(live);
    }
    let users = match admin_command(&live, admin::Command::Provisioned, READ_ONLY).await? {
        admin::Outcome::Provisioned { users } => users,
        other => anyhow::bail!("unexpected answer: {other:?}"),
    };
    let path = live.config.source.clone().context("the config has no file")?;
    Live::load_with(&path, &users).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}

pub(crate) async fn review(live: &Live, format: ListFormat, inactive_days: u64) -> anyhow::Result<()> {
    let outcome = admin_command(live, admin::Command::Review { inactive_days }, READ_ONLY).await?;
    let admin::Outcome::Review { rows } = outcome else {
        anyhow::bail!("unexpected answer: {outcome:?}");
    };
    match format {
        ListFormat::Table => print!("{}", admin::review::text(&rows)),
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ListFormat::Csv => print!("{}", admin::review::csv(&rows)),
    }
    Ok(())
}

pub(crate) async fn export(live: &Live, out: PathBuf, by: &str) -> anyhow::Result<()> {
    let key = portcullis::auth::credentials::SecretsKey::load(&live.config.auth.secrets_key)?;
    let admin::Outcome::Records { records } = admin_command(live, admin::Command::Export, by).await? else {
        anyhow::bail!("the gateway did not answer with records");
    };
    let sealed = admin::backup::seal(&key, &records)?;
    portcullis::auth::write_private(&out, &String::from_utf8_lossy(&sealed))?;
    tracing::info!(target: "audit", event = "admin.store_exported", records = records.len(), by);
    println!(
        "Wrote {} record(s) to {} (encrypted with the secrets key).",
        records.len(),
        out.display()
    );
    Ok(())
}

pub(crate) async fn import(live: &Live, input: PathBuf, by: &str) -> anyhow::Result<()> {
    let key = portcullis::auth::credentials::SecretsKey::load(&live.config.auth.secrets_key)?;
    let file = std::fs::read(&input).with_context(|| format!("cannot read {}", input.display()))?;
    let records = admin::backup::open(&key, &file).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    match admin_command(live, admin::Command::Import { records }, by).await? {
        admin::Outcome::Imported { records } => println!("Restored {records} record(s)."),
        admin::Outcome::Refused { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
    Ok(())
}

pub(crate) async fn end_sessions(live: &Live, command: admin::Command, by: &str) -> anyhow::Result<()> {
    let ended = ended(admin_command(live, command, by).await?)?;
    println!("Ended {} session(s).", ended.len());
    Ok(())
}

pub(crate) async fn disable(user: &str, live: &Live, by: &str) -> anyhow::Result<()> {
    let ended = ended(admin_command(live, admin::Command::Disable { user: user.to_owned() }, by).await?)?;
    println!(
        "{user} is offboarded: credentials dropped, {} session(s) ended, earlier invite links void.",
        ended.len()
    );
    if live.policy.users.get(user).is_some_and(|u| !u.disabled) {
        println!("To keep it so in the policy too, set users.{user}.disabled: true (or remove {user}).");
    }
    Ok(())
}

pub(crate) async fn reset(user: &str, live: &Live, link: &LinkArgs, by: &str) -> anyhow::Result<()> {
    check_invitable(user, live)?;
    let ended = ended(admin_command(live, admin::Command::Reset { user: user.to_owned() }, by).await?)?;
    println!("{user}'s credentials are dropped and {} session(s) ended.", ended.len());
    invite(user, live, link, by)
}

/// Only users the policy knows and has not disabled can be invited.
fn check_invitable(user: &str, live: &Live) -> anyhow::Result<()> {
    match live.policy.users.get(user) {
        None => anyhow::bail!("{user:?} is not in the policy's users; add them there first"),
        Some(account) if account.disabled => anyhow::bail!("{user:?} is disabled in the policy"),
        Some(_) => Ok(()),
    }
}

pub(crate) fn invite(user: &str, live: &Live, link: &LinkArgs, by: &str) -> anyhow::Result<()> {
    let valid: std::time::Duration = link.valid.into();
    check_invitable(user, live)?;
    let key = portcullis::auth::credentials::SecretsKey::load(&live.config.auth.secrets_key)?;
    let now = portcullis::clock::now();
    let token = portcullis::auth::invite::issue(&key, user, now, valid);
    let base = match &link.url {
        Some(url) => url.clone(),
        None => public_url(live),
    };
    let until = humantime::format_rfc3339_seconds(now + valid);
    tracing::info!(target: "audit", event = "invite.issued", user, valid_until = %until, by);
    println!("Send this link to {user}. It works once, until {until}:");
    println!();
    println!("  {}/.portcullis/enrol?token={token}", base.trim_end_matches('/'));
    Ok(())
}

/// The address users open: the first name the gateway serves (listen.hosts,
/// else its certificate's), else its listen address with a warning, since
/// users may not reach that.
fn public_url(live: &Live) -> String {
    let listen = &live.config.listen;
    let port = match listen.address.port() {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let name = listen
        .hosts
        .names()
        .into_iter()
        .find(|n| !n.starts_with('*') && n.parse::<std::net::IpAddr>().is_err() && n != "localhost");
    if let Some(name) = name {
        return format!("https://{name}{port}");
    }
    let ip = listen.address.ip();
    let host = if ip.is_unspecified() {
        "localhost".to_owned()
    } else {
        ip.to_string()
    };
    let url = format!("https://{host}{port}");
    eprintln!(
        "warning: the gateway serves no host name (listen.hosts, or a name in its certificate), so the link uses {url}, \
         which users may not reach. Give --url with the address users open, like https://crm.example.com."
    );
    url
}
