//! # edgegate
//!
//! A CloudFront-compatible edge gateway. The crate is a library with a thin binary
//! (`src/main.rs`); everything the binary does is reachable from here so tests drive the
//! same code as production.
//!
//! ## Request path (data plane): CloudFront's phases, in order
//!
//! [`server`] accepts viewer connections (HTTP, HTTPS with rustls) and hands each request to
//! [`edge::Edge::handle`], which runs the phases in the order written there
//! ([`edge::pipeline`], drawn in `docs/architecture.md`):
//!
//! 1. **accept**: CloudFront's limits on the URL and the request head;
//! 2. **route**: Host → distribution, path → cache behavior ([`edge::routing`], [`edge::pattern`]);
//! 3. **viewer checks**: methods, viewer protocol policy, signed URLs and cookies ([`auth`]);
//! 4. *viewer-request function* (not yet);
//! 5. **cache**: key, lookup, conditional and range answers, collapsing, revalidation ([`cache`]);
//! 6. **origin**: the origin request, built and sent ([`origin`], SigV4 from [`sigv4`]),
//!    failover in origin groups;
//! 7. **response**: admission into the cache, custom error pages, CloudFront's headers
//!    ([`edge::headers`], [`edge::pages`]);
//! 8. *viewer-response function* (not yet);
//! 9. **send**: the body handed to the connection ([`edge::send`]), which on plain TCP sends
//!    a cached body of 16 KiB or more from its file mirror with `sendfile` ([`sendfile`]);
//! 10. **log**: metering observes the finished request's summary ([`edge::summary`]) exactly
//!     once, served, failed or abandoned, and journals it for access logs, usage reports and
//!     metrics ([`meter`]).
//!
//! A phase that ends a request early returns an [`edge::EdgeError`], whose blame (viewer,
//! origin, edge) decides the status. The time of day comes from a [`clock::Clock`].
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
pub(crate) mod civil;
pub mod clock;
pub mod config;
pub mod control;
pub mod edge;
pub(crate) mod fold;
pub mod functions;
pub mod geo;
pub mod ids;
pub mod meter;
pub mod model;
pub mod origin;
pub mod s3;
pub mod sendfile;
pub mod server;
/// The signer's side: signed URLs and cookies, and key generation (`edgegate sign`, `keygen`).
pub mod sign;
pub mod sigv4;
pub mod state;
