//! Fuzzes the signed-URL and signed-cookie verifier with arbitrary request lines and cookies:
//! whatever the input, it must answer (grant or denial) without panicking, and quickly.
//!
//! Input: `PATH[?QUERY]` on the first line, the Cookie header on the second.

#![no_main]

use std::sync::OnceLock;

use edgegate::auth::{KeyRing, RequestFacts, verify};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static KeyRing {
    static KEYS: OnceLock<KeyRing> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut k = KeyRing::new();
        k.insert("K2EDGEGATEDEMO", include_str!("../../keys/demo-public.pem"))
            .expect("demo key");
        k.insert(
            "KEC",
            include_str!("../../tests/fixtures/signing/ec-public.pem"),
        )
        .expect("ec key");
        k
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (line, cookie) = text.split_once('\n').unwrap_or((&text, ""));
    let (path, query) = match line.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (line, None),
    };
    let cookies = [cookie];
    let facts = RequestFacts {
        scheme: "https",
        host: "d111111abcdef8.cloudfront.net",
        raw_path: path,
        raw_query: query,
        cookie_headers: &cookies,
        viewer_ip: std::net::IpAddr::from([192, 0, 2, 1]),
        now_epoch: 1_700_000_000,
    };
    let _ = verify(&facts, &["K2EDGEGATEDEMO", "KEC"], keys());
});
