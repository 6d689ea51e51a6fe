//! What a running gateway runs under: the settings ([`crate::config`]) and
//! the policy ([`crate::policy`]) compiled from the same file, loaded and
//! checked together (every problem of both in one list, as `check` prints
//! them), and swapped whole on reload ([`crate::reload`]).

use std::path::Path;
use std::time::SystemTime;

use crate::config::raw::RawConfig;
use crate::config::{self, Config, ConfigError, Problem};
use crate::policy::provisioned::Provisioned;
use crate::policy::{self, Policy};

#[derive(Debug)]
pub struct Live {
    pub config: Config,
    pub policy: Policy,
}

impl Live {
    /// Read a file and compile its settings and its policy.
    pub fn load(path: &Path) -> Result<Live, ConfigError> {
        Live::load_and_lint(path, None).map(|(live, _)| live)
    }

    /// [`Live::load`], with the users identity providers provisioned
    /// (kept in the store) beside the file's.
    pub fn load_with(path: &Path, provisioned: &[Provisioned]) -> Result<Live, ConfigError> {
        let raw = config::read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut live = Live::compile(&raw, config::compile(&raw, base), provisioned)?;
        live.config.source = Some(path.to_path_buf());
        Ok(live)
    }

    /// [`Live::load`], plus the policy's lint warnings as of `now` (when given).
    pub fn load_and_lint(path: &Path, now: Option<SystemTime>) -> Result<(Live, Vec<Problem>), ConfigError> {
        let raw = config::read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut live = Live::compile(&raw, config::compile(&raw, base), &[])?;
        live.config.source = Some(path.to_path_buf());
        let warnings = now
            .map(|now| policy::lint::lint(&raw, &live.policy, &live.config.listen.hosts, now))
            .unwrap_or_default();
        Ok((live, warnings))
    }

    /// From YAML text; relative paths are taken from `base`.
    pub fn from_yaml(text: &str, base: &Path) -> Result<Live, ConfigError> {
        Live::from_raw(&config::parse(text)?, base)
    }

    /// From the parsed YAML (the demo edits it first).
    pub fn from_raw(raw: &RawConfig, base: &Path) -> Result<Live, ConfigError> {
        Live::compile(raw, config::compile(raw, base), &[])
    }

    /// The policy of `raw` beside its settings, with both lists of problems.
    fn compile(
        raw: &RawConfig,
        settings: Result<Config, ConfigError>,
        provisioned: &[Provisioned],
    ) -> Result<Live, ConfigError> {
        match (settings, policy::compile_with(raw, provisioned)) {
            (Ok(config), Ok(policy)) => Ok(Live { config, policy }),
            (Err(ConfigError::Invalid(mut problems)), Err(more)) => {
                problems.extend(more);
                Err(ConfigError::Invalid(problems))
            }
            (Err(err), _) => Err(err),
            (Ok(_), Err(problems)) => Err(ConfigError::Invalid(problems)),
        }
    }
}
