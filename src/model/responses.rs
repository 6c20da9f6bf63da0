//! Response documents of the control-plane API, shaped as CloudFront's service model says,
//! built from plain values (ids, times, configs). Each builder returns a [`Tree`]; write it
//! with [`Tree::to_xml`] and the root element named in the builder's docs.
//!
//! Timestamps are ISO 8601 in UTC with milliseconds and `Z` (`2024-01-01T00:00:00.000Z`),
//! which botocore parses.

use time::OffsetDateTime;
use time::macros::format_description;

use super::distribution::DistributionConfig;
use super::invalidation::InvalidationBatch;
use super::keys::{KeyGroupConfig, PublicKeyConfig};
use super::policy::{CachePolicyConfig, OriginRequestPolicyConfig, PolicyType};
use super::reader::{MapBuilder, leaves, wrapped};
use super::tree::{Tree, XMLNS, escape_text};

/// A timestamp as CloudFront writes it: UTC, milliseconds, `Z`.
pub fn timestamp(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// The non-config members of a distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionMeta {
    /// Distribution id (`E2QWRUHEXAMPLE`).
    pub id: String,
    /// `arn:aws:cloudfront::<account>:distribution/<id>`.
    pub arn: String,
    /// `InProgress` or `Deployed`.
    pub status: String,
    /// Last change.
    pub last_modified_time: OffsetDateTime,
    /// Invalidation batches in progress.
    pub in_progress_invalidation_batches: u32,
    /// `d111111abcdef8.cloudfront.net`.
    pub domain_name: String,
    /// The current version tag (listed in summaries).
    pub etag: Option<String>,
}

/// A trusted key group and the public key ids in it (for `ActiveTrustedKeyGroups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKeyGroup {
    /// Key group id.
    pub key_group_id: String,
    /// Public key ids in the group.
    pub key_pair_ids: Vec<String>,
}

fn key_pair_ids(ids: &[String]) -> Tree {
    wrapped(leaves(ids), Vec::new())
}

/// A trusted signer (AWS account) and its active key pair ids (for `ActiveTrustedSigners`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSigner {
    /// The account as the behaviors list it: `self` or a 12-digit id.
    pub aws_account_number: String,
    /// The account's key pair ids known to edgegate.
    pub key_pair_ids: Vec<String>,
}

/// `ActiveTrustedSigners`: enabled when any behavior trusts signers; one `Signer` per account
/// with the key pair ids edgegate knows for it.
fn active_trusted_signers(cfg: &DistributionConfig, signers: &[ActiveSigner]) -> Tree {
    let enabled = cfg.behaviors().any(|b| b.trusted_signers.enabled);
    let items = signers
        .iter()
        .map(|s| {
            MapBuilder::new()
                .leaf("AwsAccountNumber", &s.aws_account_number)
                .node("KeyPairIds", key_pair_ids(&s.key_pair_ids))
                .build()
        })
        .collect();
    wrapped(items, vec![("Enabled".into(), Tree::leaf(enabled))])
}

/// `ActiveTrustedKeyGroups`: enabled when any behavior trusts key groups.
fn active_trusted_key_groups(cfg: &DistributionConfig, groups: &[ActiveKeyGroup]) -> Tree {
    let enabled = cfg.behaviors().any(|b| b.trusted_key_groups.enabled);
    let items = groups
        .iter()
        .map(|g| {
            MapBuilder::new()
                .leaf("KeyGroupId", &g.key_group_id)
                .node("KeyPairIds", key_pair_ids(&g.key_pair_ids))
                .build()
        })
        .collect();
    wrapped(items, vec![("Enabled".into(), Tree::leaf(enabled))])
}

/// Adds `key` to a structure when it is missing.
fn or_default(t: &mut Tree, key: &str, default: impl FnOnce() -> Tree) {
    if let Tree::Map(m) = t
        && !m.iter().any(|(k, _)| k == key)
    {
        m.push((key.to_owned(), default()));
    }
}

