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

use crate::portal::page::escape;

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
    let seen: String = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "host"]
        .iter()
        .filter_map(|name| {
            let value = req.headers().get(*name)?.to_str().ok()?;
            Some(format!("<tr><td>{name}</td><td>{}</td></tr>", escape(value)))
        })
        .collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Acme CRM</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem\">\
         <nav><a href=\"/\">Dashboard</a> · <a href=\"/contacts\">Contacts</a> · <a href=\"/contacts/export\">Export</a> · \
         <a href=\"/billing\">Billing</a> · <a href=\"/projects\">Projects</a></nav>\
         <h1>{title}</h1>{content}<h2>What the CRM received from the gateway</h2><table>{seen}</table></body></html>"
    );
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}
