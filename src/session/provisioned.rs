//! The users identity providers provisioned ([`crate::policy::provisioned`]),
//! kept in the store that every gateway shares: one record per user and
//! a set of their names. A change is announced on the store, so that every
//! gateway compiles its policy again ([`crate::reload`]).

use crate::policy::provisioned::Provisioned;
use crate::store::{Store, StoreError};

const NAMES: &str = "provisioned";
/// What the store carries to every gateway when one changes.
pub const ANNOUNCEMENT: &str = "provisioned users changed";

fn key(name: &str) -> String {
    format!("provisioned:{name}")
}

/// Every provisioned user, by name.
pub async fn list(store: &Store) -> Result<Vec<Provisioned>, StoreError> {
    let mut names = store.set_members(NAMES).await?;
    names.sort();
    let mut users = Vec::with_capacity(names.len());
    for name in names {
        users.extend(get(store, &name).await?);
    }
    Ok(users)
}

/// The provisioned user named `name`, if there is one.
pub async fn get(store: &Store, name: &str) -> Result<Option<Provisioned>, StoreError> {
    let Some(bytes) = store.get(&key(name)).await? else {
        return Ok(None);
    };
    let user = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::Unavailable(format!("the record of provisioned user {name:?}: {e}")))?;
    Ok(Some(user))
}

/// Keep what the provider says of `user` now. `true` if that changed
/// anything (a new user, other groups, another email), which is then
/// announced to every gateway.
pub async fn keep(store: &Store, user: &Provisioned) -> Result<bool, StoreError> {
    if get(store, &user.name).await?.as_ref() == Some(user) {
        return Ok(false);
    }
    let bytes = serde_json::to_vec(user).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    store.set(&key(&user.name), &bytes, None).await?;
    store.set_add(NAMES, &user.name).await?;
    store.publish(ANNOUNCEMENT).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_user_is_kept_once_and_kept_again_only_when_the_provider_says_something_new() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::embedded(&dir.path().join("store.redb"), crate::clock::Clock::system()).unwrap();
        let mut heard = store.subscribe();
        let mut sam = Provisioned {
            name: "sam@acme.com".into(),
            by: "okta".into(),
            email: Some("sam@acme.com".into()),
            display_name: Some("Sam".into()),
            claimed: vec!["CRM-Sales".into()],
        };
        assert!(keep(&store, &sam).await.unwrap());
        assert_eq!(heard.try_recv().unwrap(), ANNOUNCEMENT);
        assert!(!keep(&store, &sam).await.unwrap(), "nothing new");
        assert!(heard.try_recv().is_err(), "nothing announced");
        sam.claimed.push("CRM-Admins".into());
        assert!(keep(&store, &sam).await.unwrap());
        assert_eq!(list(&store).await.unwrap(), vec![sam]);
    }
}
