//! # edgegate
//!
//! A CloudFront-compatible edge gateway. The crate is a library with a thin binary
//! (`src/main.rs`); everything the binary does is reachable from here so tests drive the
//! same code as production.
//!
//! ## Request path (data plane), in order
//!
//! 1. [`server`] accepts viewer connections (HTTP, HTTPS) and hands each request to the edge.
//! 2. `edge::route`: Host → distribution, path → cache behavior, method and viewer-protocol checks.
//! 3. (signed URLs and cookies plug in here, between routing and the cache)
//! 4. [`cache`]: cache key from the behavior's cache policy, lookup, conditional answers,
//!    request collapsing, and admission of what the origin returns.
//! 5. [`origin`]: S3, custom HTTP and local-directory origins behind one trait.
//! 6. `edge::respond`: CloudFront's response headers and error pages.
//!
//! ## Control plane
//!
//! The CloudFront REST API (2020-05-31, REST-XML) on the admin listener, backed by the
//! state store over object_store.

pub mod app;
/// Signed URLs and signed cookies: the verifier that runs between routing and the cache.
pub mod auth;
pub mod cache;
pub mod config;
pub mod control;
pub mod edge;
pub mod ids;
pub mod model;
pub mod origin;
pub mod server;
pub mod sigv4;
pub mod state;
