//! One side of the engine comparison behind CloudFront Functions (benches/engines.sh): load a
//! small function into fresh contexts, then call it with the JSON event of
//! benches/engines/event.json, parsed and stringified in the engine both ways.
use std::time::Instant;
use boa_engine::{Context, Source, JsValue, js_string, object::builtins::JsFunction};
fn rss_kib() -> u64 { std::fs::read_to_string("/proc/self/status").unwrap().lines().find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap() }
fn main() {
    let code = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fn.js")).unwrap();
    let event = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../event.json")).unwrap();
    let r0 = rss_kib();
    let t = Instant::now();
    let n = 200;
    let mut keep = Vec::new();
    for _ in 0..n {
        let mut ctx = Context::default();
        ctx.eval(Source::from_bytes(code.as_bytes())).unwrap();
        keep.push(ctx);
    }
    let load = t.elapsed().as_secs_f64() / n as f64;
    let per = (rss_kib() - r0) as f64 / n as f64;
    let mut ctx = keep.pop().unwrap();
    let h = ctx.global_object().get(js_string!("handler"), &mut ctx).unwrap();
    let h = JsFunction::from_object(h.as_object().unwrap().clone()).unwrap();
    let json = ctx.global_object().get(js_string!("JSON"), &mut ctx).unwrap();
    let json = json.as_object().unwrap().clone();
    let parse = JsFunction::from_object(json.get(js_string!("parse"), &mut ctx).unwrap().as_object().unwrap().clone()).unwrap();
    let stringify = JsFunction::from_object(json.get(js_string!("stringify"), &mut ctx).unwrap().as_object().unwrap().clone()).unwrap();
    let calls = 20_000;
    let ev_s = JsValue::from(js_string!(event.as_str()));
    let t = Instant::now();
    for _ in 0..calls {
        let ev = parse.call(&JsValue::undefined(), &[ev_s.clone()], &mut ctx).unwrap();
        let out = h.call(&JsValue::undefined(), &[ev], &mut ctx).unwrap();
        let s = stringify.call(&JsValue::undefined(), &[out], &mut ctx).unwrap();
        std::hint::black_box(s);
    }
    let call = t.elapsed().as_secs_f64() / calls as f64;
    println!("boa load {:.3} ms, memory per context {:.0} KiB, call (JSON in/out) {:.2} us", load*1e3, per, call*1e6);
}
