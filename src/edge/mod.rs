//! The data plane: what happens to a viewer request between the listener and the origin.
//!
//! - [`pipeline`]: the stages of one request, in order (see its docs) — the entry point is
//!   [`Edge::handle`];
//! - [`routing`]: the compiled distributions and behaviors a request is matched against;
//! - [`pattern`]: path normalisation and behavior path patterns;
//! - [`headers`]: what CloudFront adds to origin requests and responses;
//! - [`pages`]: the bodies of responses the edge generates itself;
//! - [`compile`]: control-plane state → routing snapshot;
//! - [`viewer`]: geo restriction and the `CloudFront-*` viewer headers;
//! - `metering`: the record of each request, finished when its response is.

pub mod compile;
pub mod headers;
pub(crate) mod metering;
pub mod pages;
pub mod pattern;
pub mod pipeline;
pub mod routing;
pub mod viewer;

pub use metering::MeteredBody;
pub use pipeline::Edge;
