//! `store`, compiled: the embedded file, or Redis (one server, Sentinel
//! or Cluster) with its credentials and CA read when the config loads.

use std::path::Path;

use super::raw::{self, RawConfig};
use super::{codes, tls, Found, RedisSettings, RedisTopology, StoreSettings};

pub(super) fn compile(raw: &RawConfig, base: &Path, found: &mut Found) -> StoreSettings {
    let (url, sentinel, cluster, username, password_file, ca_file, prefix) = match &raw.store {
        raw::RawStore::Embedded { path } => return StoreSettings::Embedded(base.join(path)),
        raw::RawStore::Redis {
            url,
            sentinel,
            cluster,
            username,
            password_file,
            ca_file,
            prefix,
        } => (url, sentinel, cluster, username, password_file, ca_file, prefix),
    };
    let mut urls = |path: &str, list: &[String]| {
        for (i, url) in list.iter().enumerate() {
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                found.add(
                    &format!("{path}[{i}]"),
                    format!("{url:?} must start with redis:// or rediss://"),
                );
            }
        }
        if list.is_empty() {
            found.add(path, "name at least one node");
        }
        list.to_vec()
    };
    let topology = match (url, sentinel, cluster) {
        (Some(url), None, None) => RedisTopology::Single(urls("store.redis.url", std::slice::from_ref(url)).remove(0)),
        (None, Some(s), None) => {
            let nodes = urls("store.redis.sentinel.nodes", &s.nodes);
            let tls = nodes.iter().filter(|n| n.starts_with("rediss://")).count();
            if tls != 0 && tls != nodes.len() {
                found.add(
                    "store.redis.sentinel.nodes",
                    "use rediss:// for every sentinel or for none (the master is reached over TLS when the sentinels are)",
                );
            }
            RedisTopology::Sentinel {
                master: s.master.clone(),
                nodes,
            }
        }
        (None, None, Some(c)) => RedisTopology::Cluster {
            nodes: urls("store.redis.cluster.nodes", &c.nodes),
        },
        _ => {
            found.add("store.redis", "set exactly one of url, sentinel and cluster");
            RedisTopology::Single(String::new())
        }
    };
    let password = password_file.as_ref().and_then(|file| {
        found.check(
            "store.redis.password_file",
            std::fs::read_to_string(base.join(file))
                .map(|p| codes::Secret(p.trim().to_owned()))
                .map_err(|e| format!("cannot read {}: {e}", base.join(file).display())),
        )
    });
    let ca_pem = ca_file.as_ref().and_then(|file| {
        let path = base.join(file);
        // Checked as certificates here; handed to Redis's TLS as PEM.
        found.check("store.redis.ca_file", tls::load_ca_file(&path))?;
        found.check(
            "store.redis.ca_file",
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display())),
        )
    });
    StoreSettings::Redis(RedisSettings {
        topology,
        username: username.clone(),
        password,
        ca_pem,
        prefix: prefix.clone(),
    })
}
