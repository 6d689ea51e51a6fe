//! Logging: tracing to stderr, human-readable by default or JSON lines
//! (`--log-format json`). Written by a background thread so a slow terminal
//! or pipe never stalls a request. `RUST_LOG` adjusts levels.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Install the global subscriber. Keep the guard alive: dropping it flushes.
pub fn init(format: LogFormat) -> WorkerGuard {
    // Buffered: the writer thread flushes whenever it has drained its queue,
    // so under load many lines go out in one write.
    let (writer, guard) =
        tracing_appender::non_blocking(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
    guard
}
