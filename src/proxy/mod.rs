//! The data path: accept TCP, terminate TLS, speak HTTP/1.1 or HTTP/2, and run
//! each request through the gateway's phases.
//!
//! Transport ([`server`], [`tls`]) knows nothing of policy: it hands each
//! request and a [`ConnInfo`] to the [`pipeline`], which reads top to bottom:
//! identify → route → forward, with errors turned into pages in one place.

mod access_log;
pub mod client_ip;
mod error;
pub(crate) mod forward;
mod forward_auth;
pub mod framing;
mod guards;
pub mod headers;
mod hold;
pub mod pipeline;
pub mod proxy_protocol;
pub mod redirect;
mod request;
pub mod server;
pub mod tls;

pub use error::{Fault, GatewayError};
pub use pipeline::{ConnInfo, Gateway};
pub use server::{serve, Parts, ServeError};

/// Bodies the gateway sends back: the upstream's streamed through, or a page
/// we rendered ourselves.
pub type Body = http_body_util::Either<hyper::body::Incoming, http_body_util::Full<bytes::Bytes>>;
