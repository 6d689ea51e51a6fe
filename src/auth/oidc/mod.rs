//! Sign-in with the company's OpenID Connect provider, by the
//! `openidconnect` crate: discovery (cached, read again when the provider
//! rotates its keys), the authorization code flow with PKCE, state and
//! nonce, and the ID token's checks (signature by the provider's published
//! keys, issuer, audience, azp, expiry, issued-at, nonce).
//!
//! ```text
//!  start: discover ─▶ authorize URL (state, nonce, PKCE challenge) ─▶ browser to the provider
//!  answer: state is the flow's? ─▶ code + PKCE verifier for tokens ─▶ ID token checked
//!          ─▶ the claim that names the user, and the methods (amr) the provider used
//! ```
//!
//! Every failure is a [`Problem`]: the user sees a plain page, the audit
//! log the detail.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use openidconnect::core::{CoreAuthenticationFlow, CoreGenderClaim, CoreJsonWebKey};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IdTokenClaims, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::config::providers::ProviderSettings;

mod claims;
mod client;
mod logout;

use claims::naming;
use client::{describe, http_client, send};
#[cfg(test)]
use logout::{LogoutToken, LOGOUT_EVENT};

/// How long a discovered configuration (and its keys) is used before it
/// is read again; an unknown key reads it again at once (at most once a minute).
const DISCOVERY_FOR: Duration = Duration::from_secs(3600);
#[cfg(not(test))]
const REDISCOVER_AFTER: Duration = Duration::from_secs(60);
/// The tests rotate keys without waiting a minute.
#[cfg(test)]
const REDISCOVER_AFTER: Duration = Duration::ZERO;
/// How long the provider may take to answer one request.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// How far the provider's clock may be from ours.
const CLOCK_SKEW: Duration = Duration::from_secs(120);
/// An ID token issued longer ago than this is refused (a replayed one).
const ISSUED_WITHIN: Duration = Duration::from_secs(10 * 60);

/// What is kept between sending the browser to the provider and its
/// return: it names the provider, and only the flow holds the verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// The callback URL the provider was given (for the token request).
    pub redirect: String,
    /// A signed-in user proving themselves again at the provider.
    #[serde(default)]
    pub step_up: Option<StepUp>,
}

/// A step-up at the provider: it was asked to sign `user` in afresh
/// (`prompt=login`, `max_age=0`), so its token must say it did after `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUp {
    pub user: String,
    /// Seconds since the epoch.
    pub since: u64,
}

/// Which session at which provider a session of ours came from: what a
/// back-channel logout names, and where our sign-out sends the browser.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSession {
    pub provider: String,
    pub subject: String,
    /// The provider's session id (`sid`), when its ID token has one.
    pub sid: Option<String>,
    /// The ID token, to name the session when signing out there
    /// (`id_token_hint`: Okta requires it). Never printed.
    #[serde(default)]
    pub id_token: String,
    /// Its second factor stood for ours: step-ups are asked there too.
    #[serde(default)]
    pub mfa: bool,
}

impl std::fmt::Debug for ProviderSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (f.debug_struct("ProviderSession"))
            .field("provider", &self.provider)
            .field("subject", &self.subject)
            .field("sid", &self.sid)
            .field("mfa", &self.mfa)
            .finish_non_exhaustive()
    }
}

/// Who the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// The provider's subject identifier.
    pub subject: String,
    /// The provider's session id (`sid`), if it sent one.
    pub sid: Option<String>,
    /// The ID token itself, as sent.
    pub id_token: String,
    /// The value of the provider's `user_claim`.
    pub name: String,
    pub email: Option<String>,
    /// The user's name in words (`name`).
    pub display_name: Option<String>,
    /// The values of the provider's `groups_claim`, if it has one.
    pub groups: Vec<String>,
    /// Whether the provider says it asked for a second factor itself (an
    /// `amr` value listed in `trust_mfa`).
    pub mfa: bool,
}

/// Why a sign-in with the provider failed. The user sees the same plain
/// page for each; the audit log records which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider answered with an error: {0}")]
    ProviderSaid(String),
    #[error("the answer's state is not this browser's sign-in (replayed or mixed up)")]
    WrongState,
    #[error("the provider refused the code: {0}")]
    CodeRefused(String),
    #[error("the ID token was refused: {0}")]
    TokenRefused(String),
    #[error("the ID token has no {0:?} claim")]
    MissingClaim(String),
    #[error("the provider says the email address is not verified")]
    EmailNotVerified,
}

