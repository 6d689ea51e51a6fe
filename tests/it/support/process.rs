//! The `portcullis` binary itself, as ops run it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

/// Run `portcullis ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    binary().args(args).output().expect("cannot run the portcullis binary")
}

/// Wait until `port` on loopback accepts TCP connections; fail the test,
/// with `log()`, if `child` (`what`) exits first or 10 s pass.
pub fn wait_listening(child: &mut Child, port: u16, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}: {}", log());
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}: {}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `portcullis` process, killed when dropped.
pub struct Process {
    pub child: Child,
}

impl Process {
    /// Start `portcullis ARGS` and wait until `addr` accepts TCP connections.
    pub fn start(args: &[&str], addr: SocketAddr, cwd: &Path) -> Process {
        Process::start_with_output(args, addr, cwd, Stdio::null())
    }

    /// Like [`Process::start`], with standard output going to `stdout`.
    pub fn start_with_output(args: &[&str], addr: SocketAddr, cwd: &Path, stdout: impl Into<Stdio>) -> Process {
        Process::start_logged(args, addr, cwd, stdout, Stdio::null())
    }

    /// Like [`Process::start`], keeping standard output and its log (stderr).
    pub fn start_logged(
        args: &[&str],
        addr: SocketAddr,
        cwd: &Path,
        stdout: impl Into<Stdio>,
        stderr: impl Into<Stdio>,
    ) -> Process {
        let child = binary()
            .args(args)
            .current_dir(cwd)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("cannot start the portcullis binary");
        let mut process = Process { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("portcullis {args:?} exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "portcullis did not listen on {addr} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Resident memory now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
