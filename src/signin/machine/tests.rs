//! The machine's steps, each pair of flow and input, without a store.

use super::*;

pub(super) fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

pub(super) const NOW: u64 = 1_800_000_000;

pub(super) fn invite() -> Invite {
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
        password_sign_in: true,
    }
}

fn good_code() -> CodeCheck {
    CodeCheck {
        locked: false,
        right: true,
        allowed: true,
        live_elsewhere: None,
        refuse_sharing: false,
        by: Proof::Code,
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
        provider: None,
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
            client_type: "web".into(),
            with: SignedInWith::PasswordAndSecondFactor,
            provider: None,
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
                password_sign_in: false,
                ..good_password()
            },
            "password sign-in is off for this user",
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
        then: NewFactor::Totp(Sealed::dummy()),
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
        then: NewFactor::Nothing,
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
