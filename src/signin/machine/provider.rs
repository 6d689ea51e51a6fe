//! The steps of signing in with the company's identity provider: sending
//! the browser there, and its answer. The provider stands for the
//! password; its own second factor counts when the policy trusts it,
//! otherwise ours is asked as after a password.

use std::time::SystemTime;

use super::{redirect, secs, Effect, Flow, Notice, ProviderCheck, Show, SignedInWith, Step};
use crate::auth::oidc::ProviderSession;

pub(super) fn start(
    provider: String,
    client_type: String,
    next: String,
    started: Result<(String, crate::auth::oidc::Kept), String>,
    now: SystemTime,
) -> Step {
    match started {
        Ok((url, kept)) => redirect(
            &url,
            Some(Flow::ProviderDue {
                kept,
                client_type,
                next,
                since: secs(now),
            }),
        ),
        Err(detail) => Step {
            flow: None,
            effects: vec![Effect::ProviderFailure {
                provider,
                user: None,
                detail,
            }],
            show: Show::ProviderProblem,
        },
    }
}

pub(super) fn answer(flow: Flow, check: ProviderCheck, now: SystemTime) -> Step {
    let Flow::ProviderDue {
        client_type,
        next,
        kept,
        ..
    } = flow
    else {
        return redirect(super::SIGN_IN, None);
    };
    if let Some(step_up) = kept.step_up {
        return stepped_up(step_up.user, next, check);
    }
    let user = match check.user {
        Ok(user) => user,
        Err(detail) => {
            return Step {
                flow: None,
                effects: vec![Effect::ProviderFailure {
                    provider: check.provider,
                    user: None,
                    detail,
                }],
                show: Show::ProviderProblem,
            }
        }
    };
    let failure = |reason: &'static str, show: Show| Step {
        flow: None,
        effects: vec![Effect::Failure {
            user: user.clone(),
            reason,
            count: false,
        }],
        show,
    };
    match check {
        ProviderCheck { locked: true, .. } => failure(
            "locked",
            Show::SignIn {
                user: String::new(),
                notice: Notice::Locked,
            },
        ),
        ProviderCheck { allowed: false, .. } => failure("account or network not allowed", Show::ProviderProblem),
        ProviderCheck {
            mfa: true,
            live_elsewhere,
            refuse_sharing,
            session,
            ..
        } => start_session(
            user,
            client_type,
            next,
            SignedInWith::Provider,
            session,
            (live_elsewhere, refuse_sharing),
        ),
        ProviderCheck {
            second_factor: true,
            session,
            ..
        } => super::second_factor_due(user, client_type, next, session, now),
        ProviderCheck { .. } => failure("no second factor enrolled", Show::ProviderProblem),
    }
}

/// A signed-in user back from proving themselves again at the provider:
/// it must have signed in the same user afresh, with its second factor.
fn stepped_up(user: String, next: String, check: ProviderCheck) -> Step {
    let why = match &check.user {
        Err(detail) => Some(detail.clone()),
        Ok(named) if *named != user => Some(format!("step-up: the provider signed in {named}, not {user}")),
        Ok(_) if check.locked || !check.allowed => Some("step-up: account locked or not allowed".into()),
        Ok(_) if !check.mfa => Some("step-up: the provider did not use a second factor it is trusted for".into()),
        Ok(_) => None,
    };
    match why {
        None => Step {
            flow: None,
            effects: vec![Effect::SteppedUp { user }],
            show: Show::Redirect(next),
        },
        Some(detail) => Step {
            flow: None,
            effects: vec![Effect::ProviderFailure {
                provider: check.provider,
                user: Some(user),
                detail,
            }],
            show: Show::ProviderProblem,
        },
    }
}

