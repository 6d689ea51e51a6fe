//! The steps of passkeys: one alone on the sign-in page (the checks of a
//! password and of a second factor at once), and the first passkey an
//! invite's user makes. A passkey as a second factor is a code to the
//! machine ([`super::Proof::Passkey`]).

use crate::auth::passkey::NewPasskey;

use super::{Effect, Flow, Notice, PasskeyAloneCheck, Show, SignedInWith, Step};

/// A passkey alone: the checks of a password and of a second factor at once.
pub(super) fn alone(user: String, client_type: String, next: String, check: PasskeyAloneCheck) -> Step {
    let failure = |reason: &'static str, count: bool, notice: Notice| Step {
        flow: None,
        effects: vec![Effect::Failure {
            user: user.clone(),
            reason,
            count,
        }],
        show: Show::SignIn {
            user: String::new(),
            notice,
        },
    };
    match check {
        PasskeyAloneCheck { locked: true, .. } => failure("locked", false, Notice::Locked),
        PasskeyAloneCheck { right: false, .. } => failure("passkey refused", true, Notice::PasskeyRefused),
        PasskeyAloneCheck { allowed: false, .. } => failure("account or network not allowed", true, Notice::Failed),
        PasskeyAloneCheck {
            passwordless: false, ..
        } => failure("passkey alone not allowed for this user", true, Notice::Failed),
        PasskeyAloneCheck {
            live_elsewhere,
            refuse_sharing,
            ..
        } => super::provider::start_session(
            user,
            client_type,
            next,
            SignedInWith::Passkey,
            None,
            (live_elsewhere, refuse_sharing),
        ),
    }
}

/// The passkey an invite's user made: enrolled, or the page again.
pub(super) fn made(flow: Flow, key: Option<NewPasskey>) -> Step {
    match (flow, key) {
        (
            Flow::CreatePasskey {
                user, invite, password, ..
            },
            Some(key),
        ) => Step {
            flow: None,
            effects: vec![Effect::Enrol {
                user,
                invite,
                password,
                totp: None,
                passkey: Some(Box::new(key)),
            }],
            show: Show::RecoveryCodes,
        },
        (flow, _) => {
            let user = flow.user().to_owned();
            Step {
                flow: Some(flow),
                effects: Vec::new(),
                show: Show::CreatePasskey {
                    user,
                    notice: Some(Notice::PasskeyRefused),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, invite, NOW};
    use super::super::*;

    fn alone(check: PasskeyAloneCheck) -> Step {
        let input = Input::PasskeyAlone {
            user: "alice".into(),
            client_type: "web".into(),
            next: "/contacts".into(),
            check,
        };
        step(None, input, at(NOW))
    }

    #[test]
    fn a_passkey_alone_signs_in_only_where_the_policy_lets_it_and_the_account_may() {
        let good = PasskeyAloneCheck {
            locked: false,
            allowed: true,
            right: true,
            passwordless: true,
            live_elsewhere: None,
            refuse_sharing: false,
        };
        let signed_in = alone(good.clone());
        assert_eq!(signed_in.show, Show::Redirect("/contacts".into()));
        assert!(matches!(
            &signed_in.effects[..],
            [Effect::StartSession {
                with: SignedInWith::Passkey,
                ..
            }]
        ));
        for (check, reason) in [
            (
                PasskeyAloneCheck {
                    passwordless: false,
                    ..good.clone()
                },
                "passkey alone not allowed for this user",
            ),
            (
                PasskeyAloneCheck {
                    allowed: false,
                    ..good.clone()
                },
                "account or network not allowed",
            ),
            (
                PasskeyAloneCheck {
                    right: false,
                    ..good.clone()
                },
                "passkey refused",
            ),
            (
                PasskeyAloneCheck {
                    locked: true,
                    ..good.clone()
                },
                "locked",
            ),
        ] {
            let refused = alone(check);
            assert!(matches!(refused.show, Show::SignIn { .. }), "{reason}");
            assert!(
                matches!(&refused.effects[..], [Effect::Failure { reason: r, .. }] if *r == reason),
                "{:?}",
                refused.effects
            );
            assert_eq!(refused.flow, None);
        }
    }

    #[test]
    fn an_invites_passkey_enrols_within_fifteen_minutes_and_a_refused_one_asks_again() {
        let input = Input::InvitePassword {
            user: "erin".into(),
            invite: invite(),
            problem: None,
            password: "hash".into(),
            then: NewFactor::Passkey,
        };
        let shown = step(None, input, at(NOW));
        assert_eq!(
            shown.show,
            Show::CreatePasskey {
                user: "erin".into(),
                notice: None
            }
        );
        let refused = step(shown.flow.clone(), Input::NewPasskey { key: None }, at(NOW + 60));
        assert_eq!(
            refused.show,
            Show::CreatePasskey {
                user: "erin".into(),
                notice: Some(Notice::PasskeyRefused)
            }
        );
        assert_eq!(refused.flow, shown.flow, "the flow waits for another try");
        assert!(refused.effects.is_empty());
        let late = step(shown.flow, Input::NewPasskey { key: None }, at(NOW + 15 * 60));
        assert_eq!((late.show, late.effects), (Show::TookTooLong, vec![]));
    }
}
