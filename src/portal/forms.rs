//! The portal's forms, as types. A field the browser left out is empty
//! (every form is `#[serde(default)]`); fields of no form (`csrf`, checked
//! by the router) are ignored; a form that does not decode at all is
//! treated as an empty one, which every handler refuses.

use serde::Deserialize;

use crate::auth::password::Password;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignIn {
    pub username: String,
    pub password: Password,
    pub next: String,
}

/// A code or a passkey's answer: the second factor, or a step-up.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Code {
    pub code: String,
    /// A passkey's answer (WebAuthn JSON), instead of a code.
    pub passkey: String,
    pub next: String,
}

/// A passkey alone, from the sign-in page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasskeySignIn {
    /// Which ceremony the page started.
    pub ceremony: String,
    pub passkey: String,
    pub next: String,
}

/// A new passkey from the account page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewPasskey {
    pub name: String,
    pub passkey: String,
}

/// A new passkey from an invite link's page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EnrolPasskey {
    pub token: String,
    pub name: String,
    pub passkey: String,
}

/// Which passkey to remove: its credential id.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RemovePasskey {
    pub id: String,
}

/// "Email me a code", "Text me a code".
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SendCode {
    /// `email` or `sms`.
    pub via: String,
    /// `login` or `step-up`.
    #[serde(rename = "for")]
    pub purpose: String,
    pub next: String,
}

/// An invite link's password form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EnrolPassword {
    pub token: String,
    pub password: Password,
    pub confirm: Password,
}

/// A code from an authenticator being set up.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewCode {
    pub token: String,
    pub code: String,
}

/// The account page's password change.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChangePassword {
    pub current: Password,
    pub password: Password,
    pub confirm: Password,
}

/// The current password, to move to a new authenticator.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CurrentPassword {
    pub current: Password,
}

/// Which session to end: a handle, or `others`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EndSession {
    pub end: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_with_missing_fields_empty_and_others_ignored() {
        let form: SignIn = serde_urlencoded::from_str("csrf=x&username=alice&password=p%26ss").unwrap();
        assert_eq!(form.username, "alice");
        assert_eq!(form.password.expose(), "p&ss");
        assert_eq!(form.next, "");
        let form: SendCode = serde_urlencoded::from_str("for=step-up&via=sms").unwrap();
        assert_eq!((form.purpose.as_str(), form.via.as_str()), ("step-up", "sms"));
        assert_eq!(
            format!("{:?}", form),
            "SendCode { via: \"sms\", purpose: \"step-up\", next: \"\" }"
        );
        let form: ChangePassword = serde_urlencoded::from_str("current=hunter2").unwrap();
        assert!(!format!("{form:?}").contains("hunter2"), "passwords are never printed");
    }
}

/// What an identity provider's server posts to end sessions.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogoutToken {
    pub logout_token: String,
}
