//! Upgrades that drop nothing: install the new binary over the old one,
//! then send the running gateway SIGUSR2.
//!
//! ```text
//!  running gateway ── SIGUSR2 ──▶ starts the binary now at its path, with its
//!     │                           arguments and its listening sockets (fd 3,
//!     │                           and 4 for listen.redirect_http): nobody
//!     │                           ever stops listening
//!     │                                 │ the new gateway loads and checks the
//!     │                                 │ config, opens the store, gets ready
//!     │ ◀─────────── SIGTERM ───────────┘ then tells the old one to stop (with
//!     │                                   the embedded store, which one process
//!     │                                   holds, before it opens it)
//!     ▼
//!  stops accepting; requests in flight finish (limits.shutdown_grace); exits
//! ```
//!
//! A new binary that does not start (a broken config, a crash) never says
//! so: the running gateway keeps serving and logs why. Under systemd
//! (`Type=notify`, `NotifyAccess=all`) the new process tells systemd that
//! it is now the service's main process.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// How many listening sockets were handed over (from fd 3 on).
const FDS: &str = "PORTCULLIS_LISTEN_FDS";
/// The process id of the gateway being replaced.
const FROM: &str = "PORTCULLIS_UPGRADE_FROM";
const FIRST_FD: RawFd = 3;

/// What a gateway being replaced handed to this one.
#[derive(Debug, Default)]
pub struct Inherited {
    listeners: Vec<Option<std::net::TcpListener>>,
    replacing: Option<Replacing>,
}

/// The gateway this one replaces, until it is told to stop.
#[derive(Debug)]
pub struct Replacing {
    pid: libc::pid_t,
}

impl Inherited {
    /// Read once, at start; the variables are removed so that nothing this
    /// process starts later inherits them by mistake.
    pub fn take() -> Inherited {
        let count = (std::env::var(FDS).ok()).and_then(|n| n.parse::<RawFd>().ok());
        let from = (std::env::var(FROM).ok()).and_then(|p| p.parse::<libc::pid_t>().ok());
        std::env::remove_var(FDS);
        std::env::remove_var(FROM);
        let (Some(count), Some(pid)) = (count, from) else {
            return Inherited::default();
        };
        let listeners = (FIRST_FD..FIRST_FD + count.clamp(0, 2))
            .map(|fd| {
                set_cloexec(fd);
                // SAFETY: the old gateway put a listening socket at each of
                // these descriptors, and nothing else here uses them.
                let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
                listener.local_addr().ok().map(|_| listener)
            })
            .collect();
        Inherited {
            listeners,
            replacing: Some(Replacing { pid }),
        }
    }

    /// The `index`th socket handed over, if it listens on `address` (a
    /// changed `listen` address is bound afresh instead).
    pub fn listener(&mut self, index: usize, address: std::net::SocketAddr) -> Option<std::net::TcpListener> {
        let listener = self.listeners.get_mut(index)?.take()?;
        if listener.local_addr().ok()? != address {
            tracing::warn!(%address, "the address to listen on changed: listening afresh, not on the old gateway's socket");
            return None;
        }
        listener.set_nonblocking(true).ok()?;
        Some(listener)
    }

    /// The gateway to tell to stop once this one is ready.
    pub fn replacing(&mut self) -> Option<Replacing> {
        self.replacing.take()
    }
}

impl Replacing {
    /// This gateway takes over: systemd hears that it is the main process
    /// now, and the old one is told to stop accepting and finish.
    pub fn take_over(self) {
        notify_systemd(&format!("MAINPID={}\nREADY=1", std::process::id()));
        // SAFETY: kill(2) with a process id and a signal number.
        if unsafe { libc::kill(self.pid, libc::SIGTERM) } != 0 {
            let err = io::Error::last_os_error();
            tracing::warn!(pid = self.pid, error = %err, "cannot tell the gateway being replaced to stop");
        }
        tracing::info!(target: "audit", event = "upgrade.took_over", replaced_pid = self.pid, pid = std::process::id());
    }
}

/// Tell systemd something (`READY=1`), when it runs this service with
/// `Type=notify`; nothing otherwise.
pub fn notify_systemd(message: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> io::Result<()> {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(message.as_bytes(), &address)?;
            }
            None => {
                socket.send_to(message.as_bytes(), &path)?;
            }
        }
        Ok(())
    })();
    if let Err(err) = sent {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}

/// On every SIGUSR2, start the binary at `exe` (the path this one started
/// from, which now holds the new binary) with this one's arguments and
/// `listeners`. Runs until the process ends.
pub async fn on_signal(exe: PathBuf, listeners: Vec<OwnedFd>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut signals) = signal(SignalKind::user_defined2()) else {
        tracing::warn!("cannot listen for SIGUSR2: upgrades in place are off");
        return;
    };
    while signals.recv().await.is_some() {
        let fds: Vec<RawFd> = listeners.iter().map(AsRawFd::as_raw_fd).collect();
        match start(&exe, &fds) {
            Ok(mut child) => {
                let pid = child.id();
                tracing::info!(target: "audit", event = "upgrade.started", exe = %exe.display(), new_pid = pid);
                // If it ends while this one still runs, it never took over.
                std::thread::spawn(move || {
                    if let Ok(status) = child.wait() {
                        tracing::error!(target: "audit", event = "upgrade.failed", new_pid = pid, %status, "the new binary exited; still serving with this one");
                    }
                });
            }
            Err(err) => {
                tracing::error!(target: "audit", event = "upgrade.failed", exe = %exe.display(), error = %err, "cannot start the new binary; still serving with this one")
            }
        }
    }
}

fn start(exe: &std::path::Path, fds: &[RawFd]) -> io::Result<std::process::Child> {
    let mut command = std::process::Command::new(exe);
    command
        .args(std::env::args_os().skip(1))
        .env(FDS, fds.len().to_string())
        .env(FROM, std::process::id().to_string());
    let fds = fds.to_vec();
    // SAFETY: between fork and exec only fcntl and dup2 run, which are
    // async-signal-safe; each listener goes to its place from fd 3 on, by
    // way of a high descriptor so that none is overwritten before it moves.
    unsafe {
        command.pre_exec(move || {
            let mut high = Vec::with_capacity(fds.len());
            for fd in &fds {
                let copy = libc::fcntl(*fd, libc::F_DUPFD, 64);
                if copy < 0 {
                    return Err(io::Error::last_os_error());
                }
                high.push(copy);
            }
            for (i, copy) in high.into_iter().enumerate() {
                if libc::dup2(copy, FIRST_FD + i as RawFd) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(copy);
            }
            Ok(())
        });
    }
    command.spawn()
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}
