//! Passkeys and security keys (WebAuthn), by kanidm's `webauthn-rs`: the
//! relying party for the name the browser addressed, the credentials as
//! stored, and the server half of each ceremony while the browser works.
//!
//! ```text
//!  page ──options (challenge)──▶ browser ──navigator.credentials──▶ authenticator
//!    │ server half kept (5 min, used once)                                │
//!    ◀──────────────── signed response, posted with the form ◀────────────┘
//!  finish: origin, challenge, signature, user verification, counter
//! ```
//!
//! A passkey is bound to a host name: one enrolled at `crm.example.com`
//! works there only. An address (`https://10.0.0.5`) cannot have passkeys.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Credential, Passkey, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

pub use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration};

use webauthn_rs_proto::ResidentKeyRequirement;

use crate::store::{Store, StoreError};

/// How long the browser has to answer a ceremony.
pub const CEREMONY_WITHIN: Duration = Duration::from_secs(5 * 60);

/// One passkey of a user's, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// What the user called it ("Work laptop").
    pub name: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub last_used: Option<u64>,
    /// The public key, its id and its signature counter.
    pub key: Passkey,
}

/// A passkey just made, with the user handle it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPasskey {
    pub handle: Uuid,
    pub key: StoredPasskey,
}

// Two stored passkeys are the same when their credential ids are.
impl Eq for StoredPasskey {}

impl StoredPasskey {
    /// The credential id, base64url: how forms name it.
    pub fn id(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.cred_id())
    }

    /// Can it be copied to the user's other devices (a synced passkey),
    /// rather than living on one authenticator only?
    pub fn synced(&self) -> bool {
        Credential::from(self.key.clone()).backup_eligible
    }

    pub fn counter(&self) -> u32 {
        Credential::from(self.key.clone()).counter
    }
}

/// Why a ceremony's answer was refused: a word for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No ceremony waits (it expired, or was used).
    NoChallenge,
    /// The browser's answer does not parse.
    Malformed,
    /// A credential this user does not have.
    UnknownCredential,
    /// The signature counter did not go up: the key may have been cloned.
    CounterWentBack,
    /// A synced passkey where the policy asks for one bound to a device.
    Synced,
    /// Anything else webauthn-rs refused (origin, challenge, signature,
    /// user verification).
    Invalid,
}

impl Refused {
    pub fn reason(self) -> &'static str {
        match self {
            Refused::NoChallenge => "passkey: no ceremony waiting (expired or used)",
            Refused::Malformed => "passkey: malformed answer",
            Refused::UnknownCredential => "passkey: not one of the user's",
            Refused::CounterWentBack => "passkey: signature counter went back (cloned key?)",
            Refused::Synced => "passkey: synced, but this user needs a device-bound key",
            Refused::Invalid => "passkey: signature, origin or user verification refused",
        }
    }
}

fn refused(err: WebauthnError) -> Refused {
    match err {
        WebauthnError::CredentialPossibleCompromise => Refused::CounterWentBack,
        _ => Refused::Invalid,
    }
}

/// The relying party for one host name (`crm.example.com`, with the port
/// the browser used): what passkeys are bound to.
pub struct RelyingParty(Webauthn);

impl RelyingParty {
    /// For `host` as the browser addressed it (already one of
    /// `listen.hosts`). `None` for an address: passkeys need a name.
    pub fn for_host(host: &str, company: &str) -> Option<RelyingParty> {
        let origin = Url::parse(&format!("https://{host}")).ok()?;
        let name = origin.domain()?.to_owned();
        let builder = WebauthnBuilder::new(&name, &origin).ok()?.rp_name(company);
        builder.build().ok().map(RelyingParty)
    }

