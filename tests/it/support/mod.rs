//! The test harness: real parts on loopback, nothing mocked.

pub mod browser;
pub mod gateway;
pub mod pki;
pub mod process;
pub mod redis;
pub mod upstream;

pub use gateway::{Settings, TestGateway};
pub use upstream::RecordingUpstream;

/// Start an upstream and a gateway in front of it with default settings.
pub async fn gateway_and_upstream() -> (TestGateway, RecordingUpstream) {
    let upstream = RecordingUpstream::start().await;
    let gateway = TestGateway::start(Settings::new(upstream.url())).await;
    (gateway, upstream)
}
