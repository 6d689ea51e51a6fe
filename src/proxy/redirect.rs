//! The optional plain-HTTP listener: it serves nothing but a redirect to the
//! same path over HTTPS, so a user typing the bare name lands on the gateway.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, LOCATION};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::config::hosts::{self, ServedNames};

/// Redirect every request for a served name to `https://{host}:{https_port}{path}`
/// (the names as they were at start: a reload does not change this listener).
pub async fn serve(listener: TcpListener, https_port: u16, served: ServedNames, shutdown: impl Future<Output = ()>) {
    let served = std::sync::Arc::new(served);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
        };
        let served = served.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let served = served.clone();
                async move { Ok::<_, Infallible>(redirect(&req, https_port, &served)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

fn redirect<B>(req: &Request<B>, https_port: u16, served: &ServedNames) -> Response<Full<Bytes>> {
    // Only to a name the gateway serves: anything else would make this
    // listener an open redirect to wherever a Host header points.
    let name = (req.headers().get(HOST).and_then(|h| h.to_str().ok()))
        .and_then(hosts::canonical)
        .filter(|name| served.serves(name));
    let Some(name) = name else {
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"This address only redirects to HTTPS, for the names this gateway serves.\n",
        )));
        *response.status_mut() = StatusCode::MISDIRECTED_REQUEST;
        return response;
    };
    let host = match name.contains(':') {
        true => format!("[{name}]"),
        false => name.into_owned(),
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("https://{host}{port}{path}");
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> ServedNames {
        let yaml = "listen: { address: \"127.0.0.1:0\", tls: { cert: c, key: k }, hosts: [crm.example.com, \"::1\"] }";
        let raw: crate::config::RawConfig =
            serde_yaml::from_str(&format!("{yaml}\nupstream: {{ url: \"http://x\" }}")).unwrap();
        let mut found = crate::config::Found::default();
        ServedNames::listed(raw.listen.hosts.as_deref().unwrap(), &mut found).unwrap()
    }

    #[test]
    fn redirects_keep_host_and_path_and_use_the_https_port() {
        let req = Request::builder()
            .uri("/contacts?page=2")
            .header("host", "crm.example.com:80")
            .body(())
            .unwrap();
        let response = redirect(&req, 8443, &served());
        assert_eq!(response.status(), 308);
        assert_eq!(
            response.headers()[LOCATION],
            "https://crm.example.com:8443/contacts?page=2"
        );
        let v6 = Request::builder().uri("/").header("host", "[::1]:80").body(()).unwrap();
        assert_eq!(redirect(&v6, 443, &served()).headers()[LOCATION], "https://[::1]/");
    }

    #[test]
    fn hosts_that_are_not_served_names_get_no_redirect() {
        for host in ["evil.com/x", "evil.example", "crm.example.com.evil.example"] {
            let req = Request::builder().uri("/").header("host", host).body(()).unwrap();
            assert_eq!(redirect(&req, 443, &served()).status(), 421, "{host}");
        }
    }
}
