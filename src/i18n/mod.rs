//! The words of the gateway's pages and emails, in the user's language.
//!
//! English, French, German and Spanish are built in (`src/i18n/*.yaml`, one
//! file a language, every key in each). Ops may add a language or change a
//! text: `auth.texts` names a folder of `<language>.yaml` files (`it.yaml`,
//! or `en.yaml` with the keys to change); keys a file leaves out are taken
//! from the built-in language of that name, else from English. A page is
//! shown in the first language of the browser's `Accept-Language` that the
//! gateway has, else in English. `{name}` in a text is filled in.
//!
//! A leaf: it knows nothing of the rest of the gateway.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

macro_rules! texts {
    ($($key:ident),* $(,)?) => {
        /// Every text, in one language.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Texts {
            /// The language's tag (`en`, `fr`…), for `<html lang>`.
            pub lang: String,
            $(pub $key: String,)*
        }

        /// A file's texts: any of them, the rest taken from elsewhere.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Partial {
            $(#[serde(default)] $key: Option<String>,)*
        }

        impl Partial {
            /// These texts over `base`, as language `lang`.
            fn over(self, base: &Texts, lang: &str) -> Texts {
                Texts {
                    lang: lang.to_owned(),
                    $($key: self.$key.unwrap_or_else(|| base.$key.clone()),)*
                }
            }

            /// Every text empty: the base under English, whose file has them all.
            fn blank() -> Texts {
                Texts {
                    lang: String::new(),
                    $($key: String::new(),)*
                }
            }

            /// The keys it does not have.
            #[cfg(test)]
            fn missing(&self) -> Vec<&'static str> {
                let mut missing = Vec::new();
                $(if self.$key.is_none() { missing.push(stringify!($key)); })*
                missing
            }
        }
    };
}

texts! {
    reference, back_to_crm, nav_account, nav_sessions, nav_sign_out, nav_switch_account, go_back,
    sign_in_title, sign_in_intro, username, password, next_step, failed, locked, in_use_elsewhere,
    confirm_title, ask_totp, ask_totp_or_sent, ask_sent, ask_recovery, step_up_why, code, confirm, email_me,
    email_me_again, text_me, text_me_again, code_sent, send_failed, too_soon, too_many, not_available,
    enrol_title, enrol_intro, new_password, same_again, too_short, not_same, has_username, too_easy,
    used_before, took_too_long_password, scan_title, scan_intro, scan_key, scan_qr_label, scan_code,
    wrong_new_code, codes_title, codes_intro, codes_download, codes_print, codes_copy, sign_in_now,
    link_expired_title, link_invalid_title, link_used_title, link_withdrawn_title, link_not_here_title,
    ask_for_new_link, check_whole_link, link_withdrawn, link_not_here, account_title, account_signed_in_as,
    change_password, change_authenticator, see_sessions, password_title, current_password, new_password_12,
    new_password_again, wrong_current_password, password_changed_title, password_changed,
    authenticator_title, authenticator_intro, took_too_long_start, authenticator_changed_title,
    authenticator_changed, sessions_title, sessions_intro, client, address, signed_in_at, last_seen,
    this_session, end, end_others, sign_out_title, sign_out_question, denied_title, deny_no_network,
    deny_account_network, deny_app_network, deny_route_network, deny_account, deny_read_only,
    deny_route_groups, deny_route_all, deny_route_needs_login, form_expired_title, form_expired,
    too_much_title, form_too_large, upload_too_large, inspect_too_large_title, inspect_too_large,
    unavailable_title, unavailable, sign_in_required_title, sign_in_required, step_up_required,
    not_allowed_title, not_allowed, wrong_address_title, wrong_address, bad_request_title, bad_request,
    unreachable_title, unreachable, slow_title, slow, not_found_title, not_found, email_intro, email_once,
    email_where, email_not_you, sms, use_passkey, sign_in_with_passkey, passkey_no_answer, passkey_needs_browser, passkey_refused, passkey_last_factor,
    passkeys_title, passkeys_intro, passkeys_none, passkey_name, add_passkey, remove, passkey_added, passkey_removed,
    passkey_dates, passkey_unused, manage_passkeys, create_passkey_title, create_passkey_intro, passkey_confirm_first,
    sign_in_with_provider, or_sign_in_here, provider_problem_title, provider_problem, continuing_title, continuing,
    directory_down_title, directory_down, company_password, enrol_intro_directory, not_directory_password,
    password_in_directory, quota_title, quota_reached, new_place_subject, new_place_body,
    quota_alert_subject, quota_alert_body,
    approval_title, approval_held, approval_review, approval_ask_reason, approval_waiting_reason, approval_waiting, approval_approved, approval_rejected, approval_sent, approval_expired, approval_note, approval_request,
    approval_asked_by, approval_held_at, approval_reason, approval_body, approval_no_reason, approval_ask, approval_reason_missing, approval_send, approval_your_note, approval_approve, approval_reject, approval_confirm_first,
    approval_list_title, approval_none, approval_state, approval_too_large, approval_not_sendable, approval_mail_subject, approval_mail_body, approval_approved_subject, approval_approved_mail, approval_rejected_subject, approval_rejected_mail,
}