/// Any claims beyond the standard ones, for a `user_claim` like `upn`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

type Claims = IdTokenClaims<OtherClaims, CoreGenderClaim>;
type UserInfo = openidconnect::UserInfoClaims<OtherClaims, CoreGenderClaim>;
/// Discovery, with the end-session endpoint of RP-initiated logout.
type Metadata = openidconnect::ProviderMetadataWithLogout;

type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The providers' discovered configurations, by issuer and client.
#[derive(Default)]
pub struct Providers {
    discovered: Mutex<HashMap<String, Discovered>>,
}

#[derive(Clone)]
struct Discovered {
    metadata: Metadata,
    at: Instant,
    http: Http,
}

impl Providers {
    /// Where to send the browser to sign in at `provider`, and what to
    /// keep; for a `step_up`, the provider is asked to sign in afresh.
    pub async fn start(
        &self,
        provider: &ProviderSettings,
        redirect: &str,
        step_up: Option<StepUp>,
    ) -> Result<(String, Kept), Problem> {
        let found = self.discovered(provider, false).await?;
        let client = client(provider, &found.metadata, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &provider.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if step_up.is_some() {
            request = (request.add_prompt(openidconnect::core::CoreAuthPrompt::Login)).set_max_age(Duration::ZERO);
        }
        let (url, state, nonce) = request.url();
        let kept = Kept {
            provider: provider.id.clone(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            redirect: redirect.to_owned(),
            step_up,
        };
        Ok((url.to_string(), kept))
    }

    /// The provider's answer (the callback's query): the code redeemed and
    /// the ID token checked as of `now`.
    pub async fn answer(
        &self,
        provider: &ProviderSettings,
        kept: &Kept,
        query: &[(String, String)],
        now: SystemTime,
    ) -> Result<Vouched, Problem> {
        let value = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let state_ok = value("state").is_some_and(|s| bool::from(s.as_bytes().ct_eq(kept.state.as_bytes())));
        if !state_ok || kept.provider != provider.id {
            return Err(Problem::WrongState);
        }
        if let Some(error) = value("error") {
            return Err(Problem::ProviderSaid(error.chars().take(100).collect()));
        }
        let code = value("code").ok_or_else(|| Problem::ProviderSaid("no code in the answer".into()))?;
        let found = self.discovered(provider, false).await?;
        let http = found.http.clone();
        let call = move |request| send(http.clone(), request);
        let tokens = client(provider, &found.metadata, &kept.redirect)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| Problem::CodeRefused(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(kept.verifier.clone()))
            .request_async(&call)
            .await
            .map_err(|e| Problem::CodeRefused(describe(&e)))?;
        let id_token = (tokens.id_token()).ok_or_else(|| Problem::TokenRefused("no ID token in the answer".into()))?;
        let check = |metadata: &Metadata| -> Result<Claims, openidconnect::ClaimsVerificationError> {
            let oidc = client(provider, metadata, &kept.redirect)
                .map_err(|e| openidconnect::ClaimsVerificationError::Other(e.to_string()))?;
            let verifier = oidc
                .id_token_verifier()
                .set_time_fn(move || chrono::DateTime::<chrono::Utc>::from(now - CLOCK_SKEW))
                .set_issue_time_verifier_fn(move |iat| issued_in_time(iat.into(), now))
                .set_auth_time_verifier_fn(|at| signed_in_afresh(at.map(SystemTime::from), kept.step_up.as_ref()));
            id_token.claims(&verifier, &Nonce::new(kept.nonce.clone())).cloned()
        };
        let claims = match check(&found.metadata) {
            // A key we do not know: the provider may have rotated its keys.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_))
                if found.at.elapsed() >= REDISCOVER_AFTER =>
            {
                let again = self.discovered(provider, true).await?;
                check(&again.metadata)
            }
            other => other,
        }
        .map_err(|e| Problem::TokenRefused(e.to_string()))?;
        let claim = provider.user_claim.as_str();
        let subject = claims.subject().to_string();
        let mfa = provider_mfa(provider, &claims);
        let mut about = naming!(claims).about(provider)?;
        // Many providers put profile claims, and groups, in userinfo only.
        if about.name.is_none() || about.groups.is_none() && provider.groups_claim.is_some() {
            let oidc = client(provider, &found.metadata, &kept.redirect)?;
            let request = (oidc.user_info(tokens.access_token().clone(), Some(claims.subject().clone())))
                .map_err(|_| Problem::MissingClaim(claim.to_owned()))?;
            let info: UserInfo = (request.request_async(&call).await)
                .map_err(|e| Problem::TokenRefused(format!("userinfo: {}", describe(&e))))?;
            about = about.or(naming!(info).about(provider)?);
        }
        let name = about.name.ok_or_else(|| Problem::MissingClaim(claim.to_owned()))?;
        let sid = (claims.additional_claims().claims.get("sid")).and_then(|v| v.as_str().map(str::to_owned));
        Ok(Vouched {
            subject,
            sid,
            id_token: id_token.to_string(),
            name,
            email: about.email,
            display_name: about.display_name,
            groups: about.groups.unwrap_or_default(),
            mfa,
        })
    }

    async fn discovered(&self, provider: &ProviderSettings, again: bool) -> Result<Discovered, Problem> {
        let key = format!("{} {}", provider.issuer, provider.client_id);
        let cached = self.discovered.lock().expect("discovery cache").get(&key).cloned();
        if let Some(found) = cached.filter(|f| !again && f.at.elapsed() < DISCOVERY_FOR) {
            return Ok(found);
        }
        let http = http_client(provider)?;
        let issuer = IssuerUrl::new(provider.issuer.clone()).map_err(|e| Problem::Unreachable(e.to_string()))?;
        let client = http.clone();
        let call = move |request| send(client.clone(), request);
        let metadata = Metadata::discover_async(issuer, &call)
            .await
            .map_err(|e| Problem::Unreachable(describe(&e)))?;
        let found = Discovered {
            metadata,
            at: Instant::now(),
            http,
        };
        self.discovered
            .lock()
            .expect("discovery cache")
            .insert(key, found.clone());
        Ok(found)
    }
}

type OidcClient = openidconnect::Client<
    OtherClaims,
    openidconnect::core::CoreAuthDisplay,
    CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::StandardTokenResponse<
        openidconnect::IdTokenFields<
            OtherClaims,
            openidconnect::EmptyExtraTokenFields,
            CoreGenderClaim,
            openidconnect::core::CoreJweContentEncryptionAlgorithm,
            openidconnect::core::CoreJwsSigningAlgorithm,
        >,
        openidconnect::core::CoreTokenType,
    >,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(provider: &ProviderSettings, metadata: &Metadata, redirect: &str) -> Result<OidcClient, Problem> {
    let redirect = RedirectUrl::new(redirect.to_owned()).map_err(|e| Problem::Unreachable(e.to_string()))?;
    Ok(OidcClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.0.clone())),
    )
    .set_redirect_uri(redirect))
}

