//! The ID token's checks, against a small provider on loopback that signs
//! whatever token a test hands it (with a test-only RSA key): forged,
//! expired, for another client, for another sign-in, issued long ago. The
//! clock is the test's, moved instead of waited for.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use openidconnect::core::{CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, JsonWebKeyId, Nonce, PrivateSigningKey, StandardClaims,
    SubjectIdentifier,
};

use super::*;
use crate::config::codes::Secret;

const KEY: &str = include_str!("testdata/oidc-test-key.pem");
const OTHER_KEY: &str = include_str!("testdata/oidc-other-key.pem");

fn signing_key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
}

/// A provider that publishes `jwks` (KEY's, at first) and answers every
/// code with `token`.
struct TestProvider {
    addr: SocketAddr,
    token: Arc<Mutex<String>>,
    jwks: Arc<Mutex<String>>,
}

fn jwks_of(pem: &str) -> String {
    serde_json::json!({ "keys": [signing_key(pem).as_verification_key()] }).to_string()
}

impl TestProvider {
    async fn start() -> TestProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = Arc::new(Mutex::new(String::new()));
        let issuer = format!("http://{addr}");
        let jwks = Arc::new(Mutex::new(jwks_of(KEY)));
        let discovery = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
        .to_string();
        let (shared, published) = (token.clone(), jwks.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (jwks, discovery, token) = (published.clone(), discovery.clone(), shared.clone());
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let body = match req.uri().path() {
                        "/.well-known/openid-configuration" => discovery.clone(),
                        "/jwks" => jwks.lock().unwrap().clone(),
                        _ => serde_json::json!({
                            "access_token": "an access token",
                            "token_type": "Bearer",
                            "id_token": token.lock().unwrap().clone(),
                        })
                        .to_string(),
                    };
                    let mut response = http::Response::new(Full::new(Bytes::from(body)));
                    response
                        .headers_mut()
                        .insert("content-type", http::HeaderValue::from_static("application/json"));
                    async { Ok::<_, std::convert::Infallible>(response) }
                });
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service));
            }
        });
        TestProvider { addr, token, jwks }
    }

    fn settings(&self) -> ProviderSettings {
        ProviderSettings {
            id: "okta".into(),
            label: "Okta".into(),
            issuer: format!("http://{}", self.addr),
            client_id: "portcullis".into(),
            client_secret: Secret("s".into()),
            scopes: vec!["email".into()],
            user_claim: "email".into(),
            admit: crate::config::raw::Admit::Listed,
            groups_claim: None,
            mapped_groups: Vec::new(),
            trust_mfa: vec!["mfa".into()],
            ca_certs: None,
        }
    }
}

/// A token as the provider would sign it for this flow, changed by `edit`.
struct Token {
    issuer: String,
    audience: String,
    issued: SystemTime,
    expires: SystemTime,
    nonce: String,
    email: Option<&'static str>,
    key: &'static str,
    /// When the provider says it signed the user in.
    auth_time: Option<SystemTime>,
}

impl Token {
    fn sign(&self) -> String {
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(self.issuer.clone()).unwrap(),
            vec![Audience::new(self.audience.clone())],
            chrono::DateTime::<chrono::Utc>::from(self.expires),
            chrono::DateTime::<chrono::Utc>::from(self.issued),
            StandardClaims::new(SubjectIdentifier::new("00u1alice".into()))
                .set_email(self.email.map(|e| EndUserEmail::new(e.into()))),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new(self.nonce.clone())))
        .set_auth_time(self.auth_time.map(chrono::DateTime::<chrono::Utc>::from));
        let token = CoreIdToken::new(
            claims,
            &signing_key(self.key),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap();
        token.to_string()
    }
}

struct Case {
    provider: TestProvider,
    providers: Providers,
    kept: Kept,
    now: SystemTime,
}

impl Case {
    async fn new() -> Case {
        let provider = TestProvider::start().await;
        let providers = Providers::default();
        let (url, kept) = (providers
            .start(&provider.settings(), "https://crm.example/cb", None)
            .await)
            .unwrap();
        assert!(url.starts_with(&format!("http://{}/auth?", provider.addr)), "{url}");
        let now = crate::clock::now();
        Case {
            provider,
            providers,
            kept,
            now,
        }
    }

