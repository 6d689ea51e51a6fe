//! `portcullis explain`: what the policy decides for one request, and why.

use std::process::ExitCode;

use anyhow::Context;
use portcullis::live::Live;

use super::args::{AnswerFormat, ExplainArgs};

pub(crate) fn explain(args: &ExplainArgs) -> ExitCode {
    match explain_decision(args) {
        Ok((verdict, text)) => {
            match args.format {
                AnswerFormat::Text => println!("{text}"),
                AnswerFormat::Json => println!(
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
            if verdict == "deny" || verdict == "refuse" {
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
    use portcullis::policy::{self, Principal};
    let live = Live::load(&args.config.config).map_err(|err| {
        anyhow::anyhow!(
            "{} is not valid:\n  {}",
            args.config.config.display(),
            err.lines().join("\n  ")
        )
    })?;
    let live = with_provisioned(live);
    let (config, policy) = (&live.config, &live.policy);
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
    let target: http::uri::PathAndQuery = args
        .path
        .parse()
        .with_context(|| format!("{:?} is not a path (with an optional query)", args.path))?;
    let mut headers = http::HeaderMap::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--header {header:?}: write it like \"X-HTTP-Method-Override: DELETE\""))?;
        headers.append(
            http::HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("{name:?} is not a header name"))?,
            http::HeaderValue::from_str(value.trim()).with_context(|| format!("{value:?} is not a header value"))?,
        );
    }
    // Read exactly as the gateway reads a request: the same path, query and
    // method readings for the CRM's server family.
    let reading = match policy::reading::read(config.upstream.server, &method, target.path(), target.query(), &headers)
    {
        Ok(reading) => reading,
        Err(why) => {
            return Ok((
                "refuse",
                format!("refuse: the gateway refuses this request before any rule ({why})"),
            ))
        }
    };
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
    let (decision, facts) = policy::decide_reading(policy, args.ip.to_canonical(), client, &reading, &principal, now);
    Ok((
        policy::verdict(&decision),
        policy.explain_reading(&decision, &facts, &reading, args.user.as_deref()),
    ))
}

/// The policy with the users identity providers provisioned, as the
/// gateway has it; the YAML's alone (with a warning) if the store cannot say.
pub(crate) fn with_provisioned(live: Live) -> Live {
    let Some(path) = live.config.source.clone() else {
        return live;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let provisioned = runtime
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(super::admin_commands::with_provisioned(Live::load(&path)?)));
    match provisioned {
        Ok(merged) => merged,
        Err(err) => {
            eprintln!("warning: cannot read the users identity providers provisioned ({err:#}); answering for the YAML's users only");
            live
        }
    }
}
