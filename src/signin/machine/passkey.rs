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
            live_elsewhere,
            refuse_sharing,
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
