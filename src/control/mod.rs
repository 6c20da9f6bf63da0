//! The control plane: CloudFront's REST API (version 2020-05-31, REST-XML) on the admin listener.
//!
//! Every request passes, in order: SigV4 authentication (when admin credentials are configured),
//! a body limit (1 MiB), XML decoding into the model with every problem collected, validation,
//! the registry (ETag/If-Match, CallerReference idempotency, references), and finally CloudFront's
//! XML response or error envelope. A rejected request never reaches the registry.

pub mod api;
pub mod error;
pub mod functions;
pub mod kvs;
mod lists;
pub mod model_table;
mod origin_access;
mod policies;
pub mod response_headers;
mod tags;
pub mod unsupported;

pub use api::{AdminState, router};
pub use error::ApiError;
