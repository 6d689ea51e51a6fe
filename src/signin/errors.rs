//! What can go wrong in signing in that is not the user's doing: the
//! engine could not be set up, or a step could not be carried out.

use crate::auth::credentials::CredentialError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SignInSetupError {
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Hash(#[from] crate::auth::password::HashError),
    #[error(transparent)]
    Delivery(#[from] crate::auth::delivery::SendError),
}

/// A step that could not be carried out: the store, the secrets key or
/// the directory failed. Nobody is let in for it (the portal answers 503).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialError),
    #[error("hashing a password: {0}")]
    Hash(#[from] crate::auth::password::HashError),
    /// The directory that checks this user's password did not answer.
    #[error(transparent)]
    Directory(#[from] crate::auth::directory::Down),
}
