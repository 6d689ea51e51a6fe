//! Signing out with the provider: where to send the browser to end its
//! session there too (RP-initiated logout 1.0), and the provider's own
//! word that a session ended (a back-channel logout token, checked as an
//! ID token is, plus its logout event and no nonce).

use std::time::SystemTime;

use openidconnect::core::CoreGenderClaim;
use openidconnect::{ClientId, ClientSecret, Nonce, PostLogoutRedirectUrl};

use super::{
    issued_in_time, Claims, Metadata, OidcClient, OtherClaims, Problem, ProviderSession, Providers, CLOCK_SKEW,
    REDISCOVER_AFTER,
};
use crate::config::providers::ProviderSettings;

impl Providers {
    /// Where to send the browser to end its session at the provider too
    /// (RP-initiated logout), coming back to `then`; `None` when the
    /// provider has no end-session endpoint.
    pub async fn end_session(
        &self,
        provider: &ProviderSettings,
        ended: &ProviderSession,
        then: &str,
    ) -> Result<Option<String>, Problem> {
        let found = self.discovered(provider, false).await?;
        let Some(endpoint) = found.metadata.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let then = PostLogoutRedirectUrl::new(then.to_owned()).map_err(|e| Problem::Unreachable(e.to_string()))?;
        let mut request = openidconnect::LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(provider.client_id.clone()))
            .set_post_logout_redirect_uri(then);
        if let Ok(hint) = ended.id_token.parse::<openidconnect::core::CoreIdToken>() {
            request = request.set_id_token_hint(&hint);
        }
        Ok(Some(request.http_get_url().to_string()))
    }

    /// A back-channel logout token from the provider, checked as of `now`
    /// (OpenID Connect Back-Channel Logout 1.0): signed by the provider's
    /// keys, for us, from the issuer, unexpired, with the logout event and
    /// no nonce. Whose session it ends: the subject, and the session id if
    /// it names one.
    pub async fn logout_token(
        &self,
        provider: &ProviderSettings,
        token: &str,
        now: SystemTime,
    ) -> Result<(String, Option<String>), Problem> {
        let token: LogoutToken = token
            .trim()
            .parse()
            .map_err(|e: serde_json::Error| Problem::TokenRefused(format!("not a logout token: {e}")))?;
        let found = self.discovered(provider, false).await?;
        let check = |metadata: &Metadata| -> Result<Claims, openidconnect::ClaimsVerificationError> {
            let oidc = OidcClient::from_provider_metadata(
                metadata.clone(),
                ClientId::new(provider.client_id.clone()),
                Some(ClientSecret::new(provider.client_secret.0.clone())),
            );
            let verifier = (oidc.id_token_verifier())
                .set_allowed_jose_types(logout_jose_types())
                .set_time_fn(move || chrono::DateTime::<chrono::Utc>::from(now - CLOCK_SKEW))
                .set_issue_time_verifier_fn(move |iat| issued_in_time(iat.into(), now));
            let no_nonce = |nonce: Option<&Nonce>| match nonce {
                None => Ok(()),
                Some(_) => Err("a logout token has no nonce (this is an ID token)".to_owned()),
            };
            token.claims(&verifier, no_nonce).cloned()
        };
        let claims = match check(&found.metadata) {
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_))
                if found.at.elapsed() >= REDISCOVER_AFTER =>
            {
                check(&self.discovered(provider, true).await?.metadata)
            }
            other => other,
        }
        .map_err(|e| Problem::TokenRefused(e.to_string()))?;
        let other = &claims.additional_claims().claims;
        let logout_event =
            (other.get("events").and_then(|e| e.as_object())).is_some_and(|events| events.contains_key(LOGOUT_EVENT));
        if !logout_event {
            return Err(Problem::TokenRefused(
                "no back-channel logout event in the token".into(),
            ));
        }
        let sid = other.get("sid").and_then(|v| v.as_str()).map(str::to_owned);
        Ok((claims.subject().to_string(), sid))
    }
}

pub(super) const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token has the shape of an ID token (the same claims and
/// checks) plus `events`, and no nonce.
pub(super) type LogoutToken = openidconnect::IdToken<
    OtherClaims,
    CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJwsSigningAlgorithm,
>;

/// `typ: logout+jwt` (as the specification asks), or plain JWT.
fn logout_jose_types() -> Vec<openidconnect::NormalizedJsonWebTokenType> {
    ["logout+jwt", "JWT"]
        .into_iter()
        .filter_map(|t| openidconnect::JsonWebTokenType::new(t.to_owned()).normalize().ok())
        .collect()
}
