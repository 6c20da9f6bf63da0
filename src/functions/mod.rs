//! CloudFront Functions: the JavaScript runtime the edge runs on viewer requests and viewer
//! responses, the static checks `CreateFunction`/`UpdateFunction` apply, and the stored
//! function resource (functions.md).
//!
//! - [`engine`]: QuickJS (through `rquickjs`), one runtime per function version per worker
//!   thread, compiled once and reused; the compute budget (thread CPU time, enforced by the
//!   interrupt handler), the memory limit, the helper modules (`crypto`, `querystring`,
//!   `buffer`, `cloudfront`) and `console.log`.
//! - [`check`]: what `CreateFunction`/`UpdateFunction` refuse (size, syntax, features the
//!   runtime forbids).
//! - [`event`]: HTTP request/response → event object → the function's result, applied.
//! - [`kvs`]: KeyValueStore: the stored store, its writes and limits, and `cf.kvs()`.
//! - [`origin_select`]: the `cloudfront` module's origin-selection helpers, checked and kept
//!   for the edge.
//! - [`record`]: the stored function with its DEVELOPMENT and LIVE stages.

pub mod check;
pub mod engine;
pub mod event;
pub mod kvs;
pub mod origin_select;
pub mod record;

pub use engine::{Invocation, Script};
pub use record::{FunctionEntry, Stage, StageVersion};

/// CloudFront's limit on a function's code (10 KB, not adjustable).
pub const MAX_CODE_BYTES: usize = 10 * 1024;
/// The memory a function may allocate beyond the engine's own start-up footprint (2 MB).
pub const MEMORY_LIMIT_BYTES: usize = 2 * 1024 * 1024;
/// The compute budget of one invocation in thread CPU time: 100 % compute utilization. A run
/// that goes past it is interrupted and answered as throttled.
pub const COMPUTE_BUDGET_NANOS: u64 = 1_000_000;
/// `console.log` output kept per invocation (CloudFront truncates at 10 KB).
pub const MAX_LOG_BYTES: usize = 10 * 1024;

/// The functions a cache behavior runs (LIVE stages only).
#[derive(Debug, Clone, Default)]
pub struct Associations {
    /// Runs after the viewer checks, before the cache lookup.
    pub viewer_request: Option<std::sync::Arc<Script>>,
    /// Runs before the response is sent (not for status ≥ 400 or custom error pages).
    pub viewer_response: Option<std::sync::Arc<Script>>,
}

/// `FunctionConfig.Runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum JsRuntime {
    /// `cloudfront-js-1.0`.
    #[serde(rename = "cloudfront-js-1.0")]
    V1,
    /// `cloudfront-js-2.0`.
    #[serde(rename = "cloudfront-js-2.0")]
    V2,
}

impl JsRuntime {
    /// The runtime's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            JsRuntime::V1 => "cloudfront-js-1.0",
            JsRuntime::V2 => "cloudfront-js-2.0",
        }
    }

    /// Parses the API's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cloudfront-js-1.0" => Some(JsRuntime::V1),
            "cloudfront-js-2.0" => Some(JsRuntime::V2),
            _ => None,
        }
    }
}

/// Why a function invocation failed, as CloudFront classifies it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionError {
    /// The code does not compile (a LIVE function should never get here: the API checks).
    /// CloudFront counts compilation errors as throttles.
    #[error("{0}")]
    Compile(String),
    /// The function threw, returned a rejected promise, or ran out of memory or stack.
    #[error("{0}")]
    Execution(String),
    /// The function went past its compute budget and was interrupted.
    #[error("The CloudFront function exceeded its maximum allowed compute budget")]
    Throttled,
    /// The function returned something that is not a valid request or response.
    #[error("{0}")]
    Validation(String),
}

impl FunctionError {
    /// The result type the edge logs and sends in `X-Cache` for this failure.
    pub fn result_type(&self) -> &'static str {
        match self {
            FunctionError::Compile(_) | FunctionError::Throttled => "FunctionThrottledError",
            FunctionError::Execution(_) => "FunctionExecutionError",
            FunctionError::Validation(_) => "FunctionValidationError",
        }
    }

    /// The status the viewer gets: 502 for an invalid result, 503 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            FunctionError::Validation(_) => 502,
            _ => 503,
        }
    }
}
