//! What a CloudFront Function costs edgegate's embedded engine (QuickJS through `rquickjs`):
//! loading (parse, compile, prelude) once per function version and worker thread, the memory a
//! loaded function holds, and one viewer-request call end to end (event object built from the
//! request, the function run, its result applied), for a trivial function that adds a header:
//! the edge's way (the event built and the result read with the engine's own values) and, for
//! comparison, through JSON (as `TestFunction` does).
//!
//!   cargo run --release --example function_cost [CALLS] [direct|json|both]
//!
//! (`direct` or `json` times one way only, for a profiler.)

use std::time::Instant;

use edgegate::functions::JsRuntime;
use edgegate::functions::engine::{self, EdgeLocation, Script};
use edgegate::functions::event::{self, EventContext, RequestEvent, RequestView};
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
    let view = RequestView {
        method: "GET",
        uri: "/obj-1k.bin",
        query: None,
        headers: &h,
    };
    let direct = || {
        let ev = RequestEvent { cx, req: view };
        let out = engine::invoke_with(&s, &ev, 1.7e12, &location).expect("runs");
        let result = out.output.expect("valid");
        event::apply_request_result(&result, &view).expect("valid")
    };
    let json = || {
        let ev = event::request_event(&cx, &view);
        let out = engine::invoke(&s, &ev, 1.7e12, &location).expect("runs");
        event::apply_request(&out.output, &view).expect("valid")
    };
    let time = |f: &dyn Fn() -> event::RequestOutcome| {
        for _ in 0..1000 {
            f();
        }
        let t = Instant::now();
        for _ in 0..calls {
            f();
        }
        t.elapsed().as_secs_f64() * 1e6 / calls as f64
    };
    let mode = std::env::args().nth(2).unwrap_or_else(|| "both".to_owned());
    let call_us = if mode == "json" { 0.0 } else { time(&direct) };
    let json_us = if mode == "direct" { 0.0 } else { time(&json) };
    println!("engine: QuickJS (rquickjs 0.14)");
    println!("load (parse + compile + prelude), per function version and thread: {load_us:.0} µs");
    println!("memory held by one loaded function: {} KiB", bytes / 1024);
    println!(
        "viewer-request call (event built, run, result applied), trivial function: {call_us:.2} µs over {calls} calls"
    );
    println!("the same call through JSON (as TestFunction runs it): {json_us:.2} µs");
}
