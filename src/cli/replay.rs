//! `portcullis replay`: an access log asked again of a new policy
//! ([`portcullis::admin::replay`]).

use std::path::Path;
use std::process::ExitCode;

use portcullis::live::Live;

pub(crate) fn replay(config: &Path, access_log: &Path) -> ExitCode {
    let live = match Live::load(config) {
        Ok(live) => super::explain::with_provisioned(live),
        Err(err) => {
            eprintln!(
                "error: {} is not valid:\n  {}",
                config.display(),
                err.lines().join("\n  ")
            );
            return ExitCode::from(2);
        }
    };
    let log = match std::fs::read_to_string(access_log) {
        Ok(log) => log,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", access_log.display());
            return ExitCode::from(2);
        }
    };
    let server = live.config.upstream.server;
    let report = portcullis::admin::replay::replay(&live.policy, server, log.lines());
    print!("{}", portcullis::admin::replay::text(&report));
    match report.changes.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}
