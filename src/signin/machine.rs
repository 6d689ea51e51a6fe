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
//!
//!  invite ok, strong password ──(totp)──▶ ConfirmAuthenticator ──code──▶ enrolled
//!                             └─(codes by email or SMS only)──────────▶ enrolled
//! ```
//!
//! A passkey or a company identity provider adds states and inputs here
//! (another first or second factor), not special cases in the pages.
//! Every pair of flow and input that is not drawn above refuses: the flow
//! ends and the browser starts again.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::auth::credentials::Sealed;
use crate::auth::invite::Invite;

/// How long a flow waits for its next step.
pub const SECOND_FACTOR_WITHIN: Duration = Duration::from_secs(5 * 60);
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(15 * 60);

/// Where one browser's sign-in stands, kept in the store under its flow
/// cookie between requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    /// The password is proven for `user`; a second factor is due.
    SecondFactorDue {
        user: String,
        client_type: String,
        next: String,
        since: u64,
    },
    /// An invite's password is chosen; a code from the authenticator just
    /// shown must confirm it.
    ConfirmAuthenticator {
        user: String,
        /// The link: its use is recorded at the end.
        invite: Invite,
        /// The password's argon2id hash.
        password: String,
        totp: Sealed,
        since: u64,
    },
    /// A signed-in user is moving to a new authenticator.
    ConfirmNewAuthenticator { user: String, totp: Sealed, since: u64 },
}

impl Flow {
    fn since(&self) -> u64 {
        match self {
            Flow::SecondFactorDue { since, .. }
            | Flow::ConfirmAuthenticator { since, .. }
            | Flow::ConfirmNewAuthenticator { since, .. } => *since,
        }
    }

    /// Whose sign-in or enrolment it is.
    pub fn user(&self) -> &str {
        match self {
            Flow::SecondFactorDue { user, .. }
            | Flow::ConfirmAuthenticator { user, .. }
            | Flow::ConfirmNewAuthenticator { user, .. } => user,
        }
    }

    fn within(&self) -> Duration {
        match self {
            Flow::SecondFactorDue { .. } => SECOND_FACTOR_WITHIN,
            _ => CONFIRM_WITHIN,
        }
    }

    /// Has it waited too long for its next step at `now`?
    pub fn expired(&self, now: SystemTime) -> bool {
        secs(now) >= self.since().saturating_add(self.within().as_secs())
    }
}

/// What the engine found out about a password before the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCheck {
    /// The account or the address is locked out.
    pub locked: bool,
    /// The account exists, is enabled, unexpired, and may use this client
    /// type from this address.
    pub allowed: bool,
    pub right: bool,
    /// The user has some second factor: an authenticator, a code the
    /// gateway can send, or recovery codes left.
    pub second_factor: bool,
}

/// What the engine found out about a code before the step. Checking a code
/// spends it (a code works once), so `right` is already final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeCheck {
    pub locked: bool,
    pub right: bool,
    /// Still allowed (disabled or moved elsewhere meanwhile?).
    pub allowed: bool,
    /// A live session of the same account from another network.
    pub live_elsewhere: Option<IpAddr>,
    /// `sessions.on_sharing: refuse`.
    pub refuse_sharing: bool,
}

/// What the browser did, with what the engine found out about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The sign-in form.
    Password {
        user: String,
        client_type: String,
        next: String,
        check: PasswordCheck,
    },
    /// A code on the second-factor page.
    Code(CodeCheck),
    /// A code on the step-up page, from a signed-in user.
    StepUpCode {
        user: String,
        next: String,
        check: CodeCheck,
    },
    /// An invite link's password form: `problem` if the password is weak,
    /// else its hash; `totp` the secret to show, unless the user signs in
    /// with sent codes only.
    InvitePassword {
        user: String,
        invite: Invite,
        problem: Option<Problem>,
        password: String,
        totp: Option<Sealed>,
    },
    /// A code from the authenticator just shown (enrolment or a new one).
    AuthenticatorCode { right: bool },
    /// The current password, to move to a new authenticator (`totp`).
    CurrentPassword {
        user: String,
        locked: bool,
        right: bool,
        totp: Sealed,
    },
}

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    TooShort,
    NotSame,
    HasUsername,
    TooEasy,
    UsedBefore,
}

