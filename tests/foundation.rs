//! The foundation: listeners, health, start-up and shutdown.

use crate::common::*;

#[tokio::test]
async fn admin_health_and_graceful_stop() {
    let edge = TestEdge::start("").await;
    let r = get(edge.admin, "localhost", "/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok\n");
    edge.stop().await;
}
