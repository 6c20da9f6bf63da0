//! The edge cache: cache keys, freshness, storage with request collapsing, conditional answers
//! and byte ranges (caching.md §2, §4, §5, §10–§12, §14).
//!
//! These are runtime types; the control plane's cache policies are mapped onto [`KeySpec`] and
//! [`TtlBounds`] elsewhere. A request goes through them in this order:
//!
//! 1. [`build`] makes the [`CacheKey`] (and [`forwarded_query`] / [`normalized_accept_encoding`]
//!    what the origin receives);
//! 2. [`Cache::lookup`]: fresh → serve, answering [`not_modified`] with 304 and a `Range` with
//!    [`parse`]; stale or missing → fill;
//! 3. [`Cache::begin_fill`]: one leader per key fetches from the origin, followers wait;
//! 4. [`decide`] on the origin's answer, then [`tee`] streams it to the viewer and stores it once
//!    complete (or [`FillGuard::pass`] when it is not to be stored);
//! 5. [`Cache::invalidate`] on CreateInvalidation.
//!
//! [`KeySpec`]: crate::cache::key::KeySpec
//! [`TtlBounds`]: crate::cache::ttl::TtlBounds
//! [`build`]: crate::cache::key::build
//! [`CacheKey`]: crate::cache::key::CacheKey
//! [`forwarded_query`]: crate::cache::key::forwarded_query
//! [`normalized_accept_encoding`]: crate::cache::key::normalized_accept_encoding
//! [`Cache::lookup`]: crate::cache::Cache::lookup
//! [`not_modified`]: crate::cache::conditional::not_modified
//! [`parse`]: crate::cache::range::parse
//! [`Cache::begin_fill`]: crate::cache::Cache::begin_fill
//! [`decide`]: crate::cache::ttl::decide
//! [`tee`]: crate::cache::store::tee
//! [`FillGuard::pass`]: crate::cache::store::FillGuard::pass
//! [`Cache::invalidate`]: crate::cache::Cache::invalidate

pub mod conditional;
pub mod date;
pub mod disk;
pub mod key;
pub mod range;
pub mod store;
pub mod ttl;

pub use store::Cache;

#[cfg(test)]
mod tests;
