//! What goes into a step: what the browser did, with what the engine
//! found out about it beforehand (a lock, whether a password is right).

use std::net::IpAddr;

use crate::auth::credentials::Sealed;
use crate::auth::invite::Invite;
use crate::auth::passkey::NewPasskey;

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
    /// The policy lets this user sign in with a password at all
    /// (`password_sign_in`); else only with the company's identity provider.
    pub password_sign_in: bool,
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
    /// What was offered as the proof.
    pub by: Proof,
}

/// What proved the second factor (or the step-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A code: from the authenticator app, sent, or a recovery code.
    Code,
    Passkey,
}

/// What the engine found out about a passkey offered without a username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyAloneCheck {
    pub locked: bool,
    /// As for a password: the account may use the CRM from here.
    pub allowed: bool,
    /// The signature is good, from one of the user's passkeys.
    pub right: bool,
    /// The policy lets a passkey alone sign this user in.
    pub passwordless: bool,
    pub live_elsewhere: Option<IpAddr>,
    pub refuse_sharing: bool,
}

/// What the engine found out about the identity provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCheck {
    pub provider: String,
    /// The user in `users` the provider vouched for, or why there is none
    /// (for the audit log; the browser sees one plain page for all).
    pub user: Result<String, String>,
    /// The provider's session that vouched (when it did).
    pub session: Option<crate::auth::oidc::ProviderSession>,
    pub locked: bool,
    /// As for a password: the account may use the CRM from here.
    pub allowed: bool,
    /// The provider asked for a second factor itself, and the provider's
    /// `trust_mfa` accepts how.
    pub mfa: bool,
    /// The user has a second factor of ours, for when the provider's is not trusted.
    pub second_factor: bool,
    pub live_elsewhere: Option<IpAddr>,
    pub refuse_sharing: bool,
}

/// What an invite's user sets up after the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewFactor {
    /// This authenticator secret, to scan.
    Totp(Sealed),
    /// A passkey, made in the browser next.
    Passkey,
    /// Nothing: codes are sent by email or SMS.
    Nothing,
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
    /// "Sign in with <provider>": where to send the browser and what to
    /// keep, or why the provider cannot be used now.
    ProviderStart {
        provider: String,
        client_type: String,
        next: String,
        started: Result<(String, crate::auth::oidc::Kept), String>,
    },
    /// The provider's answer, checked.
    ProviderAnswer(ProviderCheck),
    /// A passkey on the sign-in page, for whoever it names.
    PasskeyAlone {
        user: String,
        client_type: String,
        next: String,
        check: PasskeyAloneCheck,
    },
    /// A code on the step-up page, from a signed-in user.
    StepUpCode {
        user: String,
        next: String,
        check: CodeCheck,
    },
    /// An invite link's password form: `problem` if the password is weak,
    /// else its hash; `then` what the user sets up next.
    InvitePassword {
        user: String,
        invite: Invite,
        problem: Option<Problem>,
        password: String,
        then: NewFactor,
    },
    /// The passkey an invite's user just made: `None` if it was refused.
    NewPasskey { key: Option<NewPasskey> },
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
    /// The directory did not take it (the user's password lives there).
    NotDirectoryPassword,
}

impl CodeCheck {
    /// For a code with no flow to check it against (refused by the step).
    pub fn nothing() -> CodeCheck {
        CodeCheck {
            locked: false,
            right: false,
            allowed: false,
            live_elsewhere: None,
            refuse_sharing: false,
            by: Proof::Code,
        }
    }
}
