//! The harness's own promises, which later tests rely on.

use crate::support::redis::RedisServer;

#[test]
fn each_test_binary_gets_its_own_redis_not_the_machines() {
    let redis = RedisServer::start();
    assert_ne!(redis.addr.port(), 6379);
    assert!(redis.addr.ip().is_loopback());
    redis.ping().expect("the private redis-server answers PING");
    let addr = redis.addr;
    drop(redis);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "dropping the handle stops the server"
    );
}