/// For a step-up, the provider signed the user in again after it was
/// asked to (`auth_time`, give or take the clock skew).
fn signed_in_afresh(auth_time: Option<SystemTime>, step_up: Option<&StepUp>) -> Result<(), String> {
    let Some(step_up) = step_up else { return Ok(()) };
    let asked = std::time::UNIX_EPOCH + Duration::from_secs(step_up.since);
    match auth_time {
        None => Err("no auth_time: the provider did not say when it signed the user in".into()),
        Some(at) if at + CLOCK_SKEW < asked => Err("the provider did not sign the user in afresh".into()),
        Some(_) => Ok(()),
    }
}

/// The ID token was issued a moment ago by the provider's clock.
fn issued_in_time(iat: SystemTime, now: SystemTime) -> Result<(), String> {
    if iat > now + CLOCK_SKEW {
        return Err("issued in the future (are the clocks apart?)".into());
    }
    if iat + ISSUED_WITHIN < now {
        return Err("issued too long ago".into());
    }
    Ok(())
}

/// Did the provider ask for a second factor itself, in a way its
/// `trust_mfa` accepts?
fn provider_mfa(provider: &ProviderSettings, claims: &Claims) -> bool {
    let methods = claims
        .auth_method_refs()
        .map(|m| m.iter().map(|r| r.to_string()).collect::<Vec<_>>());
    methods
        .unwrap_or_default()
        .iter()
        .any(|m| provider.trust_mfa.contains(m))
}

#[cfg(test)]
mod tests;
