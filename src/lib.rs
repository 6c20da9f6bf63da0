//! # edgegate
//!
//! A CloudFront-compatible edge gateway. The crate is a library with a thin binary
//! (`src/main.rs`); everything the binary does is reachable from here so tests drive the
//! same code as production.
//!
//! ## Request path (data plane), in order
//!
//! 1. [`server`] accepts viewer connections (HTTP, HTTPS with rustls) and hands each request
//!    to [`edge::Edge::handle`].
//! 2. [`edge::pipeline`]: limits, Host → distribution, path → cache behavior
//!    ([`edge::routing`], [`edge::pattern`]), allowed methods, viewer protocol policy.
//! 3. [`auth`]: signed URLs and signed cookies on restricted behaviors, before the cache.
//! 4. [`cache`]: cache key from the behavior's cache policy, lookup, conditional and range
//!    answers, revalidation, request collapsing, admission of what the origin returns.
//! 5. [`origin`]: S3 (SigV4 from [`sigv4`]), custom HTTP and local-directory origins behind one
//!    trait.
//! 6. [`edge::headers`] and [`edge::pages`]: CloudFront's response headers and generated pages,
//!    on every outcome.
//! 7. [`sendfile`]: on plain TCP, a cached body of 16 KiB or more leaves through `sendfile` from
//!    its in-memory file mirror instead of being copied into the socket.
//! 8. [`meter`]: one record per request, when the response has finished (or the viewer left),
//!    journaled for access logs, usage reports and metrics.
//!
//! ## Control plane
//!
//! [`control`] is the CloudFront REST API (2020-05-31, REST-XML) on the admin listener. It
//! decodes documents of the [`model`], changes the [`state`] registry (written through to a store
//! over object_store before anything is acknowledged), and [`edge::compile`] turns each accepted
//! state into a routing snapshot that the data plane picks up atomically. [`config`] resolves
//! flags, `EDGEGATE_*` variables and the config file once at start-up; [`app`] wires it all.
//! Shared by both: [`ids`] (CloudFront-style identifiers) and `fold` (the hasher of the
//! request path's lookup tables).

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod control;
pub mod edge;
pub(crate) mod fold;
pub mod geo;
pub mod ids;
pub mod meter;
pub mod model;
pub mod origin;
pub mod sendfile;
pub mod server;
/// The signer's side: signed URLs and cookies, and key generation (`edgegate sign`, `keygen`).
pub mod sign;
pub mod sigv4;
pub mod state;