const BUILT_IN: [(&str, &str); 4] = [
    ("en", include_str!("en.yaml")),
    ("fr", include_str!("fr.yaml")),
    ("de", include_str!("de.yaml")),
    ("es", include_str!("es.yaml")),
];

/// The languages the gateway speaks, English first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    languages: Arc<BTreeMap<String, Texts>>,
    english: Arc<Texts>,
}

impl Default for Catalog {
    fn default() -> Catalog {
        Catalog::built_in()
    }
}

impl Catalog {
    /// The built-in languages. Each file is complete (a test checks it),
    /// so nothing here can fail at run time but an empty fallback to English.
    pub fn built_in() -> Catalog {
        let parse = |text: &str| serde_yaml::from_str::<Partial>(text).unwrap_or_default();
        let english = parse(BUILT_IN[0].1).over(&Partial::blank(), "en");
        let mut languages = BTreeMap::new();
        for (lang, text) in BUILT_IN {
            languages.insert(lang.to_owned(), parse(text).over(&english, lang));
        }
        Catalog {
            languages: Arc::new(languages),
            english: Arc::new(english),
        }
    }

    /// The built-in languages with ops' files from `folder` over them.
    /// A file that does not parse, or names a key there is none of, is an
    /// error naming the file (and the line).
    pub fn with_folder(folder: &Path) -> Result<Catalog, String> {
        let mut catalog = Catalog::built_in();
        let entries = std::fs::read_dir(folder).map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        let languages = Arc::make_mut(&mut catalog.languages);
        for file in files {
            let Some(lang) = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".yaml"))
                .map(str::to_ascii_lowercase)
            else {
                continue;
            };
            if lang.is_empty() || !lang.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                return Err(format!(
                    "{}: name it after its language, like it.yaml or pt-br.yaml",
                    file.display()
                ));
            }
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let partial: Partial = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let base = languages.get(&lang).unwrap_or(&catalog.english).clone();
            languages.insert(lang.clone(), partial.over(&base, &lang));
        }
        if let Some(english) = languages.get("en") {
            catalog.english = Arc::new(english.clone());
        }
        Ok(catalog)
    }

    /// The texts for a browser's `Accept-Language` (`fr-CA,fr;q=0.9,en;q=0.8`):
    /// its most wanted language the gateway has, by full tag or by its
    /// first part; else English.
    pub fn for_accept_language(&self, header: Option<&str>) -> &Texts {
        let mut wanted: Vec<(f32, &str)> = header
            .unwrap_or("")
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (!tag.is_empty() && q > 0.0).then_some((q, tag))
            })
            .collect();
        // Stable: among equal weights, the browser's order stands.
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, tag) in wanted {
            let tag = tag.to_ascii_lowercase();
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(texts) = self.languages.get(&tag).or_else(|| self.languages.get(primary)) {
                return texts;
            }
        }
        &self.english
    }

    /// The texts of one language, if the gateway has it.
    pub fn language(&self, lang: &str) -> Option<&Texts> {
        self.languages.get(lang)
    }

    /// The languages the gateway has, by tag.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_language_has_every_text() {
        for (lang, text) in BUILT_IN {
            let partial: Partial = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{lang}.yaml: {e}"));
            assert!(
                partial.missing().is_empty(),
                "{lang}.yaml misses {:?}",
                partial.missing()
            );
        }
    }

    #[test]
    fn the_browsers_first_language_the_gateway_has_wins() {
        let catalog = Catalog::built_in();
        let pick = |h: &str| catalog.for_accept_language(Some(h)).lang.clone();
        assert_eq!(pick("fr-CA,fr;q=0.9,en;q=0.8"), "fr");
        assert_eq!(pick("it-IT,it;q=0.9,de;q=0.8,en;q=0.7"), "de");
        assert_eq!(pick("en;q=0.5, es;q=0.9"), "es");
        assert_eq!(pick("ja"), "en");
        assert_eq!(pick("de;q=0"), "en");
        assert_eq!(catalog.for_accept_language(None).lang, "en");
        assert_eq!(catalog.language("de").unwrap().sign_in_title, "Anmelden");
    }

    #[test]
    fn ops_can_add_a_language_and_change_a_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("it.yaml"), "sign_in_title: Accedi\n").unwrap();
        std::fs::write(dir.path().join("en.yaml"), "sign_in_intro: \"Welcome to {company}.\"\n").unwrap();
        let catalog = Catalog::with_folder(dir.path()).unwrap();
        let it = catalog.language("it").unwrap();
        assert_eq!(it.sign_in_title, "Accedi");
        assert_eq!(it.password, "Password", "the rest from English");
        assert_eq!(catalog.for_accept_language(None).sign_in_intro, "Welcome to {company}.");
        std::fs::write(dir.path().join("fr.yaml"), "sign_in_titel: Connexion\n").unwrap();
        let err = Catalog::with_folder(dir.path()).unwrap_err();
        assert!(err.contains("fr.yaml") && err.contains("sign_in_titel"), "{err}");
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill("Sign in to use {company}.", &[("company", "Acme")]),
            "Sign in to use Acme."
        );
    }
}