/// Each item of the list wrapper `key` of a structure.
fn items_mut<'a>(t: &'a mut Tree, key: &str) -> impl Iterator<Item = &'a mut Tree> {
    let list = match t {
        Tree::Map(m) => m
            .iter_mut()
            .find(|(k, _)| k == key)
            .and_then(|(_, w)| match w {
                Tree::Map(w) => w.iter_mut().find(|(k, _)| k == "Items").map(|(_, l)| l),
                _ => None,
            }),
        _ => None,
    };
    match list {
        Some(Tree::List(items)) => items.iter_mut(),
        _ => [].iter_mut(),
    }
}

fn member<'a>(t: &'a mut Tree, key: &str) -> Option<&'a mut Tree> {
    match t {
        Tree::Map(m) => m.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn leaf_of<'a>(t: &'a Tree, key: &str) -> Option<&'a str> {
    t.get(key).and_then(Tree::as_str)
}

fn empty_list() -> Tree {
    wrapped(Vec::new(), Vec::new())
}

/// CloudFront's defaults for a cache behavior's members the request left out.
fn behavior_defaults(b: &mut Tree) {
    or_default(b, "SmoothStreaming", || Tree::leaf(false));
    or_default(b, "LambdaFunctionAssociations", empty_list);
    or_default(b, "FunctionAssociations", empty_list);
    or_default(b, "FieldLevelEncryptionId", || Tree::leaf(""));
    or_default(b, "GrpcConfig", || {
        MapBuilder::new().leaf("Enabled", false).build()
    });
    // The legacy form's TTLs (MinTTL is required with ForwardedValues).
    if b.get("ForwardedValues").is_some() {
        or_default(b, "DefaultTTL", || Tree::leaf(86400));
        or_default(b, "MaxTTL", || Tree::leaf(31_536_000));
    }
}

/// The viewer certificate as CloudFront reads it back (the AWS CLI's documented outputs): the
/// `*.cloudfront.net` certificate (`vip`, `TLSv1`, source `cloudfront`, as the current
/// `list-distributions` example shows) when none is given; with an ACM
/// or IAM certificate, `CloudFrontDefaultCertificate: false` and the deprecated `Certificate` /
/// `CertificateSource` pair filled from it.
fn viewer_certificate(t: &mut Tree) {
    or_default(t, "ViewerCertificate", || {
        MapBuilder::new()
            .leaf("CloudFrontDefaultCertificate", true)
            .build()
    });
    let Some(vc) = member(t, "ViewerCertificate") else {
        return;
    };
    if let Some(arn) = leaf_of(vc, "ACMCertificateArn").map(str::to_owned) {
        or_default(vc, "CloudFrontDefaultCertificate", || Tree::leaf(false));
        or_default(vc, "Certificate", || Tree::leaf(&arn));
        or_default(vc, "CertificateSource", || Tree::leaf("acm"));
    } else if let Some(id) = leaf_of(vc, "IAMCertificateId").map(str::to_owned) {
        or_default(vc, "CloudFrontDefaultCertificate", || Tree::leaf(false));
        or_default(vc, "Certificate", || Tree::leaf(&id));
        or_default(vc, "CertificateSource", || Tree::leaf("iam"));
    } else if leaf_of(vc, "CloudFrontDefaultCertificate") == Some("true") {
        or_default(vc, "SSLSupportMethod", || Tree::leaf("vip"));
        or_default(vc, "MinimumProtocolVersion", || Tree::leaf("TLSv1"));
        or_default(vc, "CertificateSource", || Tree::leaf("cloudfront"));
    }
}

