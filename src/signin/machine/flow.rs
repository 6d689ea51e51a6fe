//! Where a browser's sign-in stands between requests ([`Flow`]), kept in
//! the store under its flow cookie.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{secs, CONFIRM_WITHIN, SECOND_FACTOR_WITHIN};
use crate::auth::credentials::Sealed;
use crate::auth::invite::Invite;
use crate::auth::oidc::ProviderSession;

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
        /// Proven by the identity provider, not a password: its session.
        #[serde(default)]
        provider: Option<ProviderSession>,
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
    /// The browser was sent to the company's identity provider; its answer
    /// must carry this flow's state.
    ProviderDue {
        kept: crate::auth::oidc::Kept,
        client_type: String,
        next: String,
        since: u64,
    },
    /// An invite's password is chosen; the browser makes the user's passkey.
    CreatePasskey {
        user: String,
        invite: Invite,
        password: String,
        since: u64,
    },
}

impl Flow {
    fn since(&self) -> u64 {
        match self {
            Flow::SecondFactorDue { since, .. }
            | Flow::ConfirmAuthenticator { since, .. }
            | Flow::ConfirmNewAuthenticator { since, .. }
            | Flow::CreatePasskey { since, .. }
            | Flow::ProviderDue { since, .. } => *since,
        }
    }

    /// Whose sign-in or enrolment it is.
    pub fn user(&self) -> &str {
        match self {
            Flow::SecondFactorDue { user, .. }
            | Flow::ConfirmAuthenticator { user, .. }
            | Flow::ConfirmNewAuthenticator { user, .. }
            | Flow::CreatePasskey { user, .. } => user,
            Flow::ProviderDue { .. } => "",
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
