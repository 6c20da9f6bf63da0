//! The CloudFront data model: the configuration documents of the 2020-05-31 REST API and their
//! codecs.
//!
//! # Layout
//!
//! Every document goes through one neutral [`Tree`]:
//!
//! ```text
//!  XML body (API) ─┐
//!  JSON (CLI form) ├─► Tree ──(reader + decoders)──► typed config ──validate()──► Diagnostics
//!  TOML (inline)  ─┘                                     │
//!                                                        └─► to_tree() ──► Tree::to_xml() ──► API body
//! ```
//!
//! - [`tree`]: the neutral tree and the XML / JSON / TOML front ends, and the one XML writer.
//! - [`reader`]: a path-tracking reader that decoders use; it absorbs the differences between
//!   the syntaxes (snake_case names, bare lists instead of `{Quantity, Items}` wrappers).
//! - [`diag`]: errors and warnings with the path of the offending member and CloudFront's
//!   error code.
//! - [`distribution`], [`policy`], [`response_headers`], [`keys`], [`origin_access`], [`invalidation`]: typed documents with
//!   `from_tree`, `to_tree` and `validate`.
//! - [`tags`]: resource tags (`Tags`, `TagKeys`, `DistributionConfigWithTags`).
//! - [`responses`]: API response documents built from plain values, and the error envelope.
//!
//! Cross-resource checks (a `CachePolicyId` that names an existing policy, a key group that
//! exists) are the caller's; the configs expose the ids they reference.

pub mod diag;
pub mod distribution;
pub mod invalidation;
pub mod keys;
pub mod origin_access;
pub mod policy;
pub mod reader;
pub mod response_headers;
pub mod responses;
pub mod tags;
pub mod tree;

pub use diag::{Diagnostics, Issue};
pub use distribution::{
    CacheBehavior, DistributionConfig, ItemSelection, Method, Origin, OriginProtocolPolicy,
    ViewerProtocolPolicy,
};
pub use invalidation::InvalidationBatch;
pub use keys::{KeyGroupConfig, PublicKeyConfig};
pub use origin_access::{CloudFrontOriginAccessIdentityConfig, OriginAccessControlConfig};
pub use policy::{
    CachePolicyConfig, MANAGED_ETAG, MANAGED_LAST_MODIFIED, ManagedCachePolicy,
    ManagedOriginRequestPolicy, OriginRequestPolicyConfig, PolicyType, managed_cache_policies,
    managed_origin_request_policies,
};
pub use reader::ModelEnum;
pub use response_headers::{
    ManagedResponseHeadersPolicy, ResponseHeadersPolicyConfig, managed_response_headers_policies,
};
pub use tree::{Tree, TreeError};

/// A configuration document of the API: decoded from and encoded to a [`Tree`] whose XML root
/// is [`Document::ROOT`], and validated against CloudFront's rules.
pub trait Document: Clone + PartialEq + Sized {
    /// Its XML root element (also the key of a CloudFront JSON file's wrapper object).
    const ROOT: &'static str;
    /// Decodes it, reporting every problem.
    fn decode(tree: &Tree, d: &mut Diagnostics) -> Option<Self>;
    /// Encodes it in CloudFront's shape.
    fn encode(&self) -> Tree;
    /// CloudFront's rules that span members (errors and warnings).
    fn validate(&self, d: &mut Diagnostics);
}

macro_rules! document {
    ($($ty:ty => $root:literal),+ $(,)?) => {$(
        impl Document for $ty {
            const ROOT: &'static str = $root;
            fn decode(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
                <$ty>::from_tree(tree, d)
            }
            fn encode(&self) -> Tree {
                self.to_tree()
            }
            fn validate(&self, d: &mut Diagnostics) {
                <$ty>::validate(self, d)
            }
        }
    )+};
}

document!(
    DistributionConfig => "DistributionConfig",
    InvalidationBatch => "InvalidationBatch",
    PublicKeyConfig => "PublicKeyConfig",
    KeyGroupConfig => "KeyGroupConfig",
    CachePolicyConfig => "CachePolicyConfig",
    OriginRequestPolicyConfig => "OriginRequestPolicyConfig",
    ResponseHeadersPolicyConfig => "ResponseHeadersPolicyConfig",
    OriginAccessControlConfig => "OriginAccessControlConfig",
    CloudFrontOriginAccessIdentityConfig => "CloudFrontOriginAccessIdentityConfig",
);