    fn token(&self) -> Token {
        Token {
            issuer: format!("http://{}", self.provider.addr),
            audience: "portcullis".into(),
            issued: self.now - Duration::from_secs(5),
            expires: self.now + Duration::from_secs(300),
            nonce: self.kept.nonce.clone(),
            email: Some("alice@example.com"),
            key: KEY,
            auth_time: None,
        }
    }

    /// The callback, with the provider answering `token`, as of `now`.
    async fn answer(&self, token: Token, now: SystemTime) -> Result<Vouched, Problem> {
        *self.provider.token.lock().unwrap() = token.sign();
        let query = vec![
            ("code".to_owned(), "a code".to_owned()),
            ("state".to_owned(), self.kept.state.clone()),
        ];
        self.providers
            .answer(&self.provider.settings(), &self.kept, &query, now)
            .await
    }
}

fn refused(result: Result<Vouched, Problem>, what: &str) -> String {
    match result {
        Err(Problem::TokenRefused(why)) => why,
        other => panic!("{what}: expected the token refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_token_names_its_user() {
    let case = Case::new().await;
    let vouched = case.answer(case.token(), case.now).await.unwrap();
    assert_eq!(vouched.name, "alice@example.com");
    assert_eq!(vouched.subject, "00u1alice");
    assert!(!vouched.mfa, "no amr: the provider's second factor is not claimed");
}

#[tokio::test]
async fn forged_expired_misaddressed_and_replayed_tokens_are_refused() {
    let case = Case::new().await;
    let forged = Token {
        key: OTHER_KEY,
        ..case.token()
    };
    let why = refused(case.answer(forged, case.now).await, "signed by another key");
    assert!(why.contains("ignature"), "{why}");

    let for_another_client = Token {
        audience: "another-app".into(),
        ..case.token()
    };
    let why = refused(case.answer(for_another_client, case.now).await, "wrong audience");
    assert!(why.contains("audience"), "{why}");

    let from_another_issuer = Token {
        issuer: "https://evil.example".into(),
        ..case.token()
    };
    refused(case.answer(from_another_issuer, case.now).await, "wrong issuer");

    let of_another_sign_in = Token {
        nonce: "someone else's".into(),
        ..case.token()
    };
    let why = refused(case.answer(of_another_sign_in, case.now).await, "wrong nonce");
    assert!(why.contains("nonce"), "{why}");

    // Five minutes of validity, two of them allowed for clock skew: at
    // six minutes it is still good, at eight it has expired.
    let later = |mins: u64| case.now + Duration::from_secs(mins * 60);
    assert!(case.answer(case.token(), later(6)).await.is_ok());
    let why = refused(case.answer(case.token(), later(8)).await, "expired");
    assert!(why.contains("xpired"), "{why}");

    let issued_long_ago = Token {
        issued: case.now - Duration::from_secs(3600),
        ..case.token()
    };
    let why = refused(case.answer(issued_long_ago, case.now).await, "issued an hour ago");
    assert!(why.contains("too long ago"), "{why}");
    let from_the_future = Token {
        issued: case.now + Duration::from_secs(600),
        ..case.token()
    };
    refused(case.answer(from_the_future, case.now).await, "issued in ten minutes");
}

#[tokio::test]
async fn a_mixed_up_state_or_a_missing_claim_is_refused_before_anyone_is_named() {
    let case = Case::new().await;
    let query = vec![
        ("code".to_owned(), "a code".to_owned()),
        ("state".to_owned(), "another browser's".to_owned()),
    ];
    let settings = case.provider.settings();
    let mixed = case.providers.answer(&settings, &case.kept, &query, case.now).await;
    assert_eq!(mixed, Err(Problem::WrongState));

    let denied = vec![
        ("error".to_owned(), "access_denied".to_owned()),
        ("state".to_owned(), case.kept.state.clone()),
    ];
    let said = case.providers.answer(&settings, &case.kept, &denied, case.now).await;
    assert_eq!(said, Err(Problem::ProviderSaid("access_denied".into())));

    // No email in the token, and this provider has no userinfo to ask.
    let without_email = Token {
        email: None,
        ..case.token()
    };
    let missing = case.answer(without_email, case.now).await;
    assert_eq!(missing, Err(Problem::MissingClaim("email".into())));
}

/// A back-channel logout token as the provider would sign it: the ID
/// token's claims without a nonce, with the logout event (if `event`) and
/// the provider's session id.
fn logout_token(token: &Token, event: bool) -> String {
    let mut other = OtherClaims::default();
    other.claims.insert("sid".into(), serde_json::json!("sid-1"));
    if event {
        other
            .claims
            .insert("events".into(), serde_json::json!({ LOGOUT_EVENT: {} }));
    }
    let claims = IdTokenClaims::new(
        IssuerUrl::new(token.issuer.clone()).unwrap(),
        vec![Audience::new(token.audience.clone())],
        chrono::DateTime::<chrono::Utc>::from(token.expires),
        chrono::DateTime::<chrono::Utc>::from(token.issued),
        StandardClaims::new(SubjectIdentifier::new("00u1alice".into())),
        other,
    );
    LogoutToken::new(
        claims,
        &signing_key(token.key),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap()
    .to_string()
}

#[tokio::test]
async fn a_logout_token_names_the_session_it_ends_and_nothing_else_passes_for_one() {
    let case = Case::new().await;
    let settings = case.provider.settings();
    let check = |token: String| {
        let (providers, settings, now) = (&case.providers, &settings, case.now);
        async move { providers.logout_token(settings, &token, now).await }
    };
    let good = check(logout_token(&case.token(), true)).await;
    assert_eq!(good, Ok(("00u1alice".to_owned(), Some("sid-1".to_owned()))));

    let refusal = |answer: Result<(String, Option<String>), Problem>, what: &str| match answer {
        Err(Problem::TokenRefused(why)) => why,
        other => panic!("{what}: expected it refused, got {other:?}"),
    };
    let forged = Token {
        key: OTHER_KEY,
        ..case.token()
    };
    refusal(check(logout_token(&forged, true)).await, "signed by another key");
    let for_another_client = Token {
        audience: "another-app".into(),
        ..case.token()
    };
    refusal(check(logout_token(&for_another_client, true)).await, "another audience");
    let expired = Token {
        issued: case.now - Duration::from_secs(600),
        expires: case.now - Duration::from_secs(300),
        ..case.token()
    };
    refusal(check(logout_token(&expired, true)).await, "expired");
    // An ID token (it has a nonce) is not a logout token, nor is a token
    // without the logout event.
    let why = refusal(check(case.token().sign()).await, "an ID token");
    assert!(why.contains("nonce"), "{why}");
    let why = refusal(check(logout_token(&case.token(), false)).await, "no event");
    assert!(why.contains("logout event"), "{why}");
    let why = refusal(check("not a token".into()).await, "not a JWT");
    assert!(why.contains("not a logout token"), "{why}");
}

#[tokio::test]
async fn a_step_up_needs_the_provider_to_have_signed_the_user_in_afresh() {
    let mut case = Case::new().await;
    let since = case.now - Duration::from_secs(1);
    case.kept.step_up = Some(StepUp {
        user: "alice".into(),
        since: since.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
    });
    let fresh = Token {
        auth_time: Some(case.now),
        ..case.token()
    };
    assert!(case.answer(fresh, case.now).await.is_ok());
    let why = refused(case.answer(case.token(), case.now).await, "no auth_time");
    assert!(why.contains("auth_time"), "{why}");
    let from_this_morning = Token {
        auth_time: Some(case.now - Duration::from_secs(4 * 3600)),
        ..case.token()
    };
    let why = refused(case.answer(from_this_morning, case.now).await, "an old sign-in");
    assert!(why.contains("afresh"), "{why}");
}

#[tokio::test]
async fn a_provider_that_rotates_its_keys_is_read_again_and_an_unknown_key_still_fails() {
    let case = Case::new().await;
    assert!(case.answer(case.token(), case.now).await.is_ok(), "the first key");
    // The provider now signs with a new key and publishes only that one:
    // the cached keys fail, so its keys are read again, and the token holds.
    *case.provider.jwks.lock().unwrap() = jwks_of(OTHER_KEY);
    let rotated = Token {
        key: OTHER_KEY,
        ..case.token()
    };
    assert!(
        case.answer(rotated, case.now).await.is_ok(),
        "the new key, after reading the keys again"
    );
    // A token signed by the old key, which the provider no longer publishes.
    let why = refused(case.answer(case.token(), case.now).await, "a retired key");
    assert!(why.contains("ignature"), "{why}");
}
