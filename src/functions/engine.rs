//! The JavaScript engine: QuickJS through `rquickjs`.
//!
//! Each worker thread keeps one QuickJS runtime per function version it has run (keyed by the
//! function's ARN and ETag), with the prelude (helper modules, frozen `Date`, `console.log`)
//! and the function's code already evaluated, so no request pays for parsing or compiling. A
//! version is replaced when its ETag changes; a runtime whose invocation failed is dropped and
//! rebuilt on the next call, so a failure never leaks into the next request.
//!
//! Limits: the compute budget ([`COMPUTE_BUDGET_NANOS`] of thread CPU time, checked by
//! QuickJS's interrupt handler, which cannot be caught by the function), a memory limit per
//! runtime (the engine's start-up footprint plus [`MEMORY_LIMIT_BYTES`]), and a 256 KiB stack.
//! Functions get no network, file system, timers or dynamic code (`eval`, `Function`).
//!
//! Chosen where AWS is silent: the function's global scope survives between invocations on
//! the same thread (as the compiled program is reused); functions must not rely on it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use rquickjs::{Context, Ctx, Function, Object, Persistent, Promise, Runtime, Value};

use super::{
    COMPUTE_BUDGET_NANOS, FunctionError, JsRuntime, MAX_LOG_BYTES, MEMORY_LIMIT_BYTES, check,
};

const PRELUDE: &str = include_str!("prelude.js");
/// Function versions kept per thread before the cache starts over (CloudFront's quota of
/// functions per account).
const MAX_CACHED: usize = 100;
/// QuickJS's stack limit for a function (deep recursion is a RangeError, not a crash).
const MAX_STACK_BYTES: usize = 256 * 1024;

/// One function version the edge can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The function's name.
    pub name: Arc<str>,
    /// `arn:aws:cloudfront::<account>:function/<name>`.
    pub arn: Arc<str>,
    /// The version's ETag; with the ARN, the key of the compiled-function cache.
    pub etag: Arc<str>,
    /// Its runtime.
    pub runtime: JsRuntime,
    /// The code as stored.
    pub code: Arc<str>,
    /// The key value store the version is associated with (2.0), for `cf.kvs()`.
    pub kvs: Option<Arc<super::kvs::Binding>>,
}

/// A completed invocation.
#[derive(Debug, Clone)]
pub struct Invocation<T = String> {
    /// What the handler returned (awaited for an async handler): as JSON from [`invoke`], as
    /// the [`EventIo`]'s reading from [`invoke_with`].
    pub output: T,
    /// Thread CPU time used, as a percentage of the compute budget (0 to 100).
    pub utilization: u32,
    /// `console.log` lines.
    pub logs: Vec<String>,
    /// Where the function sent the request with the origin-selection helpers (the last call).
    pub origin: Option<super::origin_select::OriginCall>,
}

/// Where the edge running the function is, for `cloudfront.edgeLocation`.
#[derive(Debug, Clone, Default)]
pub struct EdgeLocation {
    /// The POP's name (`TST1-C1` gives `TST`).
    pub name: String,
    /// `cf.edgeLocation` is an empty object, as in a viewer-response function.
    pub empty: bool,
}

/// A failed invocation: why, and what the function logged before failing.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Why.
    pub error: FunctionError,
    /// `console.log` lines before the failure.
    pub logs: Vec<String>,
    /// Compute utilization up to the failure.
    pub utilization: u32,
}

/// Meters the running invocation against the compute budget in thread CPU time. Reading that
/// clock is a system call, so it is read only when QuickJS checks in (its interrupt handler
/// runs every few thousand operations): a short run reads only the wall clock. Time used is the
/// wall time until the first check (at most [`FIRST_CHECK_CAP_NANOS`], as no run gets that far
/// without a check, so a viewer preempted early is not charged for it), plus the thread's CPU
/// time since.
#[derive(Default)]
struct Meter {
    /// When the running invocation started; `None` when none runs.
    wall: Cell<Option<Instant>>,
    /// At the first check: the thread's CPU clock, and the time charged until then.
    first: Cell<Option<(u64, u64)>>,
    tripped: Cell<bool>,
}

