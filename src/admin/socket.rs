//! The admin socket: how `portcullis sessions …` and `portcullis user
//! disable|reset` reach a running gateway that holds the embedded store
//! (redb lets one process open the file).
//!
//! A Unix socket next to the store file (`state.redb` → `state.sock`),
//! mode 0600, so only the gateway's own user (and root) can use it. One
//! JSON [`Request`] line in, one JSON [`Outcome`] line out.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{execute, Outcome, Request};
use crate::clock::Clock;
use crate::live::Live;
use crate::session::SessionService;

/// Larger requests are not admin commands.
const MAX_LINE: u64 = 64 * 1024;

/// Where the gateway listens for the store at `store_file`.
pub fn path_for(store_file: &Path) -> PathBuf {
    store_file.with_extension("sock")
}

/// Listen on `path` (replacing a stale socket file: whoever holds the
/// store's lock owns the socket) and serve commands until the task is
/// dropped.
pub fn listen(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

pub async fn serve(listener: UnixListener, sessions: Arc<SessionService>, live: Arc<ArcSwap<Live>>, clock: Clock) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sessions = sessions.clone();
        let live = live.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(stream, &sessions, &live, &clock).await {
                tracing::warn!(error = %err, "admin socket: a command failed");
            }
        });
    }
}

async fn answer(
    stream: UnixStream,
    sessions: &SessionService,
    live: &ArcSwap<Live>,
    clock: &Clock,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).take(MAX_LINE).read_line(&mut line).await?;
    let outcome = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let live = live.load();
            match execute(
                sessions,
                &live.policy,
                &live.config.auth.providers,
                &request,
                clock.now(),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(err) => Outcome::Refused {
                    message: err.to_string(),
                },
            }
        }
        Err(err) => Outcome::Refused {
            message: format!("not an admin command: {err}"),
        },
    };
    let mut reply = serde_json::to_vec(&outcome).map_err(std::io::Error::other)?;
    reply.push(b'\n');
    write.write_all(&reply).await?;
    write.shutdown().await
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing listens there: no gateway has this store open.
    #[error("no gateway answers on {0}")]
    NotRunning(PathBuf),
    #[error("the gateway's admin socket {path} failed: {reason}")]
    Failed { path: PathBuf, reason: String },
}

/// Send one command to the gateway listening on `path`.
pub async fn call(path: &Path, request: &Request) -> Result<Outcome, CallError> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|_| CallError::NotRunning(path.to_owned()))?;
    let failed = |reason: String| CallError::Failed {
        path: path.to_owned(),
        reason,
    };
    let (read, mut write) = stream.into_split();
    let mut line_out = serde_json::to_vec(request).map_err(|e| failed(e.to_string()))?;
    line_out.push(b'\n');
    write.write_all(&line_out).await.map_err(|e| failed(e.to_string()))?;
    let mut line = String::new();
    BufReader::new(read)
        .take(16 * 1024 * 1024)
        .read_line(&mut line)
        .await
        .map_err(|e| failed(e.to_string()))?;
    serde_json::from_str(&line).map_err(|e| failed(format!("unreadable answer: {e}")))
}
