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

/// Redirect every request to `https://{host}:{https_port}{path}`.
pub async fn serve(listener: TcpListener, https_port: u16, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
        };
        tokio::spawn(async move {
            let service = service_fn(move |req| async move { Ok::<_, Infallible>(redirect(&req, https_port)) });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

fn redirect<B>(req: &Request<B>, https_port: u16) -> Response<Full<Bytes>> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(strip_port)
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b)));
    let Some(host) = host else {
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"This address only redirects to HTTPS; send a Host header.\n",
        )));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
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

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_host_and_path_and_use_the_https_port() {
        let req = Request::builder()
            .uri("/contacts?page=2")
            .header("host", "crm.example.com:80")
            .body(())
            .unwrap();
        let response = redirect(&req, 8443);
        assert_eq!(response.status(), 308);
        assert_eq!(
            response.headers()[LOCATION],
            "https://crm.example.com:8443/contacts?page=2"
        );
        let v6 = Request::builder().uri("/").header("host", "[::1]:80").body(()).unwrap();
        assert_eq!(redirect(&v6, 443).headers()[LOCATION], "https://[::1]/");
    }

    #[test]
    fn hosts_that_are_not_names_get_no_redirect() {
        let req = Request::builder()
            .uri("/")
            .header("host", "evil.com/x")
            .body(())
            .unwrap();
        assert_eq!(redirect(&req, 443).status(), 400);
    }
}
