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
//!      1. identify    the host; client IP (the peer, or a trusted proxy's
//!                     X-Forwarded-For); every reading of path and method the
//!                     CRM's server family could make; the client type
//!      2. route       /.portcullis/* → portal (→ signin); everything else → the CRM
//!      3. authenticate  the session cookie → a live session on the store
//!      4. authorize   policy::decide → Ok(Permit) | Err(Login | StepUp | Deny)
//!      5. forward     only with a Permit from 4; headers the CRM could
//!                     misread removed, ours added; stream to the CRM
//! ```
//!
//! # Layout
//!
//! Leaves first; each module uses only those above it in this list.
//!
//! - [`clock`]: the one place that reads the wall clock (tests move it).
//! - [`request_id`]: the reference on every log line and error page.
//! - [`i18n`]: the words of the pages and emails, in four languages and ops' own.
//! - [`config`]: the YAML model (raw serde structs) and its validation into a
//!   [`config::Config`], with errors that name the YAML path; settings only.
//! - [`policy`]: the compiled policy and `decide`, the pure authorization
//!   function; networks, client types, users, groups, exemptions, routes,
//!   and how each CRM server family reads a request.
//! - [`live`]: the config and policy a request runs under, loaded together.
//! - [`store`]: where secrets and sessions live: an embedded redb file or
//!   Redis, behind one interface.
//! - [`auth`]: credentials: argon2id passwords, TOTP and sent codes,
//!   recovery codes, invites, lockout, sending codes by email and SMS.
//! - [`session`]: sessions on the store, and the session service with its cache.
//! - [`approval`]: four-eyes approval: requests held in the store until a
//!   second person approves them, and what an approver sees of a body.
//! - [`metrics`]: request and sign-in counters in the Prometheus format.
//! - [`signin`]: the sign-in engine: one pure state machine and the engine
//!   that carries out its effects.
//! - [`portal`]: the gateway's own pages under `/.portcullis/`: forms in,
//!   templates out, in the browser's language.
//! - [`proxy`]: the listener, TLS, connection limits and shutdown
//!   ([`proxy::server`]); the per-request phases ([`proxy::pipeline`]);
//!   client-IP resolution, framing checks, headers and forwarding.
//! - [`admin`]: what the admin commands do to sessions and credentials, the
//!   socket through which they reach a gateway holding the embedded store,
//!   and the admin listener (metrics, health).
//! - [`reload`]: following the config file while running (SIGHUP, file
//!   changes), what needs a restart, ending offboarded users' sessions.
//! - [`startup`]: what `serve` says when it starts (listening where, the
//!   CRM reachable or not, the store, users and how many enrolled).
//! - [`app`]: a running gateway, assembled from its parts in one place.
//! - [`demo`]: `portcullis demo`, a self-signed certificate and a demo CRM.
//! - [`telemetry`]: logging setup (human or JSON lines).
//! - [`upgrade`]: a new binary takes over the listening sockets (SIGUSR2).

pub mod admin;
pub mod app;
pub mod approval;
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
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod upgrade;
