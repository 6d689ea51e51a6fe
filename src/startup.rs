//! What `serve` says when it starts: where it listens, whether the CRM
//! answers, which store it uses, how many users the policy has and how many
//! have enrolled. A few lines that tell ops at once whether it is set up
//! the way they meant.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::credentials::Credentials;
use crate::config::{RedisTopology, StoreSettings};
use crate::live::Live;
use crate::store::Store;

/// The facts, gathered once; [`fmt::Display`] writes them for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub listen: SocketAddr,
    pub names: Vec<String>,
    pub crm: String,
    /// `Err` says why the CRM could not be reached.
    pub crm_reachable: Result<Duration, String>,
    pub store: String,
    pub users: usize,
    pub disabled: usize,
    /// `None` when nobody signs in (every client type is passthrough).
    pub enrolled: Option<usize>,
    pub admin: Option<SocketAddr>,
}

impl Summary {
    pub async fn gather(live: &Live, listen: SocketAddr, store: Option<&Store>) -> Summary {
        let config = &live.config;
        let upstream = &config.upstream;
        let crm = format!("{}://{}", upstream.scheme, upstream.authority);
        let mut enrolled = None;
        if let Some(store) = store {
            let mut count = 0;
            for user in live.policy.users.keys() {
                // A store that cannot answer now shows as not enrolled; the
                // gateway's own checks (readyz, 503) report the store itself.
                if let Ok(Some(credentials)) = Credentials::load(store, user).await {
                    count += usize::from(credentials.enrolled());
                }
            }
            enrolled = Some(count);
        }
        Summary {
            listen,
            names: config.listen.hosts.names(),
            crm,
            // At most a second: the gateway does not start serving before this.
            crm_reachable: reach(
                &upstream.authority,
                upstream.connect_timeout.min(Duration::from_secs(1)),
            )
            .await,
            store: match &config.store {
                StoreSettings::Embedded(path) => format!("embedded, {}", path.display()),
                StoreSettings::Redis(redis) => match &redis.topology {
                    RedisTopology::Single(url) => format!("Redis at {}", without_password(url)),
                    RedisTopology::Sentinel { master, .. } => format!("Redis Sentinel, master {master}"),
                    RedisTopology::Cluster { nodes } => format!("Redis Cluster, {} seed nodes", nodes.len()),
                },
            },
            users: live.policy.users.len(),
            disabled: live.policy.users.values().filter(|u| u.disabled).count(),
            enrolled,
            admin: config.admin_listen,
        }
    }
}

/// Open (and close) a TCP connection to the CRM.
async fn reach(authority: &http::uri::Authority, timeout: Duration) -> Result<Duration, String> {
    let started = std::time::Instant::now();
    let port = authority.port_u16().unwrap_or(80);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((authority.host(), port))).await {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {}", humantime::format_duration(timeout))),
    }
}

fn without_password(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
        _ => url.to_owned(),
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "portcullis {} is serving", env!("CARGO_PKG_VERSION"))?;
        let names = match self.names.as_slice() {
            [] => String::new(),
            names => format!(" for {}", names.join(", ")),
        };
        writeln!(f, "  listening  https://{}{names}", self.listen)?;
        match &self.crm_reachable {
            Ok(took) => writeln!(f, "  CRM        {}: reachable ({} ms)", self.crm, took.as_millis())?,
            Err(why) => writeln!(
                f,
                "  CRM        {}: NOT reachable ({why}); requests get 502 until it is",
                self.crm
            )?,
        }
        writeln!(f, "  store      {}", self.store)?;
        let enrolled = match self.enrolled {
            Some(n) => format!(", {n} enrolled"),
            None => ", nobody signs in (every client type is passthrough)".to_owned(),
        };
        let disabled = match self.disabled {
            0 => String::new(),
            n => format!(", {n} disabled"),
        };
        write!(f, "  users      {} in the policy{enrolled}{disabled}", self.users)?;
        if let Some(admin) = self.admin {
            write!(f, "\n  admin      http://{admin}/metrics, /healthz, /readyz")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_as_a_few_lines() {
        let summary = Summary {
            listen: "0.0.0.0:443".parse().unwrap(),
            names: vec!["crm.example.com".into()],
            crm: "http://10.0.0.5:8080".into(),
            crm_reachable: Err("Connection refused (os error 111)".into()),
            store: "embedded, /var/lib/portcullis/state.redb".into(),
            users: 40,
            disabled: 2,
            enrolled: Some(31),
            admin: None,
        };
        assert_eq!(
            summary.to_string(),
            format!(
                "portcullis {} is serving\n\
                 \x20 listening  https://0.0.0.0:443 for crm.example.com\n\
                 \x20 CRM        http://10.0.0.5:8080: NOT reachable (Connection refused (os error 111)); requests get 502 until it is\n\
                 \x20 store      embedded, /var/lib/portcullis/state.redb\n\
                 \x20 users      40 in the policy, 31 enrolled, 2 disabled",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn a_redis_password_is_never_shown() {
        assert_eq!(
            without_password("rediss://:hunter2@redis.internal:6380"),
            "rediss://redis.internal:6380"
        );
        assert_eq!(without_password("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
