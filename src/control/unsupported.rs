//! The operations of CloudFront's API that edgegate does not implement.
//!
//! A request the dispatcher does not handle is matched against every operation of botocore's
//! service model ([`super::model_table::OPERATIONS`]: method, request URI and the literal query some
//! URIs carry), so the answer is always `UnsupportedOperation` naming the operation the client
//! meant, never a misleading code from an operation that happens to share the path.

use http::Method;

use super::error::ApiError;
use super::model_table::{OPERATIONS, Operation};

/// The operations edgegate implements (the README's list). Every other operation of the model
/// answers `UnsupportedOperation` with its name.
pub const SUPPORTED: &[&str] = &[
    "CreateCachePolicy",
    "CreateCloudFrontOriginAccessIdentity",
    "CreateDistribution",
    "CreateDistributionWithTags",
    "CreateFunction",
    "CreateInvalidation",
    "CreateKeyGroup",
    "CreateKeyValueStore",
    "CreateOriginAccessControl",
    "CreateOriginRequestPolicy",
    "CreatePublicKey",
    "CreateResponseHeadersPolicy",
    "DeleteCachePolicy",
    "DeleteCloudFrontOriginAccessIdentity",
    "DeleteDistribution",
    "DeleteFunction",
    "DeleteKeyGroup",
    "DeleteKeyValueStore",
    "DeleteOriginAccessControl",
    "DeleteOriginRequestPolicy",
    "DeletePublicKey",
    "DeleteResponseHeadersPolicy",
    "DescribeFunction",
    "DescribeKeyValueStore",
    "GetCachePolicy",
    "GetCachePolicyConfig",
    "GetCloudFrontOriginAccessIdentity",
    "GetCloudFrontOriginAccessIdentityConfig",
    "GetDistribution",
    "GetDistributionConfig",
    "GetFunction",
    "GetInvalidation",
    "GetKeyGroup",
    "GetKeyGroupConfig",
    "GetOriginAccessControl",
    "GetOriginAccessControlConfig",
    "GetOriginRequestPolicy",
    "GetOriginRequestPolicyConfig",
    "GetPublicKey",
    "GetPublicKeyConfig",
    "GetResponseHeadersPolicy",
    "GetResponseHeadersPolicyConfig",
    "ListCachePolicies",
    "ListCloudFrontOriginAccessIdentities",
    "ListDistributions",
    "ListDistributionsByCachePolicyId",
    "ListDistributionsByKeyGroup",
    "ListDistributionsByOriginRequestPolicyId",
    "ListDistributionsByResponseHeadersPolicyId",
    "ListDistributionsByWebACLId",
    "ListFunctions",
    "ListInvalidations",
    "ListKeyGroups",
    "ListKeyValueStores",
    "ListOriginAccessControls",
    "ListOriginRequestPolicies",
    "ListPublicKeys",
    "ListResponseHeadersPolicies",
    "ListTagsForResource",
    "PublishFunction",
    "TagResource",
    "TestFunction",
    "UntagResource",
    "UpdateCachePolicy",
    "UpdateCloudFrontOriginAccessIdentity",
    "UpdateDistribution",
    "UpdateFunction",
    "UpdateKeyGroup",
    "UpdateKeyValueStore",
    "UpdateOriginAccessControl",
    "UpdateOriginRequestPolicy",
    "UpdatePublicKey",
    "UpdateResponseHeadersPolicy",
];

/// Whether the request's query carries the operation's literal query (`WithTags`,
/// `Operation=Tag`).
fn query_matches(op: &Operation, query: &[(String, String)]) -> bool {
    let Some(q) = op.query else {
        return true;
    };
    q.split('&').all(|part| {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        query
            .iter()
            .any(|(qk, qv)| qk == k && (v.is_empty() || qv == v))
    })
}

/// Whether `path` (raw, as sent) fits the operation's URI template.
fn path_matches(op: &Operation, path: &str) -> bool {
    let want: Vec<&str> = op.path.split('/').filter(|s| !s.is_empty()).collect();
    let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| (w.starts_with('{') && w.ends_with('}')) || w == g)
}

/// The model's operation a request means, if any. An operation whose URI carries a literal
/// query is preferred when the request has it (`POST /distribution?WithTags` is
/// CreateDistributionWithTags, not CreateDistribution); among the rest, the one with the most
/// literal segments wins (`GET /distribution/{Id}/config` over a label).
pub fn operation(
    method: &Method,
    path: &str,
    query: &[(String, String)],
) -> Option<&'static Operation> {
    OPERATIONS
        .iter()
        .filter(|op| op.method == method.as_str())
        .filter(|op| path_matches(op, path) && query_matches(op, query))
        .max_by_key(|op| {
            let literals = op
                .path
                .split('/')
                .filter(|s| !s.is_empty() && !s.starts_with('{'))
                .count();
            (op.query.is_some(), literals)
        })
}

/// `UnsupportedOperation` for a request edgegate does not handle, naming the model's operation
/// when the request is one.
pub fn unsupported(method: &Method, path: &str, query: &[(String, String)]) -> ApiError {
    let message = match operation(method, path, query) {
        Some(op) => format!(
            "edgegate does not support the CloudFront operation {} ({method} {path}); see the README for the supported operations.",
            op.name
        ),
        None => format!(
            "{method} {path} is not an operation of the CloudFront API (2020-05-31); see the README for the supported operations."
        ),
    };
    ApiError::new(
        http::StatusCode::BAD_REQUEST,
        "UnsupportedOperation",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn requests_name_their_operation() {
        let name = |m: Method, p: &str, query: &[(&str, &str)]| {
            operation(&m, p, &q(query)).map(|o| o.name)
        };
        assert_eq!(
            name(Method::POST, "/2020-05-31/distribution", &[]),
            Some("CreateDistribution")
        );
        assert_eq!(
            name(
                Method::POST,
                "/2020-05-31/distribution",
                &[("WithTags", "")]
            ),
            Some("CreateDistributionWithTags")
        );
        assert_eq!(
            name(
                Method::POST,
                "/2020-05-31/tagging",
                &[("Operation", "Untag"), ("Resource", "arn")]
            ),
            Some("UntagResource")
        );
        assert_eq!(
            name(Method::GET, "/2020-05-31/distribution/E1/config", &[]),
            Some("GetDistributionConfig")
        );
        assert_eq!(
            name(
                Method::GET,
                "/2020-05-31/origin-access-identity/cloudfront/E1",
                &[]
            ),
            Some("GetCloudFrontOriginAccessIdentity")
        );
        assert_eq!(name(Method::PATCH, "/2020-05-31/distribution", &[]), None);
    }

    #[test]
    fn supported_operations_are_in_the_model() {
        for name in SUPPORTED {
            assert!(
                OPERATIONS.iter().any(|o| o.name == *name),
                "{name} is not an operation of the model"
            );
        }
    }

    #[test]
    fn unsupported_names_the_operation() {
        let e = unsupported(&Method::POST, "/2020-05-31/streaming-distribution", &[]);
        assert_eq!(e.code, "UnsupportedOperation");
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("CreateStreamingDistribution"),
            "{}",
            e.message
        );
    }
}
