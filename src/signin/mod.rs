//! The sign-in engine, outside the pages that show it.
//!
//! - [`machine`]: the state machine, one pure `step(flow, input, now)`;
//!   every unexpected pair of flow and input refuses.
//! - [`attempt`]: the request a step is taken from, and what the policy
//!   says of it before any password is checked.
//! - [`engine`]: [`SignIn`], which finds out what a step needs to know
//!   (the store, the password hash, a code), runs the step, and carries out
//!   its effects (sessions, credentials, the lockout count, the audit trail).
//! - [`codes`]: which second factors a user is offered, sending codes by
//!   email and SMS, and checking whatever code comes back.
//! - [`passkeys`]: the WebAuthn ceremonies pages start, and their answers.
//! - `provider`: signing in with the company's identity provider (OIDC).
//! - [`enrol`]: invite links and new passwords.
//! - [`account`]: what signed-in users change themselves.
//!
//! The portal ([`crate::portal`]) decodes forms, calls the engine and
//! renders what it says to show; it decides nothing itself.

pub mod account;
pub mod attempt;
pub mod codes;
pub mod engine;
pub mod enrol;
mod errors;
pub mod machine;
pub mod passkeys;
mod passwords;
mod places;
mod provider;

pub use account::{Ending, Expect};
pub use attempt::Attempt;
pub use codes::Offered;
pub use engine::{FlowCookie, Outcome, SignIn, SignInError, SignInSetupError};
pub use machine::{Flow, Notice, Problem, Show};
