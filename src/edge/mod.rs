//! The data plane: what happens to a viewer request between the listener and the origin, as
//! CloudFront's phases in order (see [`pipeline`], where the order is written).
//!
//! - [`pipeline`]: the phases of one request, in order; the entry point is [`Edge::handle`];
//! - [`routing`]: the compiled distributions and behaviors a request is matched against;
//! - [`pattern`]: path normalisation and behavior path patterns;
//! - [`headers`]: what CloudFront adds to origin requests and responses;
//! - [`pages`]: the bodies of responses the edge generates itself;
//! - [`error`]: the data plane's error type, whose blame decides the status;
//! - [`summary`]: what the phases learn about a request, for the log;
//! - [`send`]: the body handed to the connection;
//! - `metering`: the log phase, which records each finished request;
//! - [`viewer`]: geo restriction and the `CloudFront-*` viewer headers;
//! - [`response_headers`]: response headers policies, compiled and applied;
//! - [`compile`]: control-plane state → routing snapshot.

pub mod compile;
pub mod compress;
pub mod error;
pub mod headers;
pub(crate) mod metering;
pub mod pages;
pub mod pattern;
pub mod pipeline;
pub mod response_headers;
pub mod routing;
pub mod send;
pub mod shield;
pub mod summary;
pub mod viewer;

pub use error::EdgeError;
pub use pipeline::Edge;
pub use send::ResponseBody;