/// What must happen, in order, for the step to take effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A failed attempt: audited with its reason; counted towards the
    /// lockout when `count`.
    Failure {
        user: String,
        reason: &'static str,
        count: bool,
    },
    /// An account live from two networks at once.
    SharingSuspected { user: String, other: IpAddr, refused: bool },
    /// The sign-in is complete: start a session and record the sign-in.
    StartSession { user: String, client_type: String },
    /// The session proved a second factor again.
    SteppedUp { user: String },
    /// Save the new credentials (with fresh recovery codes), record the
    /// invite as used, end the user's sessions.
    Enrol {
        user: String,
        invite: Invite,
        password: String,
        totp: Option<Sealed>,
    },
    /// Replace the user's authenticator secret.
    ReplaceAuthenticator { user: String, totp: Sealed },
}

/// A notice on a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Failed,
    Locked,
    InUseElsewhere,
    WrongNewCode,
    WrongCurrentPassword,
    TookTooLong,
    Weak(Problem),
}

/// What the browser sees next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Show {
    /// The sign-in form again, with the username kept.
    SignIn {
        user: String,
        notice: Notice,
    },
    /// The code form of the sign-in.
    SecondFactor {
        notice: Option<Notice>,
    },
    /// The step-up code form.
    StepUp {
        next: String,
        notice: Notice,
    },
    /// The invite's password form, for `user`.
    InvitePassword {
        user: String,
        notice: Notice,
    },
    /// The authenticator's QR code (for `user`) and a form for its first code.
    Scan {
        user: String,
        notice: Option<Notice>,
    },
    /// A flow that waited too long, or was never started: start again.
    TookTooLong,
    /// The authenticator page of the account (its password form).
    NewAuthenticator {
        notice: Notice,
    },
    /// Somewhere else: the page the user came for, or a portal page.
    Redirect(String),
    /// The recovery codes the `Enrol` effect made.
    RecoveryCodes,
    AuthenticatorChanged,
    /// An invite link that cannot be used, and why.
    Link(super::enrol::LinkProblem),
}

/// The outcome of a [`step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The flow from now on (`None`: it ends).
    pub flow: Option<Flow>,
    pub effects: Vec<Effect>,
    pub show: Show,
}

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
        (
            Some(Flow::SecondFactorDue {
                user,
                client_type,
                next,
                since,
            }),
            Input::Code(check),
        ) => {
            let due = Flow::SecondFactorDue {
                user: user.clone(),
                client_type: client_type.clone(),
                next: next.clone(),
                since,
            };
            second_factor(due, user, client_type, next, check)
        }
        (None, Input::StepUpCode { user, next, check }) => step_up(user, next, check),
        (
            _,
            Input::InvitePassword {
                user,
                invite,
                problem,
                password,
                totp,
            },
        ) => invite_password(user, invite, problem, password, totp, now),
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
            second_factor: false, ..
        } => failure("no second factor enrolled", true, Notice::Failed),
        PasswordCheck { .. } => redirect(
            SECOND_FACTOR,
            Some(Flow::SecondFactorDue {
                user,
                client_type,
                next,
                since: secs(now),
            }),
        ),
    }
}

