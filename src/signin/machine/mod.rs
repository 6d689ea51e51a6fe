//! The sign-in state machine: one pure function, [`step`], from where a
//! browser's sign-in stands ([`Flow`]), what it just did ([`Input`], with
//! what the engine found out about it), and `now`, to where it stands next,
//! what must happen ([`Effect`]s) and what the browser sees ([`Show`]).
//!
//! ```text
//!              password right, account and network allowed,
//!              some second factor possible
//!  (no flow) ─────────────────────────────────────▶ SecondFactorDue
//!      ▲   wrong, locked, not allowed: a failure           │ code right, still allowed
//!      └──────────────────────────────────────────────────┤ (refused: shared elsewhere)
//!                                                          ▼
//!                                                     signed in ──code──▶ stepped up
//!                                                          │
//!                                  current password right  ▼
//!                                                  ConfirmNewAuthenticator ──code──▶ authenticator changed
//!  (no flow) ──a passkey alone, for a user the policy lets sign in so──▶ signed in
//!  (no flow) ──"Sign in with Okta"──▶ ProviderDue ──answer for a user in the policy──▶ signed in
//!                                                  (its second factor trusted), else SecondFactorDue
//!
//!  invite ok, strong password ──(totp)──▶ ConfirmAuthenticator ──code──▶ enrolled
//!                             ├─(passkey)─▶ CreatePasskey ──new passkey──▶ enrolled
//!                             └─(codes by email or SMS only)──────────▶ enrolled
//! ```
//!
//! A passkey is a code here ([`Proof::Passkey`]) or a whole sign-in
//! ([`Input::PasskeyAlone`]); the company's identity provider is a state
//! ([`Flow::ProviderDue`]) and two inputs, not special cases in the pages.
//! Every pair of flow and input that is not drawn above refuses: the flow
//! ends and the browser starts again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::credentials::Sealed;
use crate::auth::invite::Invite;

mod flow;
mod inputs;
mod outcomes;
mod passkey;
mod provider;
#[cfg(test)]
mod tests;

pub use flow::Flow;
pub use inputs::{CodeCheck, Input, NewFactor, PasskeyAloneCheck, PasswordCheck, Problem, Proof, ProviderCheck};
pub use outcomes::{Effect, Notice, Show, SignedInWith, Step};

/// How long a flow waits for its next step.
pub const SECOND_FACTOR_WITHIN: Duration = Duration::from_secs(5 * 60);
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(15 * 60);

pub fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

const SIGN_IN: &str = "/.portcullis/login";
const SECOND_FACTOR: &str = "/.portcullis/second-factor";

fn redirect(to: &str, flow: Option<Flow>) -> Step {
    Step {
        flow,
        effects: Vec::new(),
        show: Show::Redirect(to.to_owned()),
    }
}

pub fn step(flow: Option<Flow>, input: Input, now: SystemTime) -> Step {
    // A flow that waited too long is as good as none.
    let flow = flow.filter(|f| !f.expired(now));
    match (flow, input) {
        (
            _,
            Input::Password {
                user,
                client_type,
                next,
                check,
            },
        ) => password(user, client_type, next, check, now),
        (Some(due @ Flow::SecondFactorDue { .. }), Input::Code(check)) => second_factor(due, check),
        (
            _,
            Input::PasskeyAlone {
                user,
                client_type,
                next,
                check,
            },
        ) => passkey::alone(user, client_type, next, check),
        (None, Input::StepUpCode { user, next, check }) => step_up(user, next, check),
        (
            _,
            Input::ProviderStart {
                provider,
                client_type,
                next,
                started,
            },
        ) => provider::start(provider, client_type, next, started, now),
        (Some(flow @ Flow::ProviderDue { .. }), Input::ProviderAnswer(check)) => provider::answer(flow, check, now),
        (
            _,
            Input::InvitePassword {
                user,
                invite,
                problem,
                password,
                then,
            },
        ) => invite_password(user, invite, problem, password, then, now),
        (Some(flow @ Flow::CreatePasskey { .. }), Input::NewPasskey { key }) => passkey::made(flow, key),
        (None, Input::NewPasskey { .. }) => Step {
            flow: None,
            effects: Vec::new(),
            show: Show::TookTooLong,
        },
        (
            Some(flow @ (Flow::ConfirmAuthenticator { .. } | Flow::ConfirmNewAuthenticator { .. })),
            Input::AuthenticatorCode { right },
        ) => authenticator_code(flow, right),
        // A code with no flow waiting for it (it expired, or the browser
        // skipped a step): start again.
        (None, Input::AuthenticatorCode { .. }) => Step {
            flow: None,
            effects: Vec::new(),
            show: Show::TookTooLong,
        },
        (
            _,
            Input::CurrentPassword {
                user,
                locked,
                right,
                totp,
            },
        ) => current_password(user, locked, right, totp, now),
        // Every other pair refuses.
        _ => redirect(SIGN_IN, None),
    }
}

