//! A browser, as far as the login pages care: it keeps cookies, reads the
//! CSRF token out of forms, and does not follow redirects by itself.

use std::collections::BTreeMap;

use http::Request;

use super::gateway::{Answer, TestClient, TestGateway};

pub struct Browser {
    /// Like `https://127.0.0.1:PORT`.
    base: String,
    client: TestClient,
    /// Cookies the gateway set, by name.
    pub cookies: BTreeMap<String, String>,
    /// Sent on every request (the address a load balancer reports).
    pub forwarded_for: Option<String>,
    /// Extra headers on every request.
    pub extra: Vec<(String, String)>,
}

impl Browser {
    /// A browser for a test gateway.
    pub fn new(gateway: &TestGateway) -> Browser {
        Browser::at(gateway.url(""), gateway.client())
    }

    /// A browser for any gateway, with a client that trusts it.
    pub fn at(base: String, client: TestClient) -> Browser {
        Browser {
            base,
            client,
            cookies: BTreeMap::new(),
            forwarded_for: None,
            extra: Vec::new(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send("POST", path, Some(body)).await
    }

    /// Any request; `form` is sent urlencoded.
    pub async fn send(&mut self, method: &str, path: &str, form: Option<String>) -> Answer {
        let mut request = Request::builder().method(method).uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header("cookie", jar.join("; "));
        }
        if let Some(ip) = &self.forwarded_for {
            request = request.header("x-forwarded-for", ip);
        }
        for (name, value) in &self.extra {
            request = request.header(name.as_str(), value.as_str());
        }
        let answer = match form {
            Some(body) => {
                let request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    .unwrap();
                super::gateway::read(self.client.send_full(request).await).await
            }
            None => self.client.send(request.body(()).unwrap()).await,
        };
        for set in answer.headers.get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        answer
    }

    /// The CSRF token in the last form.
    pub fn csrf(page: &Answer) -> String {
        let start = page
            .body
            .find("name=\"csrf\" value=\"")
            .expect("no CSRF field on the page")
            + 19;
        page.body[start..start + 64].to_owned()
    }
}