/// A `DistributionConfig` as CloudFront reads it back: the config as given, with CloudFront's
/// defaults for every member left out (no logging, `PriceClass_All`, the default certificate,
/// no geo restriction, no web ACL, `http2`, IPv6 on, origin shield off, empty
/// `FieldLevelEncryptionId`, no function associations, the legacy TTLs, error caching of 10
/// seconds). Nothing else is added: an S3 origin gets no `OriginReadTimeout` it was not given.
pub fn distribution_config(cfg: &DistributionConfig) -> Tree {
    let mut t = cfg.to_tree();
    or_default(&mut t, "Logging", || {
        MapBuilder::new()
            .leaf("Enabled", false)
            .leaf("IncludeCookies", false)
            .leaf("Bucket", "")
            .leaf("Prefix", "")
            .build()
    });
    or_default(&mut t, "PriceClass", || Tree::leaf("PriceClass_All"));
    viewer_certificate(&mut t);
    or_default(&mut t, "Restrictions", || {
        MapBuilder::new()
            .node(
                "GeoRestriction",
                wrapped(
                    Vec::new(),
                    vec![("RestrictionType".into(), Tree::leaf("none"))],
                ),
            )
            .build()
    });
    or_default(&mut t, "WebACLId", || Tree::leaf(""));
    or_default(&mut t, "HttpVersion", || Tree::leaf("http2"));
    or_default(&mut t, "IsIPV6Enabled", || Tree::leaf(true));
    or_default(&mut t, "ContinuousDeploymentPolicyId", || Tree::leaf(""));
    or_default(&mut t, "Staging", || Tree::leaf(false));
    for o in items_mut(&mut t, "Origins") {
        or_default(o, "OriginShield", || {
            MapBuilder::new().leaf("Enabled", false).build()
        });
    }
    if let Some(b) = member(&mut t, "DefaultCacheBehavior") {
        behavior_defaults(b);
    }
    for b in items_mut(&mut t, "CacheBehaviors") {
        behavior_defaults(b);
    }
    for e in items_mut(&mut t, "CustomErrorResponses") {
        or_default(e, "ResponsePagePath", || Tree::leaf(""));
        or_default(e, "ResponseCode", || Tree::leaf(""));
        or_default(e, "ErrorCachingMinTTL", || Tree::leaf(10));
    }
    t
}

/// A `Distribution` (root element `Distribution`), as Create/Get/UpdateDistribution return.
pub fn distribution(
    meta: &DistributionMeta,
    cfg: &DistributionConfig,
    signers: &[ActiveSigner],
    key_groups: &[ActiveKeyGroup],
) -> Tree {
    MapBuilder::new()
        .leaf("Id", &meta.id)
        .leaf("ARN", &meta.arn)
        .leaf("Status", &meta.status)
        .leaf("LastModifiedTime", timestamp(meta.last_modified_time))
        .leaf(
            "InProgressInvalidationBatches",
            meta.in_progress_invalidation_batches,
        )
        .leaf("DomainName", &meta.domain_name)
        .node("ActiveTrustedSigners", active_trusted_signers(cfg, signers))
        .node(
            "ActiveTrustedKeyGroups",
            active_trusted_key_groups(cfg, key_groups),
        )
        .node("DistributionConfig", distribution_config(cfg))
        .build()
}

