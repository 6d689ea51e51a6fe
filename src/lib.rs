//! Portcullis: a security gateway in front of a web CRM.
//!
//! # The request path
//!
//! Data flows one way, in phases; each phase is a small module with a pure
//! decision function, and the server only wires them together:
//!
//! ```text
//! TCP accept ─▶ TLS (rustls, SNI, ALPN h2/http1.1) ─▶ hyper (h1 or h2)
//!   └▶ for each request (proxy::pipeline):
//!      0. framing     refuse ambiguous Content-Length / Transfer-Encoding
//!      1. identify    client IP: the peer, or a trusted proxy's X-Forwarded-For
//!      1. identify    + client type (web, mobile, … by host, path, user-agent, header)
//!      2. route       /.portcullis/* → portal; everything else → the CRM
//!      3. authenticate  the session cookie → a live session on the store
//!      4. authorize   policy::decide → Allow | Login | StepUp | Deny, with its reason
//!      5. forward     only with a Permitted from 4; strip hop-by-hop headers,
//!                     set X-Forwarded-*, stream to the CRM
//! ```
//!
//! # Layout
//!
//! - [`config`]: the YAML model (raw serde structs) and its validation into a
//!   [`config::Config`], with errors that name the YAML path.
//! - [`proxy`]: the listener, TLS, connection limits and shutdown
//!   ([`proxy::server`]); the per-request phases ([`proxy::pipeline`]);
//!   client-IP resolution, framing checks and upstream forwarding.
//! - [`policy`]: the compiled policy and `decide`, the pure authorization
//!   function; networks, client types, users, groups, exemptions, routes.
//! - [`portal`]: the gateway's own pages under `/.portcullis/`.
//! - [`admin`]: what the admin commands do to sessions and credentials, and
//!   the socket through which they reach a gateway holding the embedded store.
//! - [`auth`]: credentials: argon2id passwords, TOTP codes, recovery codes.
//! - [`session`]: sessions on the store: ids, expiry, per-user index.
//! - [`store`]: where secrets and sessions live: an embedded redb file or
//!   Redis, behind one interface.
//! - [`clock`]: the one place that reads the wall clock.
//! - [`reload`]: following the config file while running (SIGHUP, file
//!   changes), and ending the sessions of offboarded users.
//! - [`metrics`]: request and login counters in the Prometheus format.
//! - [`demo`]: `portcullis demo`, a self-signed certificate and a demo CRM.
//! - [`telemetry`]: logging setup (human or JSON lines).

pub mod admin;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod demo;
pub mod i18n;
pub mod live;
pub mod metrics;
pub mod policy;
pub mod portal;
pub mod proxy;
pub mod reload;
pub mod request_id;
pub mod session;
pub mod signin;
pub mod store;
pub mod telemetry;
