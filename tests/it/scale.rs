//! Scenario 19 on the Redis that large installs run: a Redis Cluster of
//! three masters, and a master with a replica watched by three sentinels,
//! all real servers on loopback. Sign-ins and revocations work across
//! gateways; a failover fails closed while there is no master and recovers
//! by itself, with the replicated sessions still valid.

use std::time::{Duration, Instant};

use portcullis::config::{RedisSettings, RedisTopology};
use portcullis::store::Store;

use crate::login::{signed_in, Office};
use crate::support::browser::Browser;
use crate::support::redis::{cli, RedisCluster, RedisSentinels, SENTINEL_MASTER};

fn settings(topology: RedisTopology) -> RedisSettings {
    RedisSettings {
        topology,
        username: None,
        password: None,
        ca_pem: None,
        prefix: "portcullis:".into(),
    }
}

fn yaml_list(urls: &[String]) -> String {
    let quoted: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_conforms_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let store = Store::redis_with(&settings(RedisTopology::Cluster { nodes: cluster.urls() }))
        .await
        .unwrap();
    crate::store::conforms(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_19_on_a_redis_cluster_a_sign_in_works_on_every_gateway_and_so_does_a_sign_out() {
    let cluster = RedisCluster::start();
    let yaml = format!("{{ cluster: {{ nodes: {} }} }}", yaml_list(&cluster.urls()));
    let office = Office::on(
        None,
        &yaml,
        &settings(RedisTopology::Cluster { nodes: cluster.urls() }),
        "",
        "",
    )
    .await;
    // The keys spread over the masters: this is a cluster at work.
    let b = office.second_gateway().await;
    let mut on_a = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(on_a.get("/contacts").await.status, 200);
    let keys: Vec<usize> = cluster
        .nodes
        .iter()
        .map(|n| cli(n.addr.port(), &["dbsize"]).trim().parse().unwrap())
        .collect();
    assert!(
        keys.iter().filter(|k| **k > 0).count() >= 2,
        "keys on one node only: {keys:?}"
    );

    let mut on_b = Browser::new(&b);
    on_b.cookies = on_a.cookies.clone();
    assert_eq!(on_b.get("/contacts").await.status, 200);
    let confirm = on_b.get("/.portcullis/logout").await;
    let csrf = Browser::csrf(&confirm);
    assert_eq!(on_b.post("/.portcullis/logout", &[("csrf", &csrf)]).await.status, 303);
    let started = Instant::now();
    while on_a.get("/contacts").await.status != 303 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "A still let the signed-out session in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_19_when_the_redis_master_dies_the_gateway_fails_closed_then_follows_the_failover() {
    let mut redis = RedisSentinels::start();
    let old_master = redis.master_port();
    let topology = RedisTopology::Sentinel {
        master: SENTINEL_MASTER.into(),
        nodes: redis.urls(),
    };
    let yaml = format!(
        "{{ sentinel: {{ master: {SENTINEL_MASTER}, nodes: {} }} }}",
        yaml_list(&redis.urls())
    );
    let office = Office::on(None, &yaml, &settings(topology), "", "").await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/contacts").await.status, 200);
    // Her session has reached the replica.
    let replica = redis.replica.addr.port();
    let started = Instant::now();
    while cli(replica, &["dbsize"]).trim().parse::<u64>().unwrap_or(0) < 3 {
        assert!(started.elapsed() < Duration::from_secs(5), "nothing replicated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    drop(redis.master.take());
    let killed = Instant::now();
    let mut refused = 0;
    let recovered = loop {
        let status = alice.get("/contacts").await.status;
        match status {
            200 if killed.elapsed() < Duration::from_secs(1) => {} // checked less than 1 s ago
            200 => break killed.elapsed(),
            503 => refused += 1,
            other => panic!("while failing over: {other} (303 would mean her session was lost)"),
        }
        assert!(killed.elapsed() < Duration::from_secs(40), "no recovery after 40 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("refused {refused} requests, served again {recovered:?} after the master died");
    assert!(
        refused > 0,
        "there was no master for a while: requests must have been refused"
    );
    assert_ne!(redis.master_port(), old_master, "the sentinels promoted the replica");
    assert_eq!(office.upstream.last().header("x-portcullis-user"), Some("alice"));
}

/// A redis-server (or sentinel) that speaks only TLS, with the test CA's
/// server certificate, and `extra` arguments.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    async fn start(pki: &crate::support::pki::TestPki, dir: tempfile::TempDir, extra: &[&str]) -> TlsRedis {
        let port = crate::support::redis::free_port();
        let child = std::process::Command::new("redis-server")
            .args(extra)
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--tls-auth-clients", "no", "--tls-replication", "yes", "--dir"])
            .arg(dir.path())
            .arg("--tls-cert-file")
            .arg(pki.path().join("server.pem"))
            .arg("--tls-key-file")
            .arg(pki.path().join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(pki.path().join("ca.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("cannot start redis-server");
        let redis = TlsRedis { child, port, _dir: dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", redis.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not listen with TLS"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        redis
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_with_an_acl_user_is_reached_only_with_its_ca_and_password() {
    let pki = crate::support::pki::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.acl"),
        "user default off\nuser portcullis on >s3cret ~* &* +@all\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("redis.password"), "s3cret\n").unwrap();
    let acl = dir.path().join("users.acl").display().to_string();
    let redis = TlsRedis::start(&pki, dir, &["--aclfile", &acl]).await;

    let url = format!("rediss://localhost:{}", redis.port);
    let ca = pki.path().join("ca.pem");
    let password_file = redis._dir.path().join("redis.password");
    let good = RedisSettings {
        topology: RedisTopology::Single(url.clone()),
        username: Some("portcullis".into()),
        password: Some(portcullis::config::codes::Secret("s3cret".into())),
        ca_pem: Some(std::fs::read(&ca).unwrap()),
        prefix: "portcullis:".into(),
    };
    let untrusted = RedisSettings {
        ca_pem: None,
        ..good.clone()
    };
    assert!(
        Store::redis_with(&untrusted).await.is_err(),
        "a server whose CA we were not given"
    );
    let wrong = RedisSettings {
        password: Some(portcullis::config::codes::Secret("guess".into())),
        ..good.clone()
    };
    assert!(Store::redis_with(&wrong).await.is_err(), "a wrong password");

    let yaml = format!(
        "{{ url: \"{url}\", username: portcullis, password_file: {}, ca_file: {} }}",
        password_file.display(),
        ca.display()
    );
    let office = Office::on(None, &yaml, &good, "", "").await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(
        alice.get("/contacts").await.status,
        200,
        "signed in with the sessions in TLS Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_over_tls_lead_to_the_master_over_tls_with_the_private_ca() {
    let pki = crate::support::pki::TestPki::new();
    // Both speak only TLS: a plain connection to the master cannot work.
    let master = TlsRedis::start(&pki, tempfile::tempdir().unwrap(), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!("sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {} 1\n", master.port),
    )
    .unwrap();
    let conf = conf.display().to_string();
    let sentinel = TlsRedis::start(&pki, dir, &[&conf, "--sentinel"]).await;

    let nodes = vec![format!("rediss://localhost:{}", sentinel.port)];
    let ca = pki.path().join("ca.pem");
    let good = RedisSettings {
        ca_pem: Some(std::fs::read(&ca).unwrap()),
        ..settings(RedisTopology::Sentinel {
            master: SENTINEL_MASTER.into(),
            nodes: nodes.clone(),
        })
    };
    let untrusted = RedisSettings {
        ca_pem: None,
        ..good.clone()
    };
    assert!(
        Store::redis_with(&untrusted).await.is_err(),
        "sentinels whose CA we were not given"
    );
    let yaml = format!(
        "{{ sentinel: {{ master: {SENTINEL_MASTER}, nodes: {} }}, ca_file: {} }}",
        yaml_list(&nodes),
        ca.display()
    );
    let office = Office::on(None, &yaml, &good, "", "").await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/contacts").await.status, 200);
}

#[tokio::test]
async fn an_accidental_flush_is_undone_by_importing_the_backup() {
    use std::os::unix::fs::PermissionsExt;
    let office = Office::start().await;
    let config = office.config_file();
    let backup = office.gateway.pki.path().join("backup.json");
    let printed = crate::login::admin_command(&[
        "store",
        "export",
        "--config",
        &config,
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(printed.contains("record(s)"), "{printed}");
    let file = std::fs::read_to_string(&backup).unwrap();
    assert!(
        !file.contains("argon2id") && !file.contains("alice"),
        "encrypted: {file}"
    );
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);

    let port = office.redis.as_ref().unwrap().addr.port();
    assert_eq!(cli(port, &["flushall"]).trim(), "OK");
    let mut locked_out = Browser::new(&office.gateway);
    let answer = crate::login::enter_password(&mut locked_out, "alice", crate::login::PASSWORD, "/").await;
    assert!(
        answer.body.contains("not right"),
        "everything was lost: {}",
        answer.body
    );

    let printed =
        crate::login::admin_command(&["store", "import", "--config", &config, "--in", backup.to_str().unwrap()]);
    assert!(printed.starts_with("Restored"), "{printed}");
    let _alice = signed_in(&office, "alice", "127.0.0.1").await;
}

#[tokio::test]
async fn guesses_count_across_gateways_and_a_restarted_gateway_keeps_everyone_signed_in() {
    let office = Office::start().await;
    let b = office.second_gateway().await;
    let alice = signed_in(&office, "alice", "127.0.0.1").await;

    // Three guesses at her password on A and two on B: five, so locked.
    for gateway in [&office.gateway, &office.gateway, &office.gateway, &b, &b] {
        let mut guesser = Browser::new(gateway);
        crate::login::enter_password(&mut guesser, "alice", "guess", "/").await;
    }
    let mut new_sign_in = Browser::new(&office.gateway);
    let answer = crate::login::enter_password(&mut new_sign_in, "alice", crate::login::PASSWORD, "/").await;
    assert!(answer.body.contains("Too many attempts"), "{}", answer.body);

    // B stops and C starts in its place: her session lives in Redis.
    drop(b);
    let c = office.second_gateway().await;
    let mut on_c = Browser::new(&c);
    on_c.cookies = alice.cookies.clone();
    assert_eq!(
        on_c.get("/contacts").await.status,
        200,
        "still signed in on the new gateway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_19_two_gateway_processes_share_one_redis() {
    use crate::support::gateway::TestClient;
    use crate::support::process::Process;
    let office = Office::start().await;
    let dir = office.gateway.pki.path();
    let yaml = std::fs::read_to_string(dir.join("portcullis.yaml")).unwrap();
    let mut processes = Vec::new();
    let mut bases = Vec::new();
    for name in ["a", "b"] {
        let port = crate::support::redis::free_port();
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, yaml.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))).unwrap();
        let args = ["serve", "--config", file.to_str().unwrap()];
        processes.push(Process::start(&args, ([127, 0, 0, 1], port).into(), dir));
        bases.push(format!("https://127.0.0.1:{port}"));
    }
    let browser = |base: &str| Browser::at(base.to_owned(), TestClient::trusting(&office.gateway.pki));

    let mut on_a = browser(&bases[0]);
    crate::login::enter_password(&mut on_a, "alice", crate::login::PASSWORD, "/").await;
    assert_eq!(crate::login::enter_code(&mut on_a, &office.code()).await.status, 303);
    assert_eq!(on_a.get("/contacts").await.status, 200);
    let mut on_b = browser(&bases[1]);
    on_b.cookies = on_a.cookies.clone();
    assert_eq!(
        on_b.get("/contacts").await.status,
        200,
        "signed in through A, served by B"
    );

    let confirm = on_b.get("/.portcullis/logout").await;
    let csrf = Browser::csrf(&confirm);
    assert_eq!(on_b.post("/.portcullis/logout", &[("csrf", &csrf)]).await.status, 303);
    let started = Instant::now();
    while on_a.get("/contacts").await.status != 303 {
        assert!(started.elapsed() < Duration::from_secs(1), "A still let the session in");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "process A refused the session {:?} after B signed it out",
        started.elapsed()
    );
    drop(processes);
}