/// The most wall time charged before the engine's first check.
const FIRST_CHECK_CAP_NANOS: u64 = 200_000;

impl Meter {
    fn begin(&self) {
        self.tripped.set(false);
        self.first.set(None);
        self.wall.set(Some(Instant::now()));
    }

    /// Time used so far (ns); the first call of a run reads the CPU clock for the next ones.
    fn used(&self, checking: bool) -> u64 {
        let Some(start) = self.wall.get() else {
            return 0;
        };
        match self.first.get() {
            Some((cpu0, charged)) => charged + cpu_nanos().saturating_sub(cpu0),
            None => {
                let wall = start.elapsed().as_nanos() as u64;
                if checking {
                    let charged = wall.min(FIRST_CHECK_CAP_NANOS);
                    self.first.set(Some((cpu_nanos(), charged)));
                    charged
                } else {
                    wall
                }
            }
        }
    }

    /// The interrupt handler: whether to stop the run.
    fn over_budget(&self) -> bool {
        if self.used(true) > COMPUTE_BUDGET_NANOS {
            self.tripped.set(true);
        }
        self.tripped.get()
    }

    /// Ends the run: the time it used.
    fn end(&self) -> u64 {
        let used = self.used(false);
        self.wall.set(None);
        used
    }
}

/// This thread's CPU time in nanoseconds.
fn cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

fn utilization(nanos: u64) -> u32 {
    (nanos.saturating_mul(100) / COMPUTE_BUDGET_NANOS).min(100) as u32
}

/// How an invocation's event goes into the engine and its result comes out: built and read
/// with the engine's own values ([`super::event::RequestEvent`], the edge's way, which costs no
/// JSON), or as JSON ([`invoke`], for `TestFunction`).
pub trait EventIo {
    /// What reading the result gives.
    type Output;
    /// Builds the event object, beginning the invocation with [`Hooks::event`] or
    /// [`Hooks::begin`].
    fn build<'js>(&self, ctx: &Ctx<'js>, hooks: &Hooks<'js>) -> rquickjs::Result<Value<'js>>;
    /// Reads what the handler returned (settled). It runs within the compute budget (a getter
    /// is the function's code); an engine error is classified as the handler's would be.
    fn read<'js>(&self, result: Value<'js>) -> rquickjs::Result<Self::Output>;
}

/// What an [`EventIo`] gets from the prelude to build an event.
pub struct Hooks<'js> {
    begin: Function<'js>,
    event: Function<'js>,
    adopt: Function<'js>,
    request_proto: Object<'js>,
    now_ms: f64,
}

impl<'js> Hooks<'js> {
    /// Starts the invocation: freezes `Date` at its start time and sets what
    /// `request.rawQueryString()` returns, the query string as received without `?` (`None`
    /// when the URL had no `?`).
    pub fn begin(&self, raw_query: Option<&str>) -> rquickjs::Result<()> {
        self.begin.call((self.now_ms, raw_query))
    }

    /// Begins the invocation as [`Hooks::begin`] does and builds the event: `strings` are the
    /// event type, distribution domain name, distribution id, request id, viewer address,
    /// method and URI; `groups` the request's `querystring`, `headers` and `cookies`. The
    /// skeleton is made of object literals in the prelude, which costs a fraction of defining
    /// each member from here.
    pub fn event(
        &self,
        strings: [&str; 7],
        raw_query: Option<&str>,
        groups: [Object<'js>; 3],
    ) -> rquickjs::Result<Object<'js>> {
        let mut args = rquickjs::function::Args::new(self.event.ctx().clone(), 12);
        args.push_arg(self.now_ms)?;
        args.push_arg(raw_query)?;
        for s in strings {
            args.push_arg(s)?;
        }
        for g in groups {
            args.push_arg(g)?;
        }
        self.event.call_arg(args)
    }

    /// A new `request` object, with the request methods of the runtime (2.0:
    /// `rawQueryString()`, not an own property, so it is neither enumerated nor serialised).
    pub fn new_request(&self, ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
        Object::new_proto(ctx.clone(), Some(&self.request_proto))
    }
}

/// The event as JSON, the result as JSON (`TestFunction`; [`invoke`]). `rawQueryString()`
/// gives the event's `querystring` joined back (`undefined` when it has no parameters), as
/// the raw query is not part of a test event.
struct JsonIo<'a>(&'a str);

