//! A tiny stand-in CRM for the demo: a few pages (contacts, an export,
//! billing, projects) so that policies have something to protect, and a
//! panel showing what the CRM received from the gateway.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use askama::Template;

pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(|req| async move { Ok::<_, Infallible>(page(&req)) });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

/// What the demo shows it received: who the gateway says is signed in,
/// and where the request came from.
const RECEIVED: [&str; 6] = [
    "x-portcullis-user",
    "x-portcullis-groups",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "host",
];

/// A page of the demo CRM; `content` is fixed markup, the headers are escaped.
#[derive(Template)]
#[template(path = "demo/page.html")]
struct Page<'a> {
    title: &'a str,
    content: &'a str,
    received: Vec<(&'static str, String)>,
}

fn page(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, title, content) = match req.uri().path() {
        "/" => (
            StatusCode::OK,
            "Dashboard",
            "<p>Welcome to Acme CRM. 3 open deals, 2 tasks due today.</p>",
        ),
        "/contacts" => (
            StatusCode::OK,
            "Contacts",
            "<table><tr><th>Name</th><th>Company</th></tr><tr><td>Ada Lovelace</td><td>Analytical Ltd</td></tr>\
             <tr><td>Grace Hopper</td><td>Compiler &amp; Co</td></tr></table>",
        ),
        "/contacts/export" => {
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"name,company\nAda Lovelace,Analytical Ltd\nGrace Hopper,Compiler & Co\n",
            )));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/csv"));
            return response;
        }
        "/billing" => (
            StatusCode::OK,
            "Billing",
            "<p>Invoice 2026-114: 4,200.00 EUR, due 1 December.</p>",
        ),
        "/projects" => (StatusCode::OK, "Projects", "<p>Website relaunch · CRM migration</p>"),
        _ => (
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>No such page in the demo CRM.</p>",
        ),
    };
    let received = RECEIVED
        .iter()
        .filter_map(|name| Some((*name, req.headers().get(*name)?.to_str().ok()?.to_owned())))
        .collect();
    // Rendering into a String cannot fail: the template only interpolates.
    let html = Page {
        title,
        content,
        received,
    }
    .render()
    .unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}
