//! The provider's HTTP client: our hyper and rustls (a private CA when
//! configured), no redirects followed, every exchange within the timeout.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::{Http, Problem, PROVIDER_TIMEOUT};
use crate::config::providers::ProviderSettings;

pub(super) fn http_client(provider: &ProviderSettings) -> Result<Http, Problem> {
    let tls = crate::proxy::forward::client_tls(provider.ca_certs.as_deref())
        .map_err(|e| Problem::Unreachable(e.to_string()))?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(PROVIDER_TIMEOUT));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// One request to the provider (no redirects followed), within the timeout.
pub(super) async fn send(
    http: Http,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let exchange = async {
        let response = http.request(request).await.map_err(|e| HttpError(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let bytes = http_body_util::Limited::new(body, 1 << 20)
            .collect()
            .await
            .map_err(|e| HttpError(e.to_string()))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    };
    tokio::time::timeout(PROVIDER_TIMEOUT, exchange)
        .await
        .map_err(|_| HttpError("no answer within 10s".into()))?
}

/// An error with its causes, for the audit log.
pub(super) fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
