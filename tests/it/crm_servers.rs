//! Real servers of the families legacy CRMs run on, behind the real
//! gateway: PHP's built-in server and Python's WSGI reference server (how
//! CGI-style servers map header names), Tomcat (how a servlet container
//! maps paths) and Rack (how Rails turns a POST into a DELETE). Each test
//! first shows the trick working against the server directly, then that it
//! fails through the gateway, end to end. scripts/test installs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::crm_reading::POLICY;
use crate::login::{signed_in, Office};
use crate::support::gateway::Answer;
use crate::support::redis::free_port;

/// One of the servers, on a loopback port, stopped when dropped.
struct RealServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/servers")
}

impl RealServer {
    fn spawn(what: &str, command: &mut Command, port: u16, dir: tempfile::TempDir) -> RealServer {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {what} ({err}): run scripts/test, which installs it"));
        let mut server = RealServer { child, port, _dir: dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{what} exited ({status}): run scripts/test, which installs it");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what} did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// PHP's built-in server running tests/it/servers/report.php.
    fn php() -> RealServer {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(servers_dir().join("report.php"), dir.path().join("report.php")).unwrap();
        let mut command = Command::new("php");
        command
            .args(["-S", &format!("127.0.0.1:{port}"), "report.php"])
            .current_dir(dir.path());
        RealServer::spawn("PHP's built-in server (php-cli)", &mut command, port, dir)
    }

    /// Python's wsgiref server running tests/it/servers/report_wsgi.py.
    fn wsgi() -> RealServer {
        let port = free_port();
        let mut command = Command::new("python3");
        command.arg(servers_dir().join("report_wsgi.py")).arg(port.to_string());
        RealServer::spawn("Python's WSGI server", &mut command, port, tempfile::tempdir().unwrap())
    }

    /// Tomcat, embedded, running tests/it/servers/ServletCrm.java.
    fn tomcat() -> RealServer {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let jars = [
            "catalina",
            "coyote",
            "util",
            "util-scan",
            "api",
            "jni",
            "juli",
            "servlet-api",
            "annotations-api",
            "jaspic-api",
            "el-api",
        ];
        let classpath: Vec<String> = jars
            .iter()
            .map(|j| format!("/usr/share/java/tomcat10-{j}.jar"))
            .collect();
        let classpath = classpath.join(":");
        let classes = dir.path().join("classes");
        let compiled = Command::new("javac")
            .args(["-nowarn", "-cp", &classpath, "-d"])
            .arg(&classes)
            .arg(servers_dir().join("ServletCrm.java"))
            .output()
            .unwrap_or_else(|err| {
                panic!("cannot run javac ({err}): run scripts/test, which installs a JDK and Tomcat")
            });
        assert!(
            compiled.status.success(),
            "javac failed (scripts/test installs libtomcat10-java): {}",
            String::from_utf8_lossy(&compiled.stderr)
        );
        let mut command = Command::new("java");
        command
            .arg("-cp")
            .arg(format!("{}:{classpath}", classes.display()))
            .args(["ServletCrm", &port.to_string()])
            .arg(dir.path());
        RealServer::spawn("Tomcat (libtomcat10-java)", &mut command, port, dir)
    }

    /// Rack with Rack::MethodOverride, on WEBrick, running tests/it/servers/rack.ru.
    fn rack() -> RealServer {
        let port = free_port();
        let script = format!(
            "require 'rack'; require 'webrick'; require 'rack/handler/webrick'; \
             app = Rack::Builder.parse_file('{}'); app = app.first if app.is_a?(Array); \
             Rack::Handler::WEBrick.run(app, Host: '127.0.0.1', Port: {port}, AccessLog: [], Logger: WEBrick::Log.new(nil, 0))",
            servers_dir().join("rack.ru").display()
        );
        let mut command = Command::new("ruby");
        command.args(["-e", &script]);
        RealServer::spawn(
            "Rack on WEBrick (ruby-rack, ruby-webrick)",
            &mut command,
            port,
            tempfile::tempdir().unwrap(),
        )
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Send raw HTTP/1.1 straight to the server (no gateway): the body of its answer.
    async fn direct(&self, request: &str) -> String {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        let _ = tcp.read_to_string(&mut answer).await;
        answer
            .split_once("\r\n\r\n")
            .map_or(answer.clone(), |(_, body)| body.to_owned())
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway with the corpus's policy in front of `server`, and bob's and
/// alice's session cookies.
async fn gateway_in_front_of(server: &RealServer, family: &str) -> (Office, String, String) {
    let office = Office::in_front_of(Some(&server.url()), &format!("  server: {family}\n"), POLICY).await;
    let bob = signed_in(&office, "bob", "127.0.0.1").await.cookies["__Host-portcullis"].clone();
    let alice = signed_in(&office, "alice", "127.0.0.1").await.cookies["__Host-portcullis"].clone();
    (office, bob, alice)
}

/// `cookie`'s user asks, over HTTP/1.1 or HTTP/2, with these headers and body.
async fn ask(
    office: &Office,
    h2: bool,
    cookie: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(office.gateway.url(path))
        .header("cookie", format!("__Host-portcullis={cookie}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes())))
        .unwrap();
    let client = if h2 {
        office.gateway.client_h2()
    } else {
        office.gateway.client()
    };
    crate::support::gateway::read(client.send_full(request).await).await
}

const FORGED_IDENTITY: &[(&str, &str)] = &[
    ("x.portcullis.user", "alice"),
    ("x_portcullis_user", "alice"),
    ("x-portcullis_groups", "finance"),
    ("client-ip", "10.9.9.9"),
    ("x-client-ip", "10.9.9.9"),
];

#[tokio::test]
async fn php_reads_x_dot_user_as_the_identity_header_but_behind_the_gateway_it_sees_only_ours() {
    let php = RealServer::php();
    let direct = php
        .direct("GET / HTTP/1.1\r\nHost: crm\r\nX.Portcullis.User: alice\r\nClient-IP: 10.9.9.9\r\nConnection: close\r\n\r\n")
        .await;
    assert!(
        direct.contains("user=alice") && direct.contains("ip=10.9.9.9"),
        "PHP itself: {direct}"
    );

    let (office, bob, _) = gateway_in_front_of(&php, "php").await;
    for h2 in [false, true] {
        let answer = ask(&office, h2, &bob, "GET", "/contacts", FORGED_IDENTITY, "").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            answer.body.contains("user=bob\ngroups=sales\nip=127.0.0.1\n"),
            "h2 {h2}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn python_wsgi_reads_x_underscore_user_as_the_identity_header_but_behind_the_gateway_it_sees_only_ours() {
    let wsgi = RealServer::wsgi();
    let direct = wsgi
        .direct("GET /a%2Fb HTTP/1.1\r\nHost: crm\r\nX_Portcullis_User: alice\r\nConnection: close\r\n\r\n")
        .await;
    assert!(direct.contains("user=alice"), "wsgiref itself: {direct}");
    assert!(
        direct.contains("path=/a/b"),
        "wsgiref decodes an encoded slash: {direct}"
    );

    let (office, bob, _) = gateway_in_front_of(&wsgi, "generic").await;
    for h2 in [false, true] {
        let answer = ask(&office, h2, &bob, "GET", "/contacts", FORGED_IDENTITY, "").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains("user=bob\n"), "h2 {h2}: {}", answer.body);
        assert!(answer.body.contains("ip=127.0.0.1\n"), "h2 {h2}: {}", answer.body);
        let slash = ask(&office, h2, &bob, "GET", "/billing%2Finvoices", &[], "").await;
        assert_eq!(slash.status, 400, "an encoded slash never reaches it");
    }
}

#[tokio::test]
async fn tomcat_maps_path_parameters_into_billing_but_behind_the_gateway_bob_never_reaches_it() {
    let tomcat = RealServer::tomcat();
    for trick in ["/billing;jsessionid=A1/x", "/public/..;/billing/x", "/%62illing/x"] {
        let direct = tomcat
            .direct(&format!(
                "GET {trick} HTTP/1.1\r\nHost: crm\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert!(
            direct.contains("servlet=billing"),
            "Tomcat itself maps {trick} to billing: {direct}"
        );
    }

    let (office, bob, alice) = gateway_in_front_of(&tomcat, "java").await;
    for h2 in [false, true] {
        for trick in [
            "/billing/x",
            "/billing;jsessionid=A1/x",
            "/billing;/x",
            "/public/..;/billing/x",
            "/.;/billing/x",
            "/%62illing/x",
            "/Billing/x",
            "/billing%3Bx/y",
        ] {
            let answer = ask(&office, h2, &bob, "GET", trick, &[], "").await;
            assert!(
                !answer.body.contains("servlet=billing"),
                "h2 {h2}: {trick} reached billing as bob"
            );
            assert!(
                matches!(answer.status, 400 | 403),
                "h2 {h2}: {trick}: {}",
                answer.status
            );
        }
        // URL rewriting still works for the people billing is for.
        let answer = ask(&office, h2, &alice, "GET", "/billing;jsessionid=A1/x", &[], "").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains("servlet=billing") && answer.body.contains("header.x-portcullis-user=alice"));
    }
}

#[tokio::test]
async fn rack_turns_a_post_into_a_delete_but_behind_the_gateway_bob_deletes_nothing() {
    let rack = RealServer::rack();
    let post = |headers: &str, body: &str| {
        format!(
            "POST /projects/7 HTTP/1.1\r\nHost: crm\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    for (headers, body) in [
        ("Content-Type: application/x-www-form-urlencoded\r\n", "_method=DELETE"),
        ("", "_method=delete"),
        ("X-HTTP-Method-Override: DELETE\r\n", ""),
    ] {
        let direct = rack.direct(&post(headers, body)).await;
        assert!(
            direct.contains("method=DELETE"),
            "Rack itself: {headers}{body}: {direct}"
        );
    }

    let (office, bob, _) = gateway_in_front_of(&rack, "generic").await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    for h2 in [false, true] {
        for (headers, body) in [
            (&form[..], "title=Q3&_method=DELETE"),
            (&[][..], "_method=delete"),
            (&[("x-http-method-override", "DELETE")][..], ""),
            (&[][..], ""),
        ] {
            let path = if body.is_empty() && headers.is_empty() {
                "/projects/7?_method=DELETE"
            } else {
                "/projects/7"
            };
            let answer = ask(&office, h2, &bob, "POST", path, headers, body).await;
            assert_eq!(answer.status, 403, "h2 {h2}: {headers:?} {body}: {}", answer.body);
        }
        // An edit, which Rails sends as a POST with _method=patch, still works.
        let edit = ask(
            &office,
            h2,
            &bob,
            "POST",
            "/projects/7",
            &form,
            "title=Q4&_method=patch",
        )
        .await;
        assert_eq!(edit.status, 200, "{}", edit.body);
        assert!(edit.body.contains("method=PATCH"), "{}", edit.body);
    }
}