fn password(user: String, client_type: String, next: String, check: PasswordCheck, now: SystemTime) -> Step {
    let failure = |reason: &'static str, count: bool, notice: Notice| Step {
        flow: None,
        effects: vec![Effect::Failure {
            user: user.clone(),
            reason,
            count,
        }],
        show: Show::SignIn {
            user: user.clone(),
            notice,
        },
    };
    // Account and network first: an offboarded user or a wrong network
    // stops here, before any second factor is asked; every failure looks
    // the same to the user.
    match check {
        PasswordCheck { locked: true, .. } => failure("locked", false, Notice::Locked),
        PasswordCheck { allowed: false, .. } => failure("account or network not allowed", true, Notice::Failed),
        PasswordCheck { right: false, .. } => failure("wrong password", true, Notice::Failed),
        PasswordCheck {
            password_sign_in: false,
            ..
        } => failure("password sign-in is off for this user", true, Notice::Failed),
        PasswordCheck {
            second_factor: false, ..
        } => failure("no second factor enrolled", true, Notice::Failed),
        PasswordCheck { .. } => second_factor_due(user, client_type, next, None, now),
    }
}

/// The first factor is proven (a password, or the identity provider):
/// on to the second-factor page, with a flow that waits for it.
fn second_factor_due(
    user: String,
    client_type: String,
    next: String,
    provider: Option<crate::auth::oidc::ProviderSession>,
    now: SystemTime,
) -> Step {
    let due = Flow::SecondFactorDue {
        user,
        client_type,
        next,
        since: secs(now),
        provider,
    };
    redirect(SECOND_FACTOR, Some(due))
}

fn second_factor(due: Flow, check: CodeCheck) -> Step {
    let Flow::SecondFactorDue {
        user,
        client_type,
        next,
        provider,
        ..
    } = due.clone()
    else {
        return redirect(SIGN_IN, None);
    };
    let again = |effects, notice| Step {
        flow: Some(due.clone()),
        effects,
        show: Show::SecondFactor { notice: Some(notice) },
    };
    let failure = |reason: &'static str, count: bool| Effect::Failure {
        user: user.clone(),
        reason,
        count,
    };
    if check.locked {
        return again(vec![failure("locked", false)], Notice::Locked);
    }
    if !check.right {
        return match check.by {
            Proof::Code => again(vec![failure("wrong code", true)], Notice::Failed),
            Proof::Passkey => again(vec![failure("passkey refused", true)], Notice::PasskeyRefused),
        };
    }
    // The account may have been disabled, or the network changed, meanwhile.
    if !check.allowed {
        return again(vec![failure("account or network not allowed", true)], Notice::Failed);
    }
    let mut effects = Vec::new();
    // One account live from two places at once: a sign of a shared login.
    if let Some(other) = check.live_elsewhere {
        effects.push(Effect::SharingSuspected {
            user: user.clone(),
            other,
            refused: check.refuse_sharing,
        });
        if check.refuse_sharing {
            effects.push(failure("account in use from another network", false));
            return again(effects, Notice::InUseElsewhere);
        }
    }
    effects.push(Effect::StartSession {
        user,
        client_type,
        with: SignedInWith::PasswordAndSecondFactor,
        provider,
    });
    Step {
        flow: None,
        effects,
        show: Show::Redirect(next),
    }
}