impl EventIo for JsonIo<'_> {
    type Output = String;

    fn build<'js>(&self, ctx: &Ctx<'js>, hooks: &Hooks<'js>) -> rquickjs::Result<Value<'js>> {
        hooks.begin.call::<_, ()>((hooks.now_ms, rquickjs::Null))?;
        let event = ctx.json_parse(self.0)?;
        hooks.adopt.call((event,))
    }

    fn read<'js>(&self, result: Value<'js>) -> rquickjs::Result<String> {
        let ctx = result.ctx().clone();
        Ok(match ctx.json_stringify(result)? {
            Some(s) => s.to_string()?,
            None => "null".to_owned(),
        })
    }
}

/// A function version loaded into its own QuickJS runtime. Field order matters: values rooted
/// in the runtime are released before the context and the runtime.
struct Instance {
    handler: Persistent<Function<'static>>,
    begin: Persistent<Function<'static>>,
    event: Persistent<Function<'static>>,
    adopt: Persistent<Function<'static>>,
    request_proto: Persistent<Object<'static>>,
    ctx: Context,
    _rt: Runtime,
    meter: Rc<Meter>,
}

/// A function version's key: its ARN and ETag, and whether its `cf.edgeLocation` is empty (a
/// function associated with both events gets one instance for each).
type VersionKey = (Arc<str>, Arc<str>, bool);

