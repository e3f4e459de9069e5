//! Smoke test: the demo starts, answers /health, and its keys work.

mod common;

use common::Server;

#[test]
fn demo_serves_health_and_records() {
    let s = Server::demo(2000);
    let h = s.get("/health", None);
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    let key = s.key("population-provider");
    let info = s.get("/api/v1/datasets/population", Some(&key));
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["records"], 2000);
}
