//! Integration tests: the real gateway on port 0, a real recording upstream,
//! real TLS clients, and a private redis-server. One file per area.

mod account;
mod admin;
mod approvals;
mod attacks;
mod audit;
mod browser;
mod codes;
mod crm_reading;
mod crm_servers;
mod data_guards;
mod deploy;
mod directory;
mod forward_auth;
mod harness;
mod login;
mod networks;
mod operations;
mod pages;
mod passkeys;
mod policy;
mod provisioning;
mod proxy;

mod reload;
mod scale;
mod screens;
mod sessions;
mod sso;
mod store;
mod support;
mod upgrade;
