//! Logging: tracing to stderr, human-readable by default or JSON lines
//! (`--log-format json`). `RUST_LOG` adjusts levels (`RUST_LOG=warn` hides
//! the access log).
//!
//! Lines are batched like nginx's `access_log … buffer=64k flush=…`: request
//! threads append to a shared buffer and a flusher thread writes it out every
//! 200 ms, or sooner once 64 KiB are waiting. One line per request would
//! otherwise cost a write and a thread wake-up per request (measured with
//! strace under scripts/bench).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

const FLUSH_EVERY: Duration = Duration::from_millis(200);
const FLUSH_AT: usize = 64 * 1024;

/// Where access-log lines go.
///
/// One line per request is the busiest log by far, and tracing's generic
/// formatter (field visitors, dynamic dispatch, JSON escaping of everything)
/// cost 10-13% of the gateway's throughput under scripts/bench. `Direct`
/// writes the same line, in the same format, straight into the batch.
#[derive(Clone)]
pub enum AccessLog {
    /// `RUST_LOG` turned the `access` target off.
    Off,
    /// As tracing events (target `access`): for embedding and tests.
    Tracing,
    Direct {
        batch: Arc<Batch>,
        format: LogFormat,
    },
}

impl AccessLog {
    /// Append one line, formatted by `write` in the given format.
    pub fn write_with(&self, write: impl FnOnce(&mut Vec<u8>, LogFormat)) {
        if let AccessLog::Direct { batch, format } = self {
            let mut state = batch.state.lock().unwrap_or_else(PoisonError::into_inner);
            write(&mut state.pending, *format);
            if state.pending.len() >= FLUSH_AT {
                batch.wake.notify_one();
            }
        }
    }
}

/// Install the global subscriber. Keep the guard alive: dropping it writes
/// out what is still buffered. With `audit_file`, audit events (target
/// `audit`) are also written there as JSON lines, whatever `RUST_LOG` says.
pub fn init(format: LogFormat, audit_file: Option<std::fs::File>) -> (FlushGuard, AccessLog) {
    init_with(format, audit_file, "info")
}

/// [`init`] with another filter than `info` when `RUST_LOG` is not set
/// (the demo keeps its console to warnings).
pub fn init_with(
    format: LogFormat,
    audit_file: Option<std::fs::File>,
    default_filter: &str,
) -> (FlushGuard, AccessLog) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let batch = Arc::new(Batch::default());
    let flusher = {
        let batch = batch.clone();
        std::thread::Builder::new()
            .name("portcullis-log".into())
            .spawn(move || batch.flush_until_closed(&mut std::io::stderr()))
            .ok()
    };
    let writer = BatchWriter(batch.clone());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let main = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    let main = match format {
        LogFormat::Human => main.boxed(),
        LogFormat::Json => main.json().flatten_event(true).with_current_span(false).boxed(),
    };
    let audit = audit_file.map(|file| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(Mutex::new(file))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.target() == "audit"))
    });
    tracing_subscriber::registry()
        .with(main.with_filter(filter))
        .with(audit)
        .init();
    let access = if tracing::enabled!(target: "access", tracing::Level::INFO) {
        AccessLog::Direct {
            batch: batch.clone(),
            format,
        }
    } else {
        AccessLog::Off
    };
    (FlushGuard { batch, flusher }, access)
}

/// Log lines waiting for the flusher thread.
#[derive(Default)]
pub struct Batch {
    state: Mutex<BatchState>,
    wake: Condvar,
}

#[derive(Default)]
struct BatchState {
    pending: Vec<u8>,
    closed: bool,
}

impl Batch {
    fn append(&self, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending.extend_from_slice(bytes);
        if state.pending.len() >= FLUSH_AT {
            self.wake.notify_one();
        }
    }

    fn flush_until_closed(&self, out: &mut impl Write) {
        let mut spare = Vec::new();
        loop {
            let closed = {
                let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut state, _) = self
                    .wake
                    .wait_timeout_while(state, FLUSH_EVERY, |s| s.pending.len() < FLUSH_AT && !s.closed)
                    .unwrap_or_else(PoisonError::into_inner);
                std::mem::swap(&mut state.pending, &mut spare);
                state.closed
            };
            if !spare.is_empty() {
                // Nowhere to report a failure to write the log; keep serving.
                let _ = out.write_all(&spare).and_then(|()| out.flush());
                spare.clear();
            }
            if closed {
                return;
            }
        }
    }
}

#[derive(Clone)]
struct BatchWriter(Arc<Batch>);

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchLine<'a>;

    fn make_writer(&'a self) -> BatchLine<'a> {
        BatchLine(&self.0)
    }
}

/// tracing formats each event in full and hands it over in one `write`.
struct BatchLine<'a>(&'a Batch);

impl Write for BatchLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes out the remaining lines when dropped.
pub struct FlushGuard {
    batch: Arc<Batch>,
    flusher: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.batch.state.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        self.batch.wake.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_written_out_in_order_and_nothing_is_lost_at_close() {
        let batch = Arc::new(Batch::default());
        for i in 0..10_000 {
            batch.append(format!("line {i}\n").as_bytes());
        }
        batch.state.lock().unwrap().closed = true;
        let mut out = Vec::new();
        batch.flush_until_closed(&mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[9_999], "line 9999");
    }
}
