//! Where codes go in the tests: a real SMTP server (Python's aiosmtpd,
//! started on a free loopback port, delivering into a Maildir), and a real
//! HTTP server playing the SMS provider that records what it was sent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::redis::free_port;

pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Plain SMTP, or STARTTLS with `tls` = (certificate, key) files.
    pub fn start(tls: Option<(PathBuf, PathBuf)>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let port = free_port();
        let mut command = Command::new("python3");
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = &tls {
            command.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        command.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(&maildir);
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run python3: the tests need it for their SMTP server");
        let mut server = SmtpServer {
            port,
            maildir,
            child,
            _dir: dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "the test SMTP server exited ({status}). It is Python's aiosmtpd: run scripts/test \
                     (it installs it) or `pip install aiosmtpd`"
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "aiosmtpd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The messages received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }

    /// Wait (up to 5 s) for the `n`th message.
    pub async fn message(&self, n: usize) -> String {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                let mut messages = messages;
                messages.sort();
                return messages.swap_remove(n - 1);
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no message {n} arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first run of `digits` digits after `marker` in `text`.
pub fn code_after(text: &str, marker: &str, digits: usize) -> String {
    let start = text.find(marker).unwrap_or_else(|| panic!("no {marker:?} in {text}")) + marker.len();
    let rest: String = text[start..].chars().skip_while(|c| !c.is_ascii_digit()).collect();
    let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), digits, "{text}");
    code
}

/// One request the SMS provider received.
#[derive(Debug, Clone)]
pub struct SmsRequest {
    pub headers: http::HeaderMap,
    pub body: String,
}

pub struct SmsProvider {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<SmsRequest>>>,
    /// What it answers; 200 unless a test makes it fail.
    status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl SmsProvider {
    pub async fn start() -> SmsProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (log, answer) = (received.clone(), status.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (log, answer) = (log.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (log, answer) = (log.clone(), answer.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            log.lock().unwrap().push(SmsRequest {
                                headers: parts.headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                            let mut response = http::Response::new(Full::new(Bytes::from_static(b"{}")));
                            *response.status_mut() = http::StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap();
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        SmsProvider {
            addr,
            received,
            status,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<SmsRequest> {
        self.received.lock().unwrap().clone()
    }

    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

impl Drop for SmsProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}
