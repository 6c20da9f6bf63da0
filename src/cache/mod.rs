//! The edge cache: cache keys, freshness, storage with request collapsing, conditional answers
//! and byte ranges (caching.md §2, §4, §5, §10–§12, §14).
//!
//! These are runtime types; the control plane's cache policies are mapped onto
//! [`key::KeySpec`] and [`ttl::TtlBounds`] elsewhere. A request goes through them in this order:
//!
//! 1. [`key::build`] makes the [`key::CacheKey`] (and [`key::forwarded_query`] /
//!    [`key::normalized_accept_encoding`] what the origin receives);
//! 2. [`Cache::lookup`]: fresh → serve, answering [`conditional::not_modified`] with 304 and a
//!    `Range` with [`range::parse`]; stale or missing → fill;
//! 3. [`Cache::begin_fill`]: one leader per key fetches from the origin, followers wait;
//! 4. [`ttl::decide`] on the origin's answer, then [`store::tee`] streams it to the viewer and
//!    stores it once complete;
//! 5. [`Cache::invalidate`] on CreateInvalidation.

pub mod conditional;
pub mod key;
pub mod range;
pub mod store;
pub mod ttl;

pub use store::Cache;

#[cfg(test)]
mod tests;