/// One `DistributionSummary`, with every member the model requires (defaults filled in where
/// the config leaves them out).
pub fn distribution_summary(meta: &DistributionMeta, cfg: &DistributionConfig) -> Tree {
    let t = distribution_config(cfg);
    let take = |k: &str| t.get(k).cloned();
    MapBuilder::new()
        .leaf("Id", &meta.id)
        .leaf("ARN", &meta.arn)
        .opt_leaf("ETag", meta.etag.as_ref())
        .leaf("Status", &meta.status)
        .leaf("LastModifiedTime", timestamp(meta.last_modified_time))
        .leaf("DomainName", &meta.domain_name)
        .opt_node("Aliases", take("Aliases"))
        .opt_node("Origins", take("Origins"))
        .opt_node("OriginGroups", take("OriginGroups"))
        .opt_node("DefaultCacheBehavior", take("DefaultCacheBehavior"))
        .opt_node("CacheBehaviors", take("CacheBehaviors"))
        .opt_node("CustomErrorResponses", take("CustomErrorResponses"))
        .leaf("Comment", &cfg.comment)
        .opt_node("PriceClass", take("PriceClass"))
        .leaf("Enabled", cfg.enabled)
        .opt_node("ViewerCertificate", take("ViewerCertificate"))
        .opt_node("Restrictions", take("Restrictions"))
        .opt_node("WebACLId", take("WebACLId"))
        // ListDistributions writes the version in capitals (`HTTP2`), as the AWS CLI's
        // documented `list-distributions` output shows; Get/Create/Update write `http2`.
        .opt_leaf(
            "HttpVersion",
            t.get("HttpVersion")
                .and_then(Tree::as_str)
                .map(str::to_ascii_uppercase),
        )
        .opt_node("IsIPV6Enabled", take("IsIPV6Enabled"))
        .opt_node("Staging", take("Staging"))
        .opt_leaf("ConnectionMode", cfg.connection_mode)
        .opt_leaf("AnycastIpListId", cfg.anycast_ip_list_id.as_ref())
        .opt_node("ViewerMtlsConfig", cfg.viewer_mtls_config.clone())
        .opt_node(
            "ConnectionFunctionAssociation",
            cfg.connection_function_association.clone(),
        )
        .build()
}

/// Paging members of `DistributionList` and `InvalidationList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The `Marker` the request gave (empty for the first page).
    pub marker: String,
    /// Where the next page starts, when truncated.
    pub next_marker: Option<String>,
    /// The `MaxItems` the request gave (or the default).
    pub max_items: u32,
    /// Whether more items follow.
    pub is_truncated: bool,
}

fn paged_list(page: &Page, items: Vec<Tree>) -> Tree {
    let mut m = vec![("Marker".to_owned(), Tree::leaf(&page.marker))];
    if let Some(n) = &page.next_marker {
        m.push(("NextMarker".to_owned(), Tree::leaf(n)));
    }
    m.push(("MaxItems".to_owned(), Tree::leaf(page.max_items)));
    m.push(("IsTruncated".to_owned(), Tree::leaf(page.is_truncated)));
    wrapped(items, m)
}

fn simple_list(next_marker: Option<&str>, max_items: u32, items: Vec<Tree>) -> Tree {
    let mut m = Vec::new();
    if let Some(n) = next_marker {
        m.push(("NextMarker".to_owned(), Tree::leaf(n)));
    }
    m.push(("MaxItems".to_owned(), Tree::leaf(max_items)));
    wrapped(items, m)
}

/// A `DistributionList` (root element `DistributionList`).
pub fn distribution_list(page: &Page, items: &[(DistributionMeta, DistributionConfig)]) -> Tree {
    paged_list(
        page,
        items
            .iter()
            .map(|(m, c)| distribution_summary(m, c))
            .collect(),
    )
}

/// A `DistributionIdList` (root element `DistributionIdList`), as the
/// `ListDistributionsBy…` operations that list ids return.
pub fn distribution_id_list(page: &Page, ids: &[String]) -> Tree {
    paged_list(page, leaves(ids))
}

/// An `Invalidation` (root element `Invalidation`).
pub fn invalidation(
    id: &str,
    status: &str,
    create_time: OffsetDateTime,
    batch: &InvalidationBatch,
) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("Status", status)
        .leaf("CreateTime", timestamp(create_time))
        .node("InvalidationBatch", batch.to_tree())
        .build()
}

/// One row of an invalidation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationSummary {
    /// Invalidation id.
    pub id: String,
    /// When it was created.
    pub create_time: OffsetDateTime,
    /// `InProgress` or `Completed`.
    pub status: String,
}

/// An `InvalidationList` (root element `InvalidationList`).
pub fn invalidation_list(page: &Page, items: &[InvalidationSummary]) -> Tree {
    paged_list(
        page,
        items
            .iter()
            .map(|s| invalidation_summary(&s.id, s.create_time, &s.status))
            .collect(),
    )
}

