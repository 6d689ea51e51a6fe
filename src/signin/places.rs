//! Sign-ins from new places: the networks (a /24, a /48) and client types
//! each user signs in from are kept in the store. A sign-in from one the
//! user has never signed in from (their first sign-in aside, which has
//! nothing to compare with) is emailed to them and to the addresses in
//! `alerts.new_sign_in_place`, with a link to end that session. Sending
//! never holds up or fails the sign-in.

use std::net::IpAddr;

use crate::i18n::fill;

use super::attempt::Attempt;
use super::engine::SignIn;

impl SignIn {
    pub(super) async fn tell_of_new_place(&self, at: &Attempt<'_>, user: &str, client_type: &str) {
        let sending = self.sending.load_full();
        let Some(alert) = sending.settings.new_place.clone() else {
            return;
        };
        let place = format!("{client_type} from {}", network(at.ip));
        let key = format!("places:{user}");
        let known = match self.store.set_members(&key).await {
            Ok(known) if known.contains(&place) => return,
            Ok(known) => known,
            Err(err) => return tracing::warn!(user, error = %err, "cannot read where the user signs in from"),
        };
        if let Err(err) = self.store.set_add(&key, &place).await {
            return tracing::warn!(user, error = %err, "cannot record where the user signs in from");
        }
        if known.is_empty() {
            return;
        }
        tracing::info!(target: "audit", event = "login.new_place", request_id = %at.request_id, user, client_ip = %at.ip, client_type, place);
        let email = (at.policy.users.get(user)).and_then(|u| u.email.clone());
        let to: Vec<String> = email.filter(|_| alert.to_user).into_iter().chain(alert.also).collect();
        let (ip, time) = (at.ip.to_string(), humantime::format_rfc3339_seconds(at.now).to_string());
        let link = at.host.map_or("/.portcullis/sessions".to_owned(), |host| {
            format!("https://{host}/.portcullis/sessions")
        });
        let subject = fill(&at.t.new_place_subject, &[("company", at.company)]);
        let words = [
            ("company", at.company),
            ("user", user),
            ("ip", &ip),
            ("client", client_type),
            ("time", &time),
            ("link", &link),
        ];
        let body = fill(&at.t.new_place_body, &words);
        self.notify(to, subject, body);
    }

    /// Email `to` a notice, in the background (an alert never holds up or
    /// fails the request it is about); failures are logged.
    pub fn notify(&self, to: Vec<String>, subject: String, body: String) {
        let sending = self.sending.load_full();
        tokio::spawn(async move {
            for address in to {
                if let Err(err) = sending.delivery.notice(&address, &subject, body.clone()).await {
                    tracing::warn!(to = %address, error = %err, "cannot send an alert");
                }
            }
        });
    }
}

/// The network an address is in, for telling places apart: its /24 (IPv4)
/// or /48 (IPv6), as [`crate::session::same_network`] has it.
fn network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn places_are_networks_as_sessions_compare_them() {
        assert_eq!(super::network("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(super::network("::ffff:192.0.2.9".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(super::network("2001:db8:1:2::5".parse().unwrap()), "2001:db8:1::/48");
    }
}
