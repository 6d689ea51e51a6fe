//! The passkey pages and forms:
//!
//! ```text
//!  /login ──"Sign in with a passkey"──▶ /passkey ──▶ the CRM page
//!  /second-factor, /step-up ──"Use your passkey"──▶ the same page, posted
//!  /account/passkeys (a fresh second factor first) ──"Add a passkey"──▶ listed
//!  /account/passkeys/remove ──▶ gone, unless it is the last way left
//!  /enrol/passkey ──▶ recovery codes (an invite whose policy asks for a passkey)
//! ```
//!
//! Each page that offers a passkey starts its ceremony when it is shown;
//! the engine ([`crate::signin::passkeys`]) checks the answer.

use std::time::Duration;

use http::StatusCode;

use super::cookies::with_cookies;
use super::signin::{enrol_page, link_page, shown, sign_in_first, sign_in_page, Page};
use super::views::{self, Links, PasskeyForm};
use super::{forms, redirect, Ctx, PortalError};
use crate::auth::passkey::RelyingParty;
use crate::i18n::fill;
use crate::policy::Factor;
use crate::session::{Session, SessionId};
use crate::signin::codes;
use crate::signin::passkeys::ADD_WITHIN;
use crate::signin::{FlowCookie, Notice, Offered, Show};

pub const PASSKEYS: &str = "/.portcullis/account/passkeys";
const SIGN_IN_WITH_PASSKEY: &str = "/.portcullis/passkey";
const ENROL_PASSKEY: &str = "/.portcullis/enrol/passkey";

impl PasskeyForm {
    /// A form posting to `action` whose button says `label`; the rest off.
    fn new(kind: &'static str, action: &'static str, options: String, label: &str) -> PasskeyForm {
        PasskeyForm {
            action,
            kind,
            options,
            label: label.to_owned(),
            fields: Vec::new(),
            named: kind == "create",
            default_name: String::new(),
            autofill: false,
            primary: true,
        }
    }
}

impl Ctx<'_> {
    /// The relying party for the name the browser used; `None` for an
    /// address (passkeys need a name).
    pub fn relying_party(&self) -> Option<RelyingParty> {
        RelyingParty::for_host(self.host.as_deref()?, self.at.company)
    }
}

/// The sign-in page's passkey button, where the policy lets someone sign
/// in with a passkey alone.
pub async fn passwordless_form(ctx: &Ctx<'_>, next: &str) -> Result<Option<PasskeyForm>, PortalError> {
    let anyone =
        (ctx.at.policy.users.values()).any(|u| u.passkeys.passwordless && u.second_factors.contains(&Factor::Passkey));
    let Some(rp) = ctx.relying_party().filter(|_| anyone) else {
        return Ok(None);
    };
    let Some((ceremony, options)) = ctx.signin.passwordless_options(&rp).await? else {
        return Ok(None);
    };
    Ok(Some(PasskeyForm {
        fields: vec![("ceremony", ceremony), ("next", next.to_owned())],
        autofill: true,
        primary: false,
        ..PasskeyForm::new("get", SIGN_IN_WITH_PASSKEY, options, &ctx.t.sign_in_with_passkey)
    }))
}

/// The "Use your passkey" button of a second-factor or step-up page.
pub async fn proof_form(
    ctx: &Ctx<'_>,
    user: &str,
    scope: &str,
    action: &'static str,
    next: &str,
) -> Result<Option<PasskeyForm>, PortalError> {
    let Some(rp) = ctx.relying_party() else {
        return Ok(None);
    };
    let Some(options) = ctx.signin.passkey_options(&ctx.at, &rp, user, scope).await? else {
        return Ok(None);
    };
    Ok(Some(PasskeyForm {
        fields: vec![("next", next.to_owned())],
        ..PasskeyForm::new("get", action, options, &ctx.t.use_passkey)
    }))
}