    /// Options to make a new passkey for `user` (not one of `existing`),
    /// and the server half to keep. Discoverable where the authenticator
    /// can, so that it can sign in without a username.
    pub fn start_registration(
        &self,
        handle: Uuid,
        user: &str,
        display: &str,
        existing: &[StoredPasskey],
    ) -> Result<(String, PasskeyRegistration), Refused> {
        let exclude = existing.iter().map(|p| p.key.cred_id().clone()).collect();
        let (mut options, state): (CreationChallengeResponse, _) = (self.0)
            .start_passkey_registration(handle, user, display, Some(exclude))
            .map_err(refused)?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        }
        Ok((json(&options)?, state))
    }

    /// The new passkey, from the browser's answer to those options.
    pub fn finish_registration(&self, answer: &str, state: &PasskeyRegistration) -> Result<Passkey, Refused> {
        let answer: RegisterPublicKeyCredential = serde_json::from_str(answer).map_err(|_| Refused::Malformed)?;
        self.0.finish_passkey_registration(&answer, state).map_err(refused)
    }

    /// Options to prove one of `keys`, and the server half to keep.
    pub fn start_authentication(&self, keys: &[StoredPasskey]) -> Result<(String, PasskeyAuthentication), Refused> {
        let keys: Vec<Passkey> = keys.iter().map(|p| p.key.clone()).collect();
        let (options, state): (RequestChallengeResponse, _) =
            self.0.start_passkey_authentication(&keys).map_err(refused)?;
        Ok((json(&options)?, state))
    }

    /// Check the browser's answer; on success the key that signed, its
    /// counter and last use moved on (save `keys` after).
    pub fn finish_authentication(
        &self,
        answer: &str,
        state: &PasskeyAuthentication,
        keys: &mut [StoredPasskey],
        now: u64,
    ) -> Result<usize, Refused> {
        let answer: PublicKeyCredential = serde_json::from_str(answer).map_err(|_| Refused::Malformed)?;
        let result = self.0.finish_passkey_authentication(&answer, state).map_err(refused)?;
        used(keys, &result, now)
    }

    /// Options for whoever's passkey the browser offers (no username yet).
    pub fn start_discoverable(&self) -> Result<(String, DiscoverableAuthentication), Refused> {
        let (mut options, state) = self.0.start_discoverable_authentication().map_err(refused)?;
        // The button asks at once; the conditional (autofill) request is
        // the page script's choice.
        options.mediation = None;
        Ok((json(&options)?, state))
    }

    /// Whose passkey answered (the user handle the authenticator keeps).
    pub fn identify(answer: &str) -> Result<Uuid, Refused> {
        let answer: PublicKeyCredential = serde_json::from_str(answer).map_err(|_| Refused::Malformed)?;
        let handle = answer.get_user_unique_id().ok_or(Refused::Malformed)?;
        Uuid::from_slice(handle).map_err(|_| Refused::Malformed)
    }

    /// Check a discoverable answer against that user's `keys`.
    pub fn finish_discoverable(
        &self,
        answer: &str,
        state: DiscoverableAuthentication,
        keys: &mut [StoredPasskey],
        now: u64,
    ) -> Result<usize, Refused> {
        let answer: PublicKeyCredential = serde_json::from_str(answer).map_err(|_| Refused::Malformed)?;
        let key = (keys.iter())
            .find(|k| k.key.cred_id().as_slice() == answer.get_credential_id())
            .ok_or(Refused::UnknownCredential)?;
        let result = (self.0)
            .finish_discoverable_authentication_v2(&answer, state, &key.key)
            .map_err(refused)?;
        used(keys, &result, now)
    }
}

/// Move the signing key's counter and last use on; its index.
fn used(
    keys: &mut [StoredPasskey],
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: u64,
) -> Result<usize, Refused> {
    let index = (keys.iter())
        .position(|k| k.key.cred_id() == result.cred_id())
        .ok_or(Refused::UnknownCredential)?;
    keys[index].key.update_credential(result);
    keys[index].last_used = Some(now);
    Ok(index)
}

fn json(options: &impl Serialize) -> Result<String, Refused> {
    serde_json::to_string(options).map_err(|_| Refused::Invalid)
}

fn ceremony_key(scope: &str) -> String {
    format!("passkey-ceremony:{scope}")
}

/// Keep a ceremony's server half for `scope` (a sign-in, a step-up, an
/// enrolment) until the browser answers.
pub async fn keep<T: Serialize>(store: &Store, scope: &str, state: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    store.set(&ceremony_key(scope), &bytes, Some(CEREMONY_WITHIN)).await
}

/// The server half for `scope`, taken: an answer is checked once.
pub async fn take<T: DeserializeOwned>(store: &Store, scope: &str) -> Result<Option<T>, StoreError> {
    let bytes = store.take(&ceremony_key(scope)).await?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

fn owner_key(handle: &Uuid) -> String {
    format!("passkey-owner:{handle}")
}

/// Record whose passkeys carry `handle`, for sign-in without a username.
pub async fn record_owner(store: &Store, handle: &Uuid, user: &str) -> Result<(), StoreError> {
    store.set(&owner_key(handle), user.as_bytes(), None).await
}

/// Whose passkeys carry `handle`, if anyone's.
pub async fn owner(store: &Store, handle: &Uuid) -> Result<Option<String>, StoreError> {
    let bytes = store.get(&owner_key(handle)).await?;
    Ok(bytes.and_then(|b| String::from_utf8(b).ok()))
}

/// A new random user handle: it names no one outside the gateway.
pub fn new_handle() -> Uuid {
    Uuid::from_bytes(super::random_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_need_a_host_name_not_an_address() {
        assert!(RelyingParty::for_host("crm.example.com", "Acme").is_some());
        assert!(RelyingParty::for_host("localhost:8443", "Acme").is_some());
        assert!(RelyingParty::for_host("127.0.0.1:8443", "Acme").is_none());
        assert!(RelyingParty::for_host("[::1]:8443", "Acme").is_none());
    }

    #[test]
    fn registration_options_name_the_host_and_ask_for_user_verification() {
        let rp = RelyingParty::for_host("crm.example.com", "Acme").unwrap();
        let (options, _) = rp.start_registration(new_handle(), "alice", "Alice", &[]).unwrap();
        let options: serde_json::Value = serde_json::from_str(&options).unwrap();
        let key = &options["publicKey"];
        assert_eq!(key["rp"]["id"], "crm.example.com");
        assert_eq!(key["rp"]["name"], "Acme");
        assert_eq!(key["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(key["authenticatorSelection"]["residentKey"], "preferred");
        assert!(key["challenge"].as_str().is_some_and(|c| c.len() >= 43), "{key}");
    }

    #[test]
    fn an_answer_that_is_not_a_credential_is_refused_as_malformed() {
        let rp = RelyingParty::for_host("crm.example.com", "Acme").unwrap();
        let (_, state) = rp.start_discoverable().unwrap();
        let refused = rp.finish_discoverable("{\"id\": 1}", state, &mut [], 0);
        assert_eq!(refused, Err(Refused::Malformed));
        assert_eq!(RelyingParty::identify("not json"), Err(Refused::Malformed));
    }
}
