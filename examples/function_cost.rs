//! What a CloudFront Function costs edgegate's embedded engine (QuickJS through `rquickjs`):
//! loading (parse, compile, prelude) once per function version and worker thread, the memory a
//! loaded function holds, and one viewer-request call end to end (event object built from the
//! request, the function run, its result applied), for a trivial function that adds a header.
//!
//!   cargo run --release --example function_cost [CALLS]

use std::time::Instant;

use edgegate::functions::JsRuntime;
use edgegate::functions::engine::{self, EdgeLocation, Script};
use edgegate::functions::event::{self, EventContext, RequestView};
use http::{HeaderMap, HeaderValue};

const ADD_HEADER: &str = "function handler(event) {\n  event.request.headers['x-fn'] = {value: '1'};\n  return event.request;\n}\n";

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let script = |etag: &str| Script {
        name: "add-header".into(),
        arn: "arn:aws:cloudfront::123456789012:function/add-header".into(),
        etag: etag.into(),
        runtime: JsRuntime::V2,
        code: ADD_HEADER.into(),
        kvs: None,
    };
    // Loading: a fresh version each time.
    let loads = 200;
    let t = Instant::now();
    for i in 0..loads {
        engine::validate(&script(&format!("E{i}"))).expect("loads");
    }
    let load_us = t.elapsed().as_secs_f64() * 1e6 / loads as f64;
    let bytes = engine::footprint(&script("EMEM")).expect("loads");

    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "d111111abcdef8.cloudfront.net"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, br"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    let cx = EventContext {
        distribution_domain: "d111111abcdef8.cloudfront.net",
        distribution_id: "EDFDVBD6EXAMPLE",
        request_id: "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
        viewer_ip: "198.51.100.11".parse().unwrap(),
    };
    let s = script("ECALL");
    let location = EdgeLocation::default();
    let one = || {
        let view = RequestView {
            method: "GET",
            uri: "/obj-1k.bin",
            query: None,
            headers: &h,
        };
        let ev = event::request_event(&cx, &view);
        let out = engine::invoke(&s, &ev, 1.7e12, &location).expect("runs");
        event::apply_request(&out.output, &view).expect("valid")
    };
    for _ in 0..1000 {
        one();
    }
    let t = Instant::now();
    for _ in 0..calls {
        one();
    }
    let call_us = t.elapsed().as_secs_f64() * 1e6 / calls as f64;
    println!("engine: QuickJS (rquickjs 0.14)");
    println!("load (parse + compile + prelude), per function version and thread: {load_us:.0} µs");
    println!("memory held by one loaded function: {} KiB", bytes / 1024);
    println!(
        "viewer-request call (event built, run, result applied), trivial function: {call_us:.2} µs over {calls} calls"
    );
}