/// A `PublicKey` (root element `PublicKey`).
pub fn public_key(id: &str, created_time: OffsetDateTime, cfg: &PublicKeyConfig) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("CreatedTime", timestamp(created_time))
        .node("PublicKeyConfig", cfg.to_tree())
        .build()
}

/// A `PublicKeyList` (root element `PublicKeyList`) of `PublicKeySummary` items.
pub fn public_key_list(
    next_marker: Option<&str>,
    max_items: u32,
    items: &[(String, OffsetDateTime, PublicKeyConfig)],
) -> Tree {
    simple_list(
        next_marker,
        max_items,
        items
            .iter()
            .map(|(id, t, c)| public_key_summary(id, *t, c))
            .collect(),
    )
}

/// A `KeyGroup` (root element `KeyGroup`).
pub fn key_group(id: &str, last_modified_time: OffsetDateTime, cfg: &KeyGroupConfig) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("LastModifiedTime", timestamp(last_modified_time))
        .node("KeyGroupConfig", cfg.to_tree())
        .build()
}

/// A `KeyGroupList` (root element `KeyGroupList`) of `KeyGroupSummary{KeyGroup}` items.
pub fn key_group_list(
    next_marker: Option<&str>,
    max_items: u32,
    items: &[(String, OffsetDateTime, KeyGroupConfig)],
) -> Tree {
    simple_list(
        next_marker,
        max_items,
        items
            .iter()
            .map(|(id, t, c)| key_group_summary(id, *t, c))
            .collect(),
    )
}

/// A `CachePolicy` (root element `CachePolicy`).
pub fn cache_policy(id: &str, last_modified_time: OffsetDateTime, cfg: &CachePolicyConfig) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("LastModifiedTime", timestamp(last_modified_time))
        .node("CachePolicyConfig", cache_policy_config(cfg))
        .build()
}

/// A `CachePolicyConfig` as CloudFront reads it back: a left-out `DefaultTTL` or `MaxTTL` comes
/// back as the value CloudFront uses (86400, or MinTTL when larger; 31536000, or DefaultTTL when
/// larger).
pub fn cache_policy_config(cfg: &CachePolicyConfig) -> Tree {
    let mut t = cfg.to_tree();
    or_default(&mut t, "DefaultTTL", || {
        Tree::leaf(cfg.effective_default_ttl())
    });
    or_default(&mut t, "MaxTTL", || Tree::leaf(cfg.effective_max_ttl()));
    t
}

/// A `CachePolicyList` (root element `CachePolicyList`) of `CachePolicySummary{Type,
/// CachePolicy}` items.
pub fn cache_policy_list(
    next_marker: Option<&str>,
    max_items: u32,
    items: &[(PolicyType, String, OffsetDateTime, CachePolicyConfig)],
) -> Tree {
    policy_list(next_marker, max_items, "CachePolicy", items, cache_policy)
}

/// A list of policies (`CachePolicyList`, `OriginRequestPolicyList`,
/// `ResponseHeadersPolicyList`): `NextMarker`, `MaxItems` and `{Type, <resource>}` summaries,
/// each resource made by `policy`.
pub fn policy_list<C>(
    next_marker: Option<&str>,
    max_items: u32,
    resource: &str,
    items: &[(PolicyType, String, OffsetDateTime, C)],
    policy: impl Fn(&str, OffsetDateTime, &C) -> Tree,
) -> Tree {
    simple_list(
        next_marker,
        max_items,
        items
            .iter()
            .map(|(ty, id, t, c)| {
                MapBuilder::new()
                    .leaf("Type", ty)
                    .node(resource, policy(id, *t, c))
                    .build()
            })
            .collect(),
    )
}

/// A resource with its id and modification time, as Get, Create and Update return it:
/// `{Id, LastModifiedTime, <its config>}` (an `OriginRequestPolicy`, a `ResponseHeadersPolicy`).
pub fn with_id<D: super::Document>(id: &str, last_modified_time: OffsetDateTime, cfg: &D) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("LastModifiedTime", timestamp(last_modified_time))
        .node(D::ROOT, cfg.encode())
        .build()
}

