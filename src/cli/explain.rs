//! `portcullis explain`: what the policy decides for one request, and why.

use std::process::ExitCode;

use anyhow::Context;
use portcullis::config::Config;

use super::args::{ExplainArgs, OutputFormat};

pub(crate) fn explain(args: &ExplainArgs) -> ExitCode {
    match explain_decision(args) {
        Ok((verdict, text)) => {
            match args.format {
                OutputFormat::Text => println!("{text}"),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({
                        "decision": verdict,
                        "explanation": text,
                        "user": args.user,
                        "ip": args.ip.to_string(),
                        "client": args.client,
                        "method": args.method,
                        "path": args.path,
                    })
                ),
            }
            if verdict == "deny" {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn explain_decision(args: &ExplainArgs) -> anyhow::Result<(&'static str, String)> {
    use portcullis::policy::{self, Facts, Principal};
    let config = Config::load(&args.config).map_err(|err| {
        anyhow::anyhow!(
            "{} is not valid:\n  {}",
            args.config.display(),
            err.lines().join("\n  ")
        )
    })?;
    let policy = &config.policy;
    let now = match &args.at {
        Some(at) => humantime::parse_rfc3339_weak(at)
            .with_context(|| format!("--at {at:?} is not a time like 2026-12-01T17:00:00Z"))?,
        None => portcullis::clock::now(),
    };
    let client = policy.client_type(&args.client).with_context(|| {
        let known: Vec<&str> = policy.client_types.iter().map(|c| c.name.as_str()).collect();
        format!("unknown client type {:?}; known: {}", args.client, known.join(", "))
    })?;
    let method = http::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("{:?} is not an HTTP method", args.method))?;
    let path = policy::path::normalize(&args.path)
        .with_context(|| format!("the gateway would refuse the path {:?}", args.path))?;
    let second_factor_at = match &args.second_factor_age {
        Some(age) => Some(
            now.checked_sub(
                humantime::parse_duration(age)
                    .with_context(|| format!("--second-factor-age {age:?} is not a duration like 2m"))?,
            )
            .context("--second-factor-age is too long")?,
        ),
        None => None,
    };
    let principal = match &args.user {
        Some(name) => Principal::User { name, second_factor_at },
        None => Principal::Anonymous,
    };
    let facts = Facts {
        ip: args.ip.to_canonical(),
        client,
        method: &method,
        path: &path,
    };
    let decision = policy::decide(policy, &facts, &principal, now);
    Ok((
        decision.verdict(),
        policy.explain(&decision, &facts, args.user.as_deref()),
    ))
}