fn step_up(user: String, next: String, check: CodeCheck) -> Step {
    let again = |effects, notice| Step {
        flow: None,
        effects,
        show: Show::StepUp {
            next: next.clone(),
            notice,
        },
    };
    if check.locked {
        let locked = Effect::Failure {
            user,
            reason: "locked",
            count: false,
        };
        return again(vec![locked], Notice::Locked);
    }
    if !check.right {
        let wrong = Effect::Failure {
            user,
            reason: "wrong step-up code",
            count: true,
        };
        return again(vec![wrong], Notice::Failed);
    }
    Step {
        flow: None,
        effects: vec![Effect::SteppedUp { user }],
        show: Show::Redirect(next),
    }
}

fn invite_password(
    user: String,
    invite: Invite,
    problem: Option<Problem>,
    password: String,
    then: NewFactor,
    now: SystemTime,
) -> Step {
    let (flow, effects, show) = match (problem, then) {
        (Some(problem), _) => (
            None,
            Vec::new(),
            Show::InvitePassword {
                user,
                notice: Notice::Weak(problem),
            },
        ),
        // Codes by email or SMS only: nothing to scan.
        (None, NewFactor::Nothing) => {
            let enrol = Effect::Enrol {
                user,
                invite,
                password,
                totp: None,
                passkey: None,
            };
            (None, vec![enrol], Show::RecoveryCodes)
        }
        (None, NewFactor::Passkey) => {
            let create = Flow::CreatePasskey {
                user: user.clone(),
                invite,
                password,
                since: secs(now),
            };
            (Some(create), Vec::new(), Show::CreatePasskey { user, notice: None })
        }
        (None, NewFactor::Totp(totp)) => {
            let confirm = Flow::ConfirmAuthenticator {
                user: user.clone(),
                invite,
                password,
                totp,
                since: secs(now),
            };
            (Some(confirm), Vec::new(), Show::Scan { user, notice: None })
        }
    };
    Step { flow, effects, show }
}

/// A code from the authenticator a flow is waiting to confirm.
fn authenticator_code(flow: Flow, right: bool) -> Step {
    match (flow, right) {
        (flow @ (Flow::ConfirmAuthenticator { .. } | Flow::ConfirmNewAuthenticator { .. }), false) => {
            let user = flow.user().to_owned();
            Step {
                flow: Some(flow),
                effects: Vec::new(),
                show: Show::Scan {
                    user,
                    notice: Some(Notice::WrongNewCode),
                },
            }
        }
        (
            Flow::ConfirmAuthenticator {
                user,
                invite,
                password,
                totp,
                ..
            },
            true,
        ) => Step {
            flow: None,
            effects: vec![Effect::Enrol {
                user,
                invite,
                password,
                totp: Some(totp),
                passkey: None,
            }],
            show: Show::RecoveryCodes,
        },
        (Flow::ConfirmNewAuthenticator { user, totp, .. }, true) => Step {
            flow: None,
            effects: vec![Effect::ReplaceAuthenticator { user, totp }],
            show: Show::AuthenticatorChanged,
        },
        (Flow::SecondFactorDue { .. } | Flow::CreatePasskey { .. } | Flow::ProviderDue { .. }, _) => {
            redirect(SIGN_IN, None)
        }
    }
}

/// The current password on the account page, to move to a new authenticator.
fn current_password(user: String, locked: bool, right: bool, totp: Sealed, now: SystemTime) -> Step {
    let failure = |reason, count, notice| Step {
        flow: None,
        effects: vec![Effect::Failure {
            user: user.clone(),
            reason,
            count,
        }],
        show: Show::NewAuthenticator { notice },
    };
    match (locked, right) {
        (true, _) => failure("locked", false, Notice::Locked),
        (false, false) => failure(
            "wrong current password on the account page",
            true,
            Notice::WrongCurrentPassword,
        ),
        (false, true) => Step {
            flow: Some(Flow::ConfirmNewAuthenticator {
                user: user.clone(),
                totp,
                since: secs(now),
            }),
            effects: Vec::new(),
            show: Show::Scan { user, notice: None },
        },
    }
}
