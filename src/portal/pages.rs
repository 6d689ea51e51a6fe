//! Which portal page a path names: [`Page`] by what it is, [`route`] from
//! its path under `/.portcullis/`.

use super::PREFIX;

/// A portal page, by what it is rather than by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Health,
    Stylesheet,
    PasskeyScript,
    BrandStylesheet,
    Logo,
    Login,
    PasskeySignIn,
    SecondFactor,
    SendCode,
    StepUp,
    Logout,
    Enrol,
    EnrolConfirm,
    EnrolPasskey,
    Sessions,
    Account,
    AccountPassword,
    AccountAuthenticator,
    AccountAuthenticatorConfirm,
    AccountPasskeys,
    AccountPasskeysRemove,
    ProviderStart,
    ProviderCallback,
    /// The provider's server ends sessions (back-channel logout): signed,
    /// so it carries no CSRF token.
    ProviderLogout,
    /// What waits for approval, a held request's page, and its requester's
    /// "Send" (which the pipeline takes: it becomes the held request).
    Approvals,
    Approval,
    ApprovalSend,
    Unknown,
}

/// `Some(page)` when the path belongs to the portal (even an unknown one:
/// the CRM never sees `/.portcullis/...`).
pub fn route(path: &str) -> Option<Page> {
    let rest = path
        .strip_prefix(PREFIX)
        .or_else(|| (path == "/.portcullis").then_some(""))?;
    Some(match rest {
        "health" => Page::Health,
        "assets/portcullis.css" => Page::Stylesheet,
        "assets/passkey.js" => Page::PasskeyScript,
        "assets/brand.css" => Page::BrandStylesheet,
        "assets/logo" => Page::Logo,
        "login" => Page::Login,
        "passkey" => Page::PasskeySignIn,
        "second-factor" => Page::SecondFactor,
        "send-code" => Page::SendCode,
        "step-up" => Page::StepUp,
        "enrol" => Page::Enrol,
        "enrol/confirm" => Page::EnrolConfirm,
        "enrol/passkey" => Page::EnrolPasskey,
        "sessions" => Page::Sessions,
        "account" => Page::Account,
        "account/password" => Page::AccountPassword,
        "account/authenticator" => Page::AccountAuthenticator,
        "account/authenticator/confirm" => Page::AccountAuthenticatorConfirm,
        "account/passkeys" => Page::AccountPasskeys,
        "account/passkeys/remove" => Page::AccountPasskeysRemove,
        "logout" => Page::Logout,
        "approvals" => Page::Approvals,
        held if super::approvals::reference_in(path).is_some() && held.ends_with("/send") => Page::ApprovalSend,
        _ if super::approvals::reference_in(path).is_some() => Page::Approval,
        sso if sso.starts_with("sso/") && sso.ends_with("/callback") => Page::ProviderCallback,
        sso if sso.starts_with("sso/") && sso.ends_with("/backchannel-logout") => Page::ProviderLogout,
        sso if sso.starts_with("sso/") && !sso[4..].contains('/') => Page::ProviderStart,
        _ => Page::Unknown,
    })
}