fn second_factor(due: Flow, user: String, client_type: String, next: String, check: CodeCheck) -> Step {
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
        return again(vec![failure("wrong code", true)], Notice::Failed);
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
    effects.push(Effect::StartSession { user, client_type });
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
    totp: Option<Sealed>,
    now: SystemTime,
) -> Step {
    let (flow, effects, show) = match (problem, totp) {
        (Some(problem), _) => (
            None,
            Vec::new(),
            Show::InvitePassword {
                user,
                notice: Notice::Weak(problem),
            },
        ),
        // Codes by email or SMS only: nothing to scan.
        (None, None) => {
            let enrol = Effect::Enrol {
                user,
                invite,
                password,
                totp: None,
            };
            (None, vec![enrol], Show::RecoveryCodes)
        }
        (None, Some(totp)) => {
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
            }],
            show: Show::RecoveryCodes,
        },
        (Flow::ConfirmNewAuthenticator { user, totp, .. }, true) => Step {
            flow: None,
            effects: vec![Effect::ReplaceAuthenticator { user, totp }],
            show: Show::AuthenticatorChanged,
        },
        (Flow::SecondFactorDue { .. }, _) => redirect(SIGN_IN, None),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    const NOW: u64 = 1_800_000_000;

    fn invite() -> Invite {
        Invite {
            user: "erin".into(),
            issued_ms: 0,
            expires: NOW + 3600,
            nonce: "00ff".into(),
        }
    }

    fn good_password() -> PasswordCheck {
        PasswordCheck {
            locked: false,
            allowed: true,
            right: true,
            second_factor: true,
        }
    }

    fn good_code() -> CodeCheck {
        CodeCheck {
            locked: false,
            right: true,
            allowed: true,
            live_elsewhere: None,
            refuse_sharing: false,
        }
    }

    fn sign_in(check: PasswordCheck) -> Step {
        let input = Input::Password {
            user: "alice".into(),
            client_type: "web".into(),
            next: "/contacts".into(),
            check,
        };
        step(None, input, at(NOW))
    }

    fn due(since: u64) -> Flow {
        Flow::SecondFactorDue {
            user: "alice".into(),
            client_type: "web".into(),
            next: "/contacts".into(),
            since,
        }
    }

    #[test]
    fn a_right_password_makes_a_second_factor_due_and_a_right_code_signs_in() {
        let first = sign_in(good_password());
        assert_eq!(first.flow, Some(due(NOW)));
        assert_eq!(first.show, Show::Redirect("/.portcullis/second-factor".into()));
        assert!(first.effects.is_empty());
        let second = step(first.flow, Input::Code(good_code()), at(NOW + 30));
        assert_eq!(second.flow, None);
        assert_eq!(
            second.effects,
            [Effect::StartSession {
                user: "alice".into(),
                client_type: "web".into()
            }]
        );
        assert_eq!(second.show, Show::Redirect("/contacts".into()));
    }

    #[test]
    fn every_failed_password_looks_the_same_keeps_the_username_and_counts_but_a_lock() {
        for (check, reason, count, notice) in [
            (
                PasswordCheck {
                    right: false,
                    ..good_password()
                },
                "wrong password",
                true,
                Notice::Failed,
            ),
            (
                PasswordCheck {
                    allowed: false,
                    ..good_password()
                },
                "account or network not allowed",
                true,
                Notice::Failed,
            ),
            (
                PasswordCheck {
                    second_factor: false,
                    ..good_password()
                },
                "no second factor enrolled",
                true,
                Notice::Failed,
            ),
            (
                PasswordCheck {
                    locked: true,
                    ..good_password()
                },
                "locked",
                false,
                Notice::Locked,
            ),
        ] {
            let step = sign_in(check);
            assert_eq!(step.flow, None);
            assert_eq!(
                step.effects,
                [Effect::Failure {
                    user: "alice".into(),
                    reason,
                    count
                }]
            );
            assert_eq!(
                step.show,
                Show::SignIn {
                    user: "alice".into(),
                    notice
                }
            );
        }
    }

    #[test]
    fn a_wrong_code_keeps_the_flow_and_counts_and_a_late_one_starts_again() {
        let wrong = step(
            Some(due(NOW)),
            Input::Code(CodeCheck {
                right: false,
                ..good_code()
            }),
            at(NOW + 10),
        );
        assert_eq!(wrong.flow, Some(due(NOW)));
        assert_eq!(
            wrong.show,
            Show::SecondFactor {
                notice: Some(Notice::Failed)
            }
        );
        assert!(matches!(wrong.effects[..], [Effect::Failure { count: true, .. }]));
        let late = step(Some(due(NOW)), Input::Code(good_code()), at(NOW + 300));
        assert_eq!(
            late.show,
            Show::Redirect("/.portcullis/login".into()),
            "five minutes passed"
        );
        assert!(late.effects.is_empty());
    }

    #[test]
    fn a_right_code_from_an_account_offboarded_meanwhile_does_not_sign_in() {
        let step = step(
            Some(due(NOW)),
            Input::Code(CodeCheck {
                allowed: false,
                ..good_code()
            }),
            at(NOW + 10),
        );
        assert!(!step.effects.iter().any(|e| matches!(e, Effect::StartSession { .. })));
        assert_eq!(
            step.show,
            Show::SecondFactor {
                notice: Some(Notice::Failed)
            }
        );
    }

    #[test]
    fn sharing_is_audited_and_refused_only_when_the_policy_says_so() {
        let elsewhere = CodeCheck {
            live_elsewhere: Some("198.51.100.7".parse().unwrap()),
            ..good_code()
        };
        let allowed = step(Some(due(NOW)), Input::Code(elsewhere.clone()), at(NOW + 10));
        assert!(matches!(
            allowed.effects[0],
            Effect::SharingSuspected { refused: false, .. }
        ));
        assert!(matches!(allowed.effects[1], Effect::StartSession { .. }));
        let refused = step(
            Some(due(NOW)),
            Input::Code(CodeCheck {
                refuse_sharing: true,
                ..elsewhere
            }),
            at(NOW + 10),
        );
        assert!(matches!(
            refused.effects[0],
            Effect::SharingSuspected { refused: true, .. }
        ));
        assert!(!refused.effects.iter().any(|e| matches!(e, Effect::StartSession { .. })));
        assert_eq!(
            refused.show,
            Show::SecondFactor {
                notice: Some(Notice::InUseElsewhere)
            }
        );
    }

    #[test]
    fn unexpected_pairs_refuse() {
        // A code without a password first; a code for an enrolment's flow.
        assert_eq!(
            step(None, Input::Code(good_code()), at(NOW)).show,
            Show::Redirect("/.portcullis/login".into())
        );
        let enrolling = Flow::ConfirmAuthenticator {
            user: "bob".into(),
            invite: invite(),
            password: "h".into(),
            totp: Sealed::dummy(),
            since: NOW,
        };
        let mixed = step(Some(enrolling), Input::Code(good_code()), at(NOW));
        assert_eq!(mixed.flow, None);
        assert!(mixed.effects.is_empty());
        // An authenticator's code while a sign-in's second factor is due.
        let confused = step(Some(due(NOW)), Input::AuthenticatorCode { right: true }, at(NOW));
        assert_eq!((confused.flow, confused.effects), (None, vec![]));
        // A step-up while a sign-in flow waits.
        let step_up = Input::StepUpCode {
            user: "alice".into(),
            next: "/x".into(),
            check: good_code(),
        };
        assert!(step(Some(due(NOW)), step_up, at(NOW)).effects.is_empty());
    }

    #[test]
    fn enrolment_with_an_authenticator_waits_for_its_code() {
        let input = Input::InvitePassword {
            user: "erin".into(),
            invite: invite(),
            problem: None,
            password: "hash".into(),
            totp: Some(Sealed::dummy()),
        };
        let shown = step(None, input, at(NOW));
        let scan = |notice| Show::Scan {
            user: "erin".into(),
            notice,
        };
        assert_eq!(shown.show, scan(None));
        let wrong = step(
            shown.flow.clone(),
            Input::AuthenticatorCode { right: false },
            at(NOW + 60),
        );
        assert_eq!(wrong.show, scan(Some(Notice::WrongNewCode)));
        assert_eq!(wrong.flow, shown.flow);
        let late = step(
            shown.flow.clone(),
            Input::AuthenticatorCode { right: true },
            at(NOW + 15 * 60),
        );
        assert_eq!(
            (late.show, late.effects),
            (Show::TookTooLong, vec![]),
            "a code after 15 minutes starts again"
        );
        let right = step(shown.flow, Input::AuthenticatorCode { right: true }, at(NOW + 61));
        assert!(matches!(&right.effects[..], [Effect::Enrol { totp: Some(_), .. }]));
        assert_eq!(right.show, Show::RecoveryCodes);
        let weak = Input::InvitePassword {
            user: "erin".into(),
            invite: invite(),
            problem: Some(Problem::TooShort),
            password: String::new(),
            totp: None,
        };
        let weak = step(None, weak, at(NOW));
        assert_eq!(
            weak.show,
            Show::InvitePassword {
                user: "erin".into(),
                notice: Notice::Weak(Problem::TooShort)
            }
        );
        assert!(weak.effects.is_empty() && weak.flow.is_none());
    }

    #[test]
    fn a_step_up_with_a_right_code_records_it_and_returns_to_the_page() {
        let input = |check| Input::StepUpCode {
            user: "alice".into(),
            next: "/contacts/export".into(),
            check,
        };
        let done = step(None, input(good_code()), at(NOW));
        assert_eq!(done.effects, [Effect::SteppedUp { user: "alice".into() }]);
        assert_eq!(done.show, Show::Redirect("/contacts/export".into()));
        let wrong = step(
            None,
            input(CodeCheck {
                right: false,
                ..good_code()
            }),
            at(NOW),
        );
        assert_eq!(
            wrong.show,
            Show::StepUp {
                next: "/contacts/export".into(),
                notice: Notice::Failed
            }
        );
    }

    #[test]
    fn a_new_authenticator_needs_the_current_password_then_a_code_from_it() {
        let input = |locked, right| Input::CurrentPassword {
            user: "alice".into(),
            locked,
            right,
            totp: Sealed::dummy(),
        };
        assert_eq!(
            step(None, input(false, false), at(NOW)).show,
            Show::NewAuthenticator {
                notice: Notice::WrongCurrentPassword
            }
        );
        let started = step(None, input(false, true), at(NOW));
        assert!(matches!(started.flow, Some(Flow::ConfirmNewAuthenticator { .. })));
        let done = step(started.flow, Input::AuthenticatorCode { right: true }, at(NOW + 5));
        assert!(matches!(&done.effects[..], [Effect::ReplaceAuthenticator { .. }]));
        assert_eq!(done.show, Show::AuthenticatorChanged);
    }
}