thread_local! {
    static CACHE: RefCell<HashMap<VersionKey, Rc<Instance>>> = RefCell::new(HashMap::new());
    static LOGS: RefCell<(Vec<String>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

fn take_logs() -> Vec<String> {
    LOGS.with(|l| {
        let mut l = l.borrow_mut();
        l.1 = 0;
        std::mem::take(&mut l.0)
    })
}

fn push_log(line: String) {
    LOGS.with(|l| {
        let mut l = l.borrow_mut();
        if l.1 >= MAX_LOG_BYTES {
            return;
        }
        let room = MAX_LOG_BYTES - l.1;
        let mut line = line;
        if line.len() > room {
            let mut cut = room;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        l.1 += line.len();
        l.0.push(line);
    })
}

/// The origin-selection helpers' native side: records the call, logs what is not acted on;
/// the message of the `TypeError` to throw when the arguments are refused.
fn origin_call(helper: String, args: String) -> Option<String> {
    match super::origin_select::record(&helper, &args) {
        Ok(lines) => {
            lines.into_iter().for_each(push_log);
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

/// A JS "binary" string (one char per byte) as bytes.
fn bin_bytes(s: &str) -> Vec<u8> {
    s.chars().map(|c| (c as u32 & 0xff) as u8).collect()
}

/// Bytes as a JS "binary" string.
fn bytes_bin(b: &[u8]) -> String {
    b.iter().map(|&b| b as char).collect()
}

fn digest(alg: String, key: Option<String>, data: String, enc: String) -> Option<String> {
    use hmac::{Hmac, Mac};
    use sha2::Digest;
    let data = bin_bytes(&data);
    let out: Vec<u8> = match (alg.as_str(), key) {
        ("md5", None) => md5::Md5::digest(&data).to_vec(),
        ("sha1", None) => sha1::Sha1::digest(&data).to_vec(),
        ("sha256", None) => sha2::Sha256::digest(&data).to_vec(),
        (alg, Some(key)) => {
            let key = bin_bytes(&key);
            match alg {
                "md5" => mac::<Hmac<md5::Md5>>(&key, &data),
                "sha1" => mac::<Hmac<sha1::Sha1>>(&key, &data),
                "sha256" => mac::<Hmac<sha2::Sha256>>(&key, &data),
                _ => return None,
            }
        }
        _ => return None,
    };
    fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length, so this never fails.
        match <M as hmac::digest::KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    Some(match enc.as_str() {
        "" | "binary" | "latin1" => bytes_bin(&out),
        "hex" => out.iter().map(|b| format!("{b:02x}")).collect(),
        "base64" => base64::engine::general_purpose::STANDARD.encode(&out),
        "base64url" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&out),
        _ => return None,
    })
}

/// Lenient base64 (standard or URL alphabet, padded or not).
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let norm: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    LENIENT.decode(norm.trim_end_matches('=')).ok()
}

fn codec(op: String, s: String) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    Some(match op.as_str() {
        "utf8enc" => bytes_bin(s.as_bytes()),
        "utf8dec" => String::from_utf8_lossy(&bin_bytes(&s)).into_owned(),
        "latin1" => bytes_bin(&bin_bytes(&s)),
        "b64enc" => STANDARD.encode(bin_bytes(&s)),
        "b64urlenc" => URL_SAFE_NO_PAD.encode(bin_bytes(&s)),
        "b64dec" => bytes_bin(&b64_decode(&s)?),
        "pctdec" => percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned(),
        _ => return None,
    })
}

/// The text of the exception pending in `ctx`.
fn exception_text(ctx: &Ctx<'_>) -> String {
    let v: Value<'_> = ctx.catch();
    value_text(&v)
}

fn value_text(v: &Value<'_>) -> String {
    if let Some(o) = v.as_object() {
        let name: Option<String> = o.get("name").ok().flatten();
        let message: Option<String> = o.get("message").ok().flatten();
        if let Some(message) = message {
            return match name {
                Some(n) if !n.is_empty() => format!("{n}: {message}"),
                _ => message,
            };
        }
    }
    if let Some(s) = v.as_string().and_then(|s| s.to_string().ok()) {
        return s;
    }
    v.get::<rquickjs::Coerced<String>>()
        .map(|c| c.0)
        .unwrap_or_else(|_| "unknown error".into())
}

/// What a failed engine call means.
fn classify(meter: &Meter, ctx: &Ctx<'_>, e: rquickjs::Error) -> FunctionError {
    let text = match e {
        rquickjs::Error::Exception => exception_text(ctx),
        rquickjs::Error::Allocation => "InternalError: out of memory".into(),
        other => other.to_string(),
    };
    if meter.tripped.get() {
        return FunctionError::Throttled;
    }
    FunctionError::Execution(text)
}

impl Instance {
    fn load(script: &Script, edge: &EdgeLocation) -> Result<Instance, FunctionError> {
        let internal = |e: rquickjs::Error| FunctionError::Execution(format!("InternalError: {e}"));
        let source = check::prepare(&script.code, script.runtime)
            .map_err(|e| FunctionError::Compile(e.to_string()))?;
        let rt = Runtime::new().map_err(internal)?;
        rt.set_max_stack_size(MAX_STACK_BYTES);
        let meter = Rc::new(Meter::default());
        let m = meter.clone();
        rt.set_interrupt_handler(Some(Box::new(move || m.over_budget())));
        let ctx = Context::full(&rt).map_err(internal)?;
        let (handler, begin, event, adopt, request_proto) = ctx.with(|ctx| {
            let native = Object::new(ctx.clone()).map_err(internal)?;
            let hooks = (|| {
                native.set("digest", Function::new(ctx.clone(), digest)?)?;
                native.set("codec", Function::new(ctx.clone(), codec)?)?;
                native.set("log", Function::new(ctx.clone(), push_log)?)?;
                native.set("origin", Function::new(ctx.clone(), origin_call)?)?;
                let location = Object::new(ctx.clone())?;
                if !edge.empty {
                    location.set("name", edge.name.as_str())?;
                    location.set("serverIp", "127.0.0.1")?;
                    location.set("region", "us-east-1")?;
                }
                let prelude: Function<'_> = ctx.eval(PRELUDE)?;
                prelude.call::<_, Object<'_>>((
                    ctx.globals(),
                    native,
                    script.runtime == JsRuntime::V2,
                    location,
                ))
            })()
            .map_err(|e| match e {
                rquickjs::Error::Exception => FunctionError::Execution(exception_text(&ctx)),
                e => internal(e),
            })?;
            if script.runtime == JsRuntime::V2 {
                super::kvs::install(&ctx, script.kvs.as_ref()).map_err(internal)?;
            }
            meter.begin();
            let mut options = rquickjs::context::EvalOptions::default();
            options.global = true;
            options.strict = true;
            options.filename = Some(format!("{}.js", script.name));
            let evaluated: Result<Value<'_>, _> = ctx.eval_with_options(source, options);
            let handler = match evaluated {
                Ok(v) => v,
                Err(e) => {
                    meter.end();
                    return Err(match classify(&meter, &ctx, e) {
                        FunctionError::Execution(text) => FunctionError::Compile(text),
                        other => other,
                    });
                }
            };
            meter.end();
            let Some(handler) = handler.into_function() else {
                return Err(FunctionError::Compile(
                    "ReferenceError: the code does not define a function named handler".into(),
                ));
            };
            let get = |name: &str| hooks.get::<_, Function<'_>>(name).map_err(internal);
            get("lockdown")?.call::<_, ()>(()).map_err(internal)?;
            let request_proto: Object<'_> = hooks.get("requestProto").map_err(internal)?;
            Ok((
                Persistent::save(&ctx, handler),
                Persistent::save(&ctx, get("begin")?),
                Persistent::save(&ctx, get("event")?),
                Persistent::save(&ctx, get("adopt")?),
                Persistent::save(&ctx, request_proto),
            ))
        })?;
        rt.run_gc();
        let baseline = rt.memory_usage().memory_used_size.max(0) as usize;
        rt.set_memory_limit(baseline + MEMORY_LIMIT_BYTES);
        Ok(Instance {
            handler,
            begin,
            event,
            adopt,
            request_proto,
            ctx,
            _rt: rt,
            meter,
        })
    }

    /// Runs the handler on one event: the result as `io` reads it, and the CPU time used.
    fn call<I: EventIo>(
        &self,
        io: &I,
        now_ms: f64,
    ) -> Result<(I::Output, u64), (FunctionError, u64)> {
        self.ctx.with(|ctx| {
            let meter = &*self.meter;
            meter.begin();
            let result = (|| {
                let hooks = Hooks {
                    begin: self.begin.clone().restore(&ctx)?,
                    event: self.event.clone().restore(&ctx)?,
                    adopt: self.adopt.clone().restore(&ctx)?,
                    request_proto: self.request_proto.clone().restore(&ctx)?,
                    now_ms,
                };
                let event = io.build(&ctx, &hooks)?;
                let handler = self.handler.clone().restore(&ctx)?;
                let mut value: Value<'_> = handler.call((event,))?;
                if let Some(promise) = value.as_promise().cloned() {
                    value = settle(&ctx, meter, promise)?;
                }
                Ok(io.read(value)?)
            })();
            let used = meter.end();
            match result {
                Ok(json) if !meter.tripped.get() => Ok((json, used)),
                Ok(_) => Err((FunctionError::Throttled, used)),
                Err(Settle::Js(e)) => Err((classify(meter, &ctx, e), used)),
                Err(Settle::Rejected(text)) if !meter.tripped.get() => {
                    Err((FunctionError::Execution(text), used))
                }
                Err(Settle::Rejected(_)) => Err((FunctionError::Throttled, used)),
                Err(Settle::Pending) => Err((
                    FunctionError::Execution(
                        "Error: the handler's promise never settled (there are no timers)".into(),
                    ),
                    used,
                )),
            }
        })
    }
}

enum Settle {
    Js(rquickjs::Error),
    Rejected(String),
    Pending,
}

impl From<rquickjs::Error> for Settle {
    fn from(e: rquickjs::Error) -> Self {
        Settle::Js(e)
    }
}

/// Runs the promise jobs until `promise` settles (functions have no timers, so a promise that
/// is pending when no job is left never settles).
fn settle<'js>(ctx: &Ctx<'js>, meter: &Meter, promise: Promise<'js>) -> Result<Value<'js>, Settle> {
    use rquickjs::promise::PromiseState;
    loop {
        match promise.state() {
            PromiseState::Pending => {
                if meter.over_budget() {
                    return Err(Settle::Js(rquickjs::Error::Exception));
                }
                if !ctx.execute_pending_job() {
                    return Err(Settle::Pending);
                }
            }
            PromiseState::Resolved => {
                return promise
                    .result::<Value<'js>>()
                    .unwrap_or(Ok(Value::new_undefined(ctx.clone())))
                    .map_err(Settle::Js);
            }
            PromiseState::Rejected => {
                let reason = match promise.result::<Value<'js>>() {
                    Some(Err(rquickjs::Error::Exception)) => exception_text(ctx),
                    Some(Ok(v)) => value_text(&v),
                    Some(Err(e)) => e.to_string(),
                    None => "unknown rejection".into(),
                };
                return Err(Settle::Rejected(reason));
            }
        }
    }
}

