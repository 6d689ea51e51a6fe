//! A private `redis-server` for one test binary, on a free loopback port,
//! stopped when dropped. Never the machine's own Redis on 6379.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    /// Start one, or fail the test with a message that says how to get one.
    pub fn start() -> RedisServer {
        RedisServer::start_on(free_port())
    }

    /// Start one on a given port (to bring a stopped one back).
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::start_with(port, &[])
    }

    /// Start one on `port` with extra `redis-server` arguments.
    pub fn start_with(port: u16, extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let extra: Vec<String> = extra.iter().map(|e| e.to_string()).collect();
        let child = RedisServer::spawn(port, &extra, dir.path());
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = RedisServer {
            addr,
            child,
            _dir: dir,
            extra,
        };
        server.wait_for_ping();
        server
    }

    /// Stop and start again on the same port, keeping what it holds (saved
    /// to disk first), as an ops restart does.
    pub fn restart_keeping_data(&mut self) {
        assert!(cli(self.addr.port(), &["SAVE"]).contains("OK"), "SAVE failed");
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = RedisServer::spawn(self.addr.port(), &self.extra, self._dir.path());
        self.wait_for_ping();
    }

    fn spawn(port: u16, extra: &[String], dir: &std::path::Path) -> Child {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start redis-server ({err}). The tests need a real Redis: \
                     run scripts/test (it installs it) or `apt-get install redis-server`"
                )
            })
    }

    fn wait_for_ping(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ping().is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING on {} within 10 s",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// The server's process id (to freeze it with SIGSTOP, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send PING over a raw connection; `Ok` when the answer is +PONG.
    pub fn ping(&self) -> std::io::Result<()> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        stream.write_all(b"PING\r\n")?;
        let mut answer = [0u8; 7];
        stream.read_exact(&mut answer)?;
        if &answer == b"+PONG\r\n" {
            Ok(())
        } else {
            Err(std::io::Error::other("unexpected answer to PING"))
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (bind to 0 and let it go).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `redis-cli -p PORT ARGS`: its output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("cannot run redis-cli (it comes with redis-server)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Wait up to `within` for `check` to hold, or fail with `what`.
fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Redis Cluster of three masters, made as ops make one: three
/// cluster-enabled servers joined by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(
                    free_port(),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("cannot run redis-cli");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        for node in &nodes {
            wait_until(Duration::from_secs(15), "the cluster is not ok", || {
                cli(node.addr.port(), &["cluster", "info"]).contains("cluster_state:ok")
            });
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// A master, its replica, and three sentinels watching them (quorum 2),
/// with short timeouts so that a failover takes seconds, not minutes.
pub struct RedisSentinels {
    pub master: Option<RedisServer>,
    pub replica: RedisServer,
    sentinels: Vec<(Child, u16, tempfile::TempDir)>,
}

pub const SENTINEL_MASTER: &str = "portcullis";

impl RedisSentinels {
    pub fn start() -> RedisSentinels {
        let master = RedisServer::start();
        let master_port = master.addr.port().to_string();
        let replica = RedisServer::start_with(free_port(), &["--replicaof", "127.0.0.1", &master_port]);
        wait_until(Duration::from_secs(15), "the replica did not sync", || {
            cli(replica.addr.port(), &["info", "replication"]).contains("master_link_status:up")
        });
        let sentinels: Vec<(Child, u16, tempfile::TempDir)> = (0..3)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                let port = free_port();
                let config = dir.path().join("sentinel.conf");
                std::fs::write(
                    &config,
                    format!(
                        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                         sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2\n\
                         sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                         sentinel failover-timeout {SENTINEL_MASTER} 5000\n",
                        dir = dir.path().display()
                    ),
                )
                .unwrap();
                let child = Command::new("redis-server")
                    .arg(&config)
                    .arg("--sentinel")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("cannot start redis-server --sentinel");
                (child, port, dir)
            })
            .collect();
        for (_, port, _) in &sentinels {
            wait_until(
                Duration::from_secs(20),
                "the sentinels did not find each other and the replica",
                || {
                    let master = cli(*port, &["sentinel", "master", SENTINEL_MASTER]);
                    let others = master.lines().skip_while(|l| *l != "num-other-sentinels").nth(1);
                    let replicas = master.lines().skip_while(|l| *l != "num-slaves").nth(1);
                    others == Some("2") && replicas == Some("1")
                },
            );
        }
        RedisSentinels {
            master: Some(master),
            replica,
            sentinels,
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|(_, port, _)| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// The port the sentinels now name as master.
    pub fn master_port(&self) -> u16 {
        let answer = cli(
            self.sentinels[0].1,
            &["sentinel", "get-master-addr-by-name", SENTINEL_MASTER],
        );
        answer.lines().nth(1).and_then(|p| p.trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for RedisSentinels {
    fn drop(&mut self) {
        for (child, _, _) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
