//! The policy's part of the YAML: client types, networks as users, groups
//! and exemptions name them, users, routes, second factors.

use indexmap::IndexMap;
use serde::Deserialize;

use super::HumanDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientType {
    #[serde(rename = "match", default)]
    pub matcher: Option<RawMatch>,
    #[serde(default)]
    pub login: LoginMode,
}

/// Every condition given must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    pub host: Option<String>,
    pub path_prefix: Option<String>,
    /// A regular expression on the User-Agent header.
    pub user_agent: Option<String>,
    pub header: Option<RawHeaderMatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderMatch {
    pub name: String,
    /// A regular expression on the value; absent means "the header is present".
    pub value: Option<String>,
}

/// Whether a client type passes the gateway's login.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginMode {
    /// Users sign in at the gateway's login page with a second factor.
    #[default]
    Required,
    /// No gateway login (a mobile app with its own API authentication):
    /// only network and route rules apply.
    Passthrough,
}

/// What the CRM runs on. Each family reads requests its own way (see
/// [`crate::policy::reading`]); `generic` assumes it could be any of them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    /// Unknown, or several: every family's defences apply.
    #[default]
    Generic,
    /// IIS / ASP.NET on Windows.
    Iis,
    /// A Java servlet container (Tomcat, Jetty, WebLogic, JBoss/WildFly), Spring.
    Java,
    /// PHP (Apache with mod_php or PHP-FPM, nginx with PHP-FPM, its built-in server).
    Php,
}

/// `any`, or a list of network names, addresses and ranges.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawNetList {
    Keyword(String),
    List(Vec<String>),
}

/// Access as a user, group or exemption states it: `any` or a list for every
/// client type, or one of those per client type.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawAccess {
    All(RawNetList),
    PerClient(IndexMap<String, RawNetList>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub access: Option<RawAccess>,
    pub second_factors: Option<Vec<Factor>>,
    pub passkeys: Option<RawPasskeys>,
    /// `false`: members sign in with the company's identity provider only.
    pub password_sign_in: Option<bool>,
    /// `directory`: members' passwords are checked by `auth.directory`.
    pub password_from: Option<PasswordFrom>,
    /// Members may only look: GET and HEAD.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub access: Option<RawAccess>,
    pub second_factors: Option<Vec<Factor>>,
    pub passkeys: Option<RawPasskeys>,
    /// Overrides the groups' and the default's: `true` for a break-glass
    /// account where passwords are otherwise off.
    pub password_sign_in: Option<bool>,
    /// Overrides the groups' and the default's: `local` for a break-glass
    /// account that must not depend on the directory.
    pub password_from: Option<PasswordFrom>,
    #[serde(default)]
    pub disabled: bool,
    /// RFC 3339 time after which the account is refused.
    pub expires: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExemption {
    pub user: Option<String>,
    pub group: Option<String>,
    pub access: RawAccess,
    /// RFC 3339 time at which the exemption stops applying by itself.
    pub until: String,
    pub reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Path globs (`*` within a segment, `**` across); none means every path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Methods this rule is about; none means every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Client types this rule is about; none means every client type.
    #[serde(default)]
    pub client_types: Vec<String>,
    /// Only members of these groups may pass.
    pub allow_groups: Option<Vec<String>>,
    /// `all`: nobody may pass.
    pub deny: Option<String>,
    /// Only from these networks.
    pub networks: Option<Vec<String>>,
    /// Only with a second factor completed within this long.
    pub step_up: Option<HumanDuration>,
    /// At most this many requests in each window, counted in the store
    /// across gateways.
    pub quota: Option<RawQuota>,
    /// A second person approves each request before it reaches the CRM.
    pub approval: Option<RawApproval>,
    /// `report`: try the rule in production: what it would refuse is
    /// audited and counted, and let through as if the rule were not there.
    #[serde(default)]
    pub mode: RouteMode,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteMode {
    #[default]
    Enforce,
    Report,
}

/// `quota: { requests: 5, every: 24h }` on a route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub requests: u64,
    /// Windows start at whole multiples of this since 1970 (UTC): `24h`
    /// resets at midnight UTC, `1h` on the hour.
    pub every: HumanDuration,
    #[serde(default)]
    pub per: QuotaPer,
    /// Email these addresses when someone reaches the quota (once per
    /// window), through `codes.email`.
    #[serde(default)]
    pub alert: Vec<String>,
}

/// `approval: { by: [managers], valid_for: 1h, reason: required }` on a
/// route: each request it matches is held until a member of `by` (never
/// the requester) approves it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    /// Groups whose members may approve.
    pub by: Vec<String>,
    /// How long a held request waits to be approved and sent.
    #[serde(default = "an_hour")]
    pub valid_for: HumanDuration,
    #[serde(default)]
    pub reason: ReasonMode,
    /// A larger request body is refused: held requests wait in the store.
    #[serde(default = "held_body")]
    pub max_body_bytes: usize,
}

fn an_hour() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(3600))
}

fn held_body() -> usize {
    64 * 1024
}

/// Must the requester say why before approvers are asked?
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonMode {
    #[default]
    Optional,
    Required,
}

/// Whose requests a quota counts together.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPer {
    /// Each signed-in user's (anonymous requests: each address's).
    #[default]
    User,
    /// Each client address's.
    Address,
}

/// Where a user's password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordFrom {
    /// The gateway's own, set from the invite link (argon2id in the store).
    #[default]
    Local,
    /// The company directory (`auth.directory`): a bind as the user.
    Directory,
}

/// A second factor a user may sign in with (recovery codes always work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// An authenticator app (RFC 6238).
    Totp,
    /// A one-time code sent to the user's `email`.
    Email,
    /// A one-time code sent to the user's `phone`.
    Sms,
    /// A passkey or security key (WebAuthn), enrolled from the account page
    /// or an invite link.
    Passkey,
}

impl Factor {
    /// As the YAML writes it.
    pub fn name(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::Email => "email",
            Factor::Sms => "sms",
            Factor::Passkey => "passkey",
        }
    }
}

/// How passkeys may be used, for everyone, a group or a user.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasskeys {
    /// A passkey alone signs in (it proves both the person and the device).
    pub passwordless: Option<bool>,
    /// Only keys that stay on one authenticator: synced passkeys are refused.
    pub device_bound: Option<bool>,
}
