//! One side of the engine comparison behind CloudFront Functions (benches/engines.sh): load a
//! small function into fresh contexts, then call it with the JSON event of
//! benches/engines/event.json, parsed and stringified in the engine both ways.
use std::time::Instant;
use rquickjs::{Context, Function, Runtime, Object, Value};
fn rss_kib() -> u64 { std::fs::read_to_string("/proc/self/status").unwrap().lines().find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap() }
fn main() {
    let code = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fn.js")).unwrap();
    let event = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../event.json")).unwrap();
    let r0 = rss_kib();
    let t = Instant::now();
    let n = 200;
    let mut keep = Vec::new();
    for _ in 0..n {
        let rt = Runtime::new().unwrap();
        rt.set_memory_limit(2 << 20);
        let ctx = Context::full(&rt).unwrap();
        ctx.with(|c| { let _: Value = c.eval(code.as_bytes().to_vec()).unwrap(); });
        keep.push((rt, ctx));
    }
    let load = t.elapsed().as_secs_f64() / n as f64;
    let per = (rss_kib() - r0) as f64 / n as f64;
    let (_rt, ctx) = keep.pop().unwrap();
    let calls = 100_000;
    let t = Instant::now();
    ctx.with(|c| {
        let h: Function = c.globals().get("handler").unwrap();
        let parse: Function = c.eval("JSON.parse").unwrap();
        let stringify: Function = c.eval("JSON.stringify").unwrap();
        for _ in 0..calls {
            let ev: Object = parse.call((event.as_str(),)).unwrap();
            let out: Value = h.call((ev,)).unwrap();
            let s: String = stringify.call((out,)).unwrap();
            std::hint::black_box(s);
        }
    });
    let call = t.elapsed().as_secs_f64() / calls as f64;
    println!("quickjs load {:.3} ms, memory per context {:.0} KiB, call (JSON in/out) {:.2} us", load*1e3, per, call*1e6);
}