/// Both factors are proven at once (a passkey alone, or a provider whose
/// second factor is trusted): a session, unless the account is live from
/// another network (`elsewhere`: where, and whether the policy refuses
/// sharing) and the policy refuses sharing.
pub(super) fn start_session(
    user: String,
    client_type: String,
    next: String,
    with: SignedInWith,
    provider: Option<ProviderSession>,
    (live_elsewhere, refuse_sharing): (Option<std::net::IpAddr>, bool),
) -> Step {
    let sharing = live_elsewhere.map(|other| Effect::SharingSuspected {
        user: user.clone(),
        other,
        refused: refuse_sharing,
    });
    if sharing.is_some() && refuse_sharing {
        let refused = Effect::Failure {
            user,
            reason: "account in use from another network",
            count: false,
        };
        return Step {
            flow: None,
            effects: sharing.into_iter().chain([refused]).collect(),
            show: Show::SignIn {
                user: String::new(),
                notice: Notice::InUseElsewhere,
            },
        };
    }
    let start = Effect::StartSession {
        user,
        client_type,
        with,
        provider,
    };
    Step {
        flow: None,
        effects: sharing.into_iter().chain([start]).collect(),
        show: Show::Redirect(next),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::super::{step, Input, CONFIRM_WITHIN, SECOND_FACTOR};
    use super::*;
    use crate::auth::oidc::Kept;

    const NOW: u64 = 1_800_000_000;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn sent_off() -> Flow {
        let input = Input::ProviderStart {
            provider: "okta".into(),
            client_type: "web".into(),
            next: "/deals".into(),
            started: Ok(("https://idp.example/auth?state=s".into(), kept())),
        };
        let step = step(None, input, at(NOW));
        assert_eq!(step.show, Show::Redirect("https://idp.example/auth?state=s".into()));
        step.flow.expect("a flow waits for the provider")
    }

    fn kept() -> Kept {
        Kept {
            provider: "okta".into(),
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            redirect: "https://crm.example/.portcullis/sso/okta/callback".into(),
            step_up: None,
        }
    }

    fn vouched(user: &str) -> ProviderCheck {
        ProviderCheck {
            provider: "okta".into(),
            user: Ok(user.into()),
            session: Some(okta_session()),
            locked: false,
            allowed: true,
            mfa: false,
            second_factor: true,
            live_elsewhere: None,
            refuse_sharing: false,
        }
    }

    fn okta_session() -> ProviderSession {
        ProviderSession {
            provider: "okta".into(),
            subject: "00u1".into(),
            sid: Some("sid-1".into()),
            id_token: "a.b.c".into(),
            mfa: false,
        }
    }

    fn answer(check: ProviderCheck, after: u64) -> Step {
        step(Some(sent_off()), Input::ProviderAnswer(check), at(NOW + after))
    }

    #[test]
    fn the_provider_stands_for_the_password_and_ours_is_the_second_factor() {
        let step = answer(vouched("alice"), 30);
        assert_eq!(step.show, Show::Redirect(SECOND_FACTOR.into()));
        assert!(
            matches!(step.flow, Some(Flow::SecondFactorDue { ref user, ref next, ref provider, .. })
                if user == "alice" && next == "/deals" && *provider == Some(okta_session()))
        );
        assert!(step.effects.is_empty());
    }

    #[test]
    fn a_trusted_second_factor_at_the_provider_signs_in_at_once() {
        let check = ProviderCheck {
            mfa: true,
            second_factor: false,
            ..vouched("carol")
        };
        let step = answer(check, 30);
        assert_eq!(step.show, Show::Redirect("/deals".into()));
        assert_eq!(
            step.effects,
            vec![Effect::StartSession {
                user: "carol".into(),
                client_type: "web".into(),
                with: SignedInWith::Provider,
                provider: Some(okta_session()),
            }]
        );
    }

    #[test]
    fn nobody_the_policy_refuses_gets_in_and_the_audit_log_says_why() {
        let stranger = ProviderCheck {
            user: Err("not in users".into()),
            ..vouched("")
        };
        let step = answer(stranger, 30);
        assert_eq!(step.show, Show::ProviderProblem);
        assert!(matches!(&step.effects[..], [Effect::ProviderFailure { detail, .. }] if detail == "not in users"));
        for refused in [
            ProviderCheck {
                allowed: false,
                ..vouched("dave")
            },
            ProviderCheck {
                second_factor: false,
                ..vouched("erin")
            },
        ] {
            let step = answer(refused, 30);
            assert_eq!(step.show, Show::ProviderProblem);
            assert!(step.flow.is_none());
            assert!(matches!(&step.effects[..], [Effect::Failure { count: false, .. }]));
        }
        let locked = answer(
            ProviderCheck {
                locked: true,
                ..vouched("alice")
            },
            30,
        );
        assert!(matches!(
            locked.show,
            Show::SignIn {
                notice: Notice::Locked,
                ..
            }
        ));
    }

    #[test]
    fn an_answer_after_the_flow_expired_or_without_one_starts_again() {
        let late = answer(vouched("alice"), CONFIRM_WITHIN.as_secs());
        assert_eq!(late.show, Show::Redirect(super::super::SIGN_IN.into()));
        assert!(late.effects.is_empty() && late.flow.is_none());
        let none = step(None, Input::ProviderAnswer(vouched("alice")), at(NOW));
        assert!(none.effects.is_empty() && none.flow.is_none());
    }

    #[test]
    fn a_provider_that_cannot_be_reached_is_a_plain_page() {
        let input = Input::ProviderStart {
            provider: "okta".into(),
            client_type: "web".into(),
            next: "/".into(),
            started: Err("connect refused".into()),
        };
        let step = step(None, input, at(NOW));
        assert_eq!(step.show, Show::ProviderProblem);
        assert!(step.flow.is_none());
    }

    #[test]
    fn a_step_up_at_the_provider_renews_the_session_of_the_same_user_proven_with_its_second_factor() {
        let sent_for_step_up = || Flow::ProviderDue {
            kept: Kept {
                step_up: Some(crate::auth::oidc::StepUp {
                    user: "carol".into(),
                    since: NOW,
                }),
                ..kept()
            },
            client_type: "web".into(),
            next: "/contacts/export".into(),
            since: NOW,
        };
        let back = |check: ProviderCheck| step(Some(sent_for_step_up()), Input::ProviderAnswer(check), at(NOW + 20));
        let renewed = back(ProviderCheck {
            mfa: true,
            ..vouched("carol")
        });
        assert_eq!(renewed.show, Show::Redirect("/contacts/export".into()));
        assert_eq!(renewed.effects, vec![Effect::SteppedUp { user: "carol".into() }]);
        assert_eq!(renewed.flow, None, "no new session, no flow");

        for (check, why) in [
            (vouched("carol"), "did not use a second factor"),
            (
                ProviderCheck {
                    mfa: true,
                    ..vouched("alice")
                },
                "signed in alice, not carol",
            ),
            (
                ProviderCheck {
                    mfa: true,
                    allowed: false,
                    ..vouched("carol")
                },
                "not allowed",
            ),
        ] {
            let refused = back(check);
            assert_eq!(refused.show, Show::ProviderProblem, "{why}");
            assert!(
                matches!(&refused.effects[..], [Effect::ProviderFailure { detail, .. }] if detail.contains(why)),
                "{why}: {:?}",
                refused.effects
            );
        }
    }
}
