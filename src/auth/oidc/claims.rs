//! What an ID token or userinfo says of the user: the claim that names
//! them, their email and name in words, and their groups at the provider.

use std::collections::HashMap;

use super::Problem;
use crate::config::providers::ProviderSettings;
use crate::policy::provisioned::MOST_GROUPS;

/// The claims of an ID token's or userinfo's claims that say who the user
/// is (two types with the same accessors and no trait in common).
macro_rules! naming {
    ($claims:expr) => {
        $crate::auth::oidc::claims::Naming {
            subject: $claims.subject().to_string(),
            email: $claims.email().map(|e| e.to_string()),
            email_verified: $claims.email_verified(),
            preferred_username: $claims.preferred_username().map(|u| u.to_string()),
            display_name: ($claims.name()).and_then(|n| n.get(None)).map(|n| n.to_string()),
            other: &$claims.additional_claims().claims,
        }
    };
}
pub(super) use naming;

pub(super) struct Naming<'a> {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub preferred_username: Option<String>,
    pub display_name: Option<String>,
    pub other: &'a HashMap<String, serde_json::Value>,
}

/// What one set of claims said; `None` where it said nothing.
#[derive(Debug, Default)]
pub(super) struct About {
    /// The value of the provider's `user_claim`.
    pub name: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// The values of the provider's `groups_claim`.
    pub groups: Option<Vec<String>>,
}

impl About {
    /// What `self` said, else what `more` says.
    pub fn or(self, more: About) -> About {
        About {
            name: self.name.or(more.name),
            email: self.email.or(more.email),
            display_name: self.display_name.or(more.display_name),
            groups: self.groups.or(more.groups),
        }
    }
}

impl Naming<'_> {
    pub fn about(&self, provider: &ProviderSettings) -> Result<About, Problem> {
        let verified = |email: &String| self.email_verified != Some(false) && !email.trim().is_empty();
        Ok(About {
            name: self.name(&provider.user_claim)?,
            email: self.email.clone().filter(verified).map(|e| e.trim().to_owned()),
            display_name: self.display_name.clone(),
            groups: provider.groups_claim.as_deref().and_then(|claim| self.groups(claim)),
        })
    }

    /// The value of `claim` (the provider's `user_claim`), if present.
    fn name(&self, claim: &str) -> Result<Option<String>, Problem> {
        let value = match claim {
            "sub" => Some(self.subject.clone()),
            "email" if self.email_verified == Some(false) => return Err(Problem::EmailNotVerified),
            "email" => self.email.clone(),
            "preferred_username" => self.preferred_username.clone(),
            other => (self.other.get(other)).and_then(|v| v.as_str().map(str::to_owned)),
        };
        Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// The groups `claim` lists: a list of names, or one name.
    fn groups(&self, claim: &str) -> Option<Vec<String>> {
        let names = match self.other.get(claim)? {
            serde_json::Value::Array(values) => values.iter().filter_map(|v| v.as_str()).map(str::to_owned).collect(),
            serde_json::Value::String(one) => vec![one.clone()],
            _ => Vec::new(),
        };
        Some(names.into_iter().take(MOST_GROUPS).collect())
    }
}