/// A form that makes a new passkey for `user`, for the ceremony of `scope`.
async fn create_form(
    ctx: &Ctx<'_>,
    user: &str,
    scope: &str,
    action: &'static str,
    fields: Vec<(&'static str, String)>,
) -> Result<Option<PasskeyForm>, PortalError> {
    let Some(rp) = ctx.relying_party() else {
        return Ok(None);
    };
    let Some(options) = ctx.signin.new_passkey_options(&ctx.at, &rp, user, scope).await? else {
        return Ok(None);
    };
    Ok(Some(PasskeyForm {
        fields,
        ..PasskeyForm::new("create", action, options, &ctx.t.add_passkey)
    }))
}

/// A passkey's answer, if the form carries one (and passkeys work at this
/// name), else the code typed.
pub(super) fn offered<'a>(form: &'a forms::Code, rp: Option<&'a RelyingParty>) -> Offered<'a> {
    match rp.filter(|_| !form.passkey.is_empty()) {
        Some(rp) => Offered::Passkey {
            rp,
            answer: &form.passkey,
        },
        None => Offered::Code(&form.code),
    }
}

/// `/.portcullis/passkey`: a passkey from the sign-in page, alone.
pub async fn sign_in(ctx: &Ctx<'_>) -> Page {
    let Some(rp) = ctx.relying_party().filter(|_| ctx.posted()) else {
        return Ok(redirect(super::signin::SIGN_IN));
    };
    let form: forms::PasskeySignIn = ctx.decode();
    let next = super::safe_next(Some(&form.next));
    let outcome = (ctx.signin)
        .passkey_alone(&ctx.at, &rp, &form.ceremony, &form.passkey, next.clone())
        .await?;
    let response = match &outcome.show {
        Show::SignIn { notice, .. } => {
            // After a refusal the browser's autofill does not ask again by itself.
            let mut passkey = passwordless_form(ctx, &next).await?;
            if let Some(form) = passkey.as_mut() {
                form.autofill = false;
            }
            sign_in_page(ctx, &next, "", Some(*notice), passkey)
        }
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

/// `/.portcullis/account/passkeys`: the user's passkeys, and a form to
/// add one once they have proven a second factor in the last minutes.
pub async fn account(ctx: &Ctx<'_>) -> Page {
    let Some((id, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(PASSKEYS));
    };
    let (mut info, mut error) = (None, None);
    if ctx.posted() {
        let form: forms::NewPasskey = ctx.decode();
        let added = match (ctx.relying_party(), fresh(ctx, &session)) {
            (Some(rp), true) => {
                let who = (&id, session.user.as_str());
                ctx.signin
                    .add_passkey(&ctx.at, &rp, who, &form.name, &form.passkey)
                    .await?
            }
            _ => Err(Notice::PasskeyRefused),
        };
        match added {
            Ok(name) => info = Some(fill(&ctx.t.passkey_added, &[("name", &name)])),
            Err(notice) => error = Some(views::notice(ctx.t, notice)),
        }
    }
    passkeys_page(ctx, (&id, &session), info, error).await
}

/// `/.portcullis/account/passkeys/remove`
pub async fn remove(ctx: &Ctx<'_>) -> Page {
    let Some((id, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(PASSKEYS));
    };
    if !ctx.posted() {
        return Ok(redirect(PASSKEYS));
    }
    let form: forms::RemovePasskey = ctx.decode();
    let (info, error) = match ctx.signin.remove_passkey(&ctx.at, &session.user, &form.id).await? {
        Ok(name) => (Some(fill(&ctx.t.passkey_removed, &[("name", &name)])), None),
        Err(notice) => (None, Some(views::notice(ctx.t, notice))),
    };
    passkeys_page(ctx, (&id, &session), info, error).await
}

/// Has the session proven a second factor recently enough to add a passkey?
fn fresh(ctx: &Ctx<'_>, session: &Session) -> bool {
    let proven = super::from_secs(session.second_factor_at);
    ctx.at.now.duration_since(proven).unwrap_or(Duration::ZERO) <= ADD_WITHIN
}

async fn passkeys_page(
    ctx: &Ctx<'_>,
    (id, session): (&SessionId, &Session),
    info: Option<String>,
    error: Option<String>,
) -> Page {
    let t = ctx.t;
    let credentials = crate::auth::credentials::Credentials::load(&ctx.signin.store, &session.user).await;
    let credentials = credentials.map_err(|e| PortalError::Unavailable(e.to_string()))?;
    let day = |secs: u64| humantime::format_rfc3339_seconds(super::from_secs(secs)).to_string()[..10].to_owned();
    let keys = (credentials.iter().flat_map(|c| &c.passkeys))
        .map(|k| views::PasskeyRow {
            id: k.id(),
            name: k.name.clone(),
            dates: fill(
                &t.passkey_dates,
                &[
                    ("created", &day(k.created)),
                    ("used", &k.last_used.map_or(t.passkey_unused.clone(), day)),
                ],
            ),
        })
        .collect();
    let allowed = (ctx.at.policy.users.get(&session.user)).is_some_and(|u| u.second_factors.contains(&Factor::Passkey));
    let (passkey, confirm_first) = match (allowed, fresh(ctx, session)) {
        (false, _) => (None, None),
        (true, true) => {
            let scope = codes::scope("new-passkey", Some(id));
            (
                create_form(ctx, &session.user, &scope, PASSKEYS, Vec::new()).await?,
                None,
            )
        }
        (true, false) => {
            let next: String = form_urlencoded::byte_serialize(PASSKEYS.as_bytes()).collect();
            let link = format!("/.portcullis/step-up?next={next}");
            (None, Some((link, t.passkey_confirm_first.clone())))
        }
    };
    let page = views::Passkeys {
        frame: ctx.frame(&t.passkeys_title, Links::Account),
        info,
        error,
        csrf: &ctx.csrf,
        keys,
        confirm_first,
        passkey,
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// The invite's page that makes the user's first passkey, for the flow
/// the browser's cookie (or the one just set) names.
pub async fn create_page(
    ctx: &Ctx<'_>,
    flow: &FlowCookie,
    token: &str,
    user: &str,
    notice: Option<Notice>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, PortalError> {
    let flow_id = match flow {
        FlowCookie::Set(id, _) => Some(id.clone()),
        _ => ctx.flow_id(),
    };
    let scope = codes::scope("enrol-passkey", flow_id.as_ref());
    let fields = vec![("token", token.to_owned())];
    let mut passkey = create_form(ctx, user, &scope, ENROL_PASSKEY, fields).await?;
    if let Some(form) = passkey.as_mut() {
        form.default_name = ctx.t.passkeys_title.clone();
    }
    let page = views::CreatePasskey {
        frame: ctx.frame(&ctx.t.create_passkey_title, Links::None),
        info: None,
        error: notice.map(|n| views::notice(ctx.t, n)),
        csrf: &ctx.csrf,
        passkey,
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// `/.portcullis/enrol/passkey`: the invite's first passkey, made.
pub async fn enrol(ctx: &Ctx<'_>) -> Page {
    let Some(rp) = ctx.relying_party().filter(|_| ctx.posted()) else {
        return Err(PortalError::NotFound);
    };
    let form: forms::EnrolPasskey = ctx.decode();
    let flow = ctx.flow_id();
    let outcome = (ctx.signin)
        .invite_passkey(&ctx.at, &rp, flow.as_ref(), &form.name, &form.passkey)
        .await?;
    let response = match &outcome.show {
        Show::CreatePasskey { user, notice } => create_page(ctx, &outcome.flow, &form.token, user, *notice).await?,
        Show::TookTooLong => match ctx.signin.check_invite(&ctx.at, &form.token).await? {
            Ok(invite) => enrol_page(ctx, &form.token, &invite.user, Some(Notice::TookTooLong)),
            Err(problem) => link_page(ctx, problem),
        },
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}