/// An `OriginRequestPolicy` (root element `OriginRequestPolicy`).
pub fn origin_request_policy(
    id: &str,
    last_modified_time: OffsetDateTime,
    cfg: &OriginRequestPolicyConfig,
) -> Tree {
    with_id(id, last_modified_time, cfg)
}

/// An `OriginRequestPolicyList` (root element `OriginRequestPolicyList`) of
/// `OriginRequestPolicySummary{Type, OriginRequestPolicy}` items.
pub fn origin_request_policy_list(
    next_marker: Option<&str>,
    max_items: u32,
    items: &[(
        PolicyType,
        String,
        OffsetDateTime,
        OriginRequestPolicyConfig,
    )],
) -> Tree {
    policy_list(
        next_marker,
        max_items,
        "OriginRequestPolicy",
        items,
        origin_request_policy,
    )
}

// === item builders and a generic list, for callers that page their own items ===

/// One `InvalidationSummary` (an item of `InvalidationList`).
pub fn invalidation_summary(id: &str, create_time: OffsetDateTime, status: &str) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("CreateTime", timestamp(create_time))
        .leaf("Status", status)
        .build()
}

/// One `PublicKeySummary` (an item of `PublicKeyList`).
pub fn public_key_summary(id: &str, created_time: OffsetDateTime, cfg: &PublicKeyConfig) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("Name", &cfg.name)
        .leaf("CreatedTime", timestamp(created_time))
        .leaf("EncodedKey", &cfg.encoded_key)
        .opt_leaf("Comment", cfg.comment.as_ref())
        .build()
}

/// One `KeyGroupSummary{KeyGroup}` (an item of `KeyGroupList`).
pub fn key_group_summary(
    id: &str,
    last_modified_time: OffsetDateTime,
    cfg: &KeyGroupConfig,
) -> Tree {
    MapBuilder::new()
        .node("KeyGroup", key_group(id, last_modified_time, cfg))
        .build()
}

/// One policy summary: `{Type, <kind>: policy}`, where `kind` is `CachePolicy` or
/// `OriginRequestPolicy`, `policy_type` is `managed` or `custom`, and `policy` is what
/// [`cache_policy`] or [`origin_request_policy`] built.
pub fn policy_summary(kind: &str, policy_type: &str, policy: Tree) -> Tree {
    MapBuilder::new()
        .leaf("Type", policy_type)
        .node(kind, policy)
        .build()
}

/// Any of the list documents from already-built items, with the paging members the model
/// gives that list: `DistributionList` and `InvalidationList` carry `Marker` (empty on the
/// first page), `NextMarker`, `MaxItems` and `IsTruncated`; `PublicKeyList`, `KeyGroupList`,
/// `CachePolicyList` and `OriginRequestPolicyList` carry only `NextMarker` and `MaxItems`.
/// `IsTruncated` is true exactly when `next_marker` is set. Write it with `root` as the root
/// element.
pub fn list(
    root: &str,
    marker: Option<&str>,
    next_marker: Option<&str>,
    max_items: usize,
    items: Vec<Tree>,
) -> Tree {
    let max_items = u32::try_from(max_items).unwrap_or(u32::MAX);
    match root {
        "DistributionList" | "InvalidationList" => paged_list(
            &Page {
                marker: marker.unwrap_or_default().to_owned(),
                next_marker: next_marker.map(str::to_owned),
                max_items,
                is_truncated: next_marker.is_some(),
            },
            items,
        ),
        _ => simple_list(next_marker, max_items, items),
    }
}

/// CloudFront's error envelope. `kind` is `Sender` (client errors) or `Receiver` (server
/// errors); code, message and request id are escaped.
pub fn error_xml(kind: &str, code: &str, message: &str, request_id: &str) -> String {
    let esc = escape_text;
    format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        esc(kind),
        esc(code),
        esc(message),
        esc(request_id)
    )
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
