//! For scripts/bench: sign a user in without the forms, by creating a real
//! session in the store the config names, and print the cookie value.
//! (With the embedded store, run it before the gateway starts: redb allows
//! one process at a time.)
//!
//!   cargo run --release --example bench_session -- CONFIG USER

use std::path::Path;

use portcullis::config::StoreSettings;
use portcullis::live::Live;
use portcullis::session::Sessions;
use portcullis::store::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, user] = args.as_slice() else {
        anyhow::bail!("usage: bench_session CONFIG USER");
    };
    let live = Live::load(Path::new(config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = &live.config;
    let store = match &config.store {
        StoreSettings::Embedded(path) => Store::embedded(path, portcullis::clock::Clock::system())?,
        StoreSettings::Redis(settings) => Store::redis_with(settings).await?,
    };
    let sessions = Sessions {
        store: &store,
        limits: config.sessions,
    };
    let (id, _) = sessions
        .create(user, "web", "127.0.0.1".parse()?, portcullis::clock::now())
        .await?;
    println!("{}", id.to_cookie());
    Ok(())
}
