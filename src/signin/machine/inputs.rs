//! What goes into a step: what the browser did, with what the engine
//! found out about it beforehand (a lock, whether a password is right).

use std::net::IpAddr;

use crate::auth::credentials::Sealed;
use crate::auth::invite::Invite;

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
