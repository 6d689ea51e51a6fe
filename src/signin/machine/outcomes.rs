//! What comes out of a step: the effects to carry out, in order, and
//! what the browser sees.

use std::net::IpAddr;

use crate::auth::credentials::Sealed;
use crate::auth::invite::Invite;
use crate::auth::passkey::NewPasskey;

use super::{Flow, Problem};

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
    StartSession {
        user: String,
        client_type: String,
        with: SignedInWith,
        /// The identity provider's session it came from, if it did.
        provider: Option<crate::auth::oidc::ProviderSession>,
    },
    /// The session proved a second factor again.
    SteppedUp { user: String },
    /// Save the new credentials (with fresh recovery codes), record the
    /// invite as used, end the user's sessions.
    Enrol {
        user: String,
        invite: Invite,
        password: String,
        totp: Option<Sealed>,
        passkey: Option<Box<NewPasskey>>,
    },
    /// Signing in with an identity provider failed: audited with the
    /// provider's detail (never a token).
    ProviderFailure {
        provider: String,
        user: Option<String>,
        detail: String,
    },
    /// Replace the user's authenticator secret.
    ReplaceAuthenticator { user: String, totp: Sealed },
}

/// How a sign-in was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedInWith {
    /// The password, then a second factor: the flow that waited is used up.
    PasswordAndSecondFactor,
    /// A passkey alone: its ceremony, taken from the store, was the one use.
    Passkey,
    /// The identity provider, whose own second factor is trusted: the
    /// flow that waited for its answer is used up.
    Provider,
}

impl SignedInWith {
    pub fn words(self) -> &'static str {
        match self {
            SignedInWith::PasswordAndSecondFactor => "password and second factor",
            SignedInWith::Passkey => "passkey",
            SignedInWith::Provider => "identity provider with its second factor",
        }
    }
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
    /// The passkey (or security key) was not accepted.
    PasskeyRefused,
    /// Removing this would leave no way to prove a second factor.
    LastFactor,
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
    /// The invite's page that makes a passkey in the browser, for `user`.
    CreatePasskey {
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
    Link(crate::signin::enrol::LinkProblem),
    /// Signing in with the company's identity provider did not work.
    ProviderProblem,
}

/// The outcome of a [`super::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The flow from now on (`None`: it ends).
    pub flow: Option<Flow>,
    pub effects: Vec<Effect>,
    pub show: Show,
}