/// Loads `script` in a scratch runtime: whether it compiles, its top-level code runs within
/// the compute budget, and it defines `handler` (CreateFunction, UpdateFunction).
pub fn validate(script: &Script) -> Result<(), FunctionError> {
    Instance::load(script, &EdgeLocation::default()).map(|_| ())
}

/// The memory a loaded function's runtime holds (bytes), before any invocation: the engine's
/// own footprint plus the compiled function (for measurements).
pub fn footprint(script: &Script) -> Result<usize, FunctionError> {
    let i = Instance::load(script, &EdgeLocation::default())?;
    Ok(i._rt.memory_usage().memory_used_size.max(0) as usize)
}

/// Runs `script` on `event` (the event object as JSON) at `now_ms` (what `Date.now()` returns
/// throughout the run), giving the result as JSON. The compiled version is reused from this
/// thread's cache.
pub fn invoke(
    script: &Script,
    event: &str,
    now_ms: f64,
    edge: &EdgeLocation,
) -> Result<Invocation, Failure> {
    invoke_with(script, &JsonIo(event), now_ms, edge)
}

/// Runs `script` on the event `io` builds, at `now_ms`, giving the result as `io` reads it.
pub fn invoke_with<I: EventIo>(
    script: &Script,
    io: &I,
    now_ms: f64,
    edge: &EdgeLocation,
) -> Result<Invocation<I::Output>, Failure> {
    let key = (script.arn.clone(), script.etag.clone(), edge.empty);
    let cached = CACHE.with(|c| c.borrow().get(&key).cloned());
    let instance = match cached {
        Some(i) => i,
        None => {
            take_logs();
            let i = match Instance::load(script, edge) {
                Ok(i) => Rc::new(i),
                Err(error) => {
                    return Err(Failure {
                        error,
                        logs: take_logs(),
                        utilization: 0,
                    });
                }
            };
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() >= MAX_CACHED {
                    c.clear();
                }
                c.insert(key.clone(), i.clone());
            });
            i
        }
    };
    take_logs();
    super::kvs::begin();
    super::origin_select::clear();
    let result = instance.call(io, now_ms);
    let logs = take_logs();
    let origin = super::origin_select::take();
    match result {
        Ok((output, used)) => Ok(Invocation {
            output,
            utilization: utilization(used),
            logs,
            origin,
        }),
        Err((error, used)) => {
            // A failed runtime is not reused: the next call starts from a fresh one.
            CACHE.with(|c| c.borrow_mut().remove(&key));
            Err(Failure {
                error,
                logs,
                utilization: utilization(used),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(code: &str, runtime: JsRuntime) -> Script {
        Script {
            name: "t".into(),
            arn: format!("arn:aws:cloudfront::123456789012:function/t{}", code.len()).into(),
            etag: crate::ids::etag().into(),
            runtime,
            code: code.into(),
            kvs: None,
        }
    }

    fn run(code: &str, runtime: JsRuntime, event: &str) -> Result<Invocation, Failure> {
        invoke(
            &script(code, runtime),
            event,
            1_700_000_000_000.0,
            &EdgeLocation::default(),
        )
    }

    #[test]
    fn runs_a_handler_and_returns_its_result() {
        let out = run(
            "function handler(event) { var r = event.request; r.uri = r.uri + 'x'; console.log('hi ' + Date.now()); return r; }",
            JsRuntime::V1,
            r#"{"request":{"uri":"/a","headers":{}}}"#,
        )
        .unwrap();
        assert_eq!(out.output, r#"{"uri":"/ax","headers":{}}"#);
        assert_eq!(out.logs, ["hi 1700000000000"]);
    }

    #[test]
    fn async_handlers_are_awaited() {
        let out = run(
            "async function handler(event) { const v = await Promise.resolve(2); return {statusCode: 200 + v}; }",
            JsRuntime::V2,
            "{}",
        )
        .unwrap();
        assert_eq!(out.output, r#"{"statusCode":202}"#);
    }

    #[test]
    fn crypto_matches_known_digests() {
        let code = r#"
            import crypto from 'crypto';
            function handler(e) {
              return [
                crypto.createHash('sha256').update('abc').digest('hex'),
                crypto.createHash('md5').update('abc').digest('base64'),
                crypto.createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex'),
                crypto.createHash('sha1').update('abc').digest('base64url'),
                crypto.createHash('sha1').update('abc').digest().toString('hex'),
              ];
            }"#;
        let out = run(code, JsRuntime::V2, "{}").unwrap();
        let v: Vec<String> = serde_json::from_str(&out.output).unwrap();
        assert_eq!(
            v[0],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(v[1], "kAFQmDzST7DWlj99KOF/cg==");
        assert_eq!(
            v[2],
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert_eq!(v[3], "qZk-NkcGgWq6PiVxeFDCbJzQ2J0");
        assert_eq!(v[4], "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn querystring_and_buffer_helpers() {
        let code = r#"
            var qs = require('querystring');
            function handler(e) {
              return [qs.stringify({a: ['1', '2'], b: 'x y'}), JSON.stringify(qs.parse('a=1&a=2&b=%20')),
                      Buffer.from('aGk=', 'base64').toString(), btoa('hi'), atob('aGk=')];
            }"#;
        let out = run(code, JsRuntime::V2, "{}").unwrap();
        let v: Vec<String> = serde_json::from_str(&out.output).unwrap();
        assert_eq!(
            v,
            [
                "a=1&a=2&b=x%20y",
                r#"{"a":["1","2"],"b":" "}"#,
                "hi",
                "aGk=",
                "hi"
            ]
        );
    }

    #[test]
    fn limits_hold() {
        let forever = run(
            "function handler(e) { while (true) {} }",
            JsRuntime::V1,
            "{}",
        )
        .unwrap_err();
        assert_eq!(forever.error, FunctionError::Throttled);
        let caught = run(
            "function handler(e) { try { while (true) {} } catch (x) { return 'escaped'; } }",
            JsRuntime::V1,
            "{}",
        )
        .unwrap_err();
        assert_eq!(caught.error, FunctionError::Throttled);
        let greedy = run(
            "function handler(e) { var a = []; while (true) { a.push(new Array(100000).fill(1)); } }",
            JsRuntime::V1,
            "{}",
        )
        .unwrap_err();
        assert_eq!(
            greedy.error.result_type(),
            "FunctionExecutionError",
            "{:?}",
            greedy.error
        );
        let deep = run(
            "function handler(e) { return handler(e); }",
            JsRuntime::V1,
            "{}",
        )
        .unwrap_err();
        assert_eq!(deep.error.result_type(), "FunctionExecutionError");
        let thrown = run(
            "function handler(e) { throw new TypeError('nope'); }",
            JsRuntime::V1,
            "{}",
        )
        .unwrap_err();
        assert_eq!(
            thrown.error,
            FunctionError::Execution("TypeError: nope".into())
        );
        let evil = run(
            "function handler(e) { return eval('1'); }",
            JsRuntime::V2,
            "{}",
        )
        .unwrap_err();
        assert!(
            evil.error.to_string().starts_with("EvalError"),
            "{}",
            evil.error
        );
        let ctor = run(
            "function handler(e) { return (function(){}).constructor('return 1')(); }",
            JsRuntime::V2,
            "{}",
        )
        .unwrap_err();
        assert!(
            ctor.error.to_string().starts_with("EvalError"),
            "{}",
            ctor.error
        );
        // And the thread still runs functions afterwards.
        assert!(run("function handler(e) { return 1; }", JsRuntime::V1, "{}").is_ok());
    }

    #[test]
    fn runtime_one_lacks_what_two_added() {
        let out = run(
            "function handler(e) { return [typeof Buffer, typeof 'x'.replaceAll, typeof String.bytesFrom]; }",
            JsRuntime::V1,
            "{}",
        )
        .unwrap();
        assert_eq!(out.output, r#"["undefined","undefined","function"]"#);
    }
}
