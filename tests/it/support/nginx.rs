//! A real nginx from Debian, in front of the CRM, asking the gateway about
//! each request (`auth_request`), as a team that keeps its own proxy runs
//! it. One worker, on a free loopback port, with TLS from the gateway's
//! test CA; stopped when dropped. scripts/test installs it.

use std::process::{Child, Command, Stdio};

use super::redis::free_port;

pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Serve `server` (the inside of a `server { }` block, which may use
    /// `{port}`) with TLS from `cert` and `key`.
    pub fn start(server: &str, cert: &std::path::Path, key: &std::path::Path) -> Nginx {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("nginx is missing: run scripts/test (it installs nginx-light) or `apt-get install nginx-light`");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n\
             {server}\n  }}\n}}\n",
            cert = cert.display(),
            key = key.display(),
            server = server.replace("{port}", &port.to_string()),
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&file)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut nginx = Nginx { port, child, dir };
        let dir = nginx.dir.path().to_path_buf();
        super::process::wait_listening(&mut nginx.child, port, "nginx", || log_in(&dir));
        nginx
    }

    /// Its error log, for a failing test's message.
    pub fn log(&self) -> String {
        log_in(self.dir.path())
    }
}

fn log_in(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
