//! The one error type of the control plane. It decides the status code and the CloudFront error
//! code, and renders CloudFront's XML error envelope; nothing internal leaks into the message.
//!
//! The layers below report their own errors: the registry a [`StateError`] (mapped here by
//! `From`), the model its [`Diagnostics`] ([`ApiError::from_diagnostics`]).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::model::Diagnostics;
use crate::state::{Kind, StateError};

/// A rejected control-plane request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// CloudFront's error code (`NoSuchDistribution`, `PreconditionFailed`, …).
    pub code: &'static str,
    /// A message a person can act on.
    pub message: String,
}

/// The HTTP status botocore's service model gives an error code, if the code is the model's.
pub fn model_status(code: &str) -> Option<StatusCode> {
    super::model_table::ERRORS
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .and_then(|i| StatusCode::from_u16(super::model_table::ERRORS[i].1).ok())
}

impl ApiError {
    /// An error with a code. A code of CloudFront's service model always carries the model's
    /// status (so no call site can send `NoSuchOrigin` with anything but 404); `status` is used
    /// only for codes outside the model (`MalformedInput`, SigV4's codes, `InternalError`).
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: model_status(code).unwrap_or(status),
            code,
            message: message.into(),
        }
    }

    /// 400 `InvalidArgument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    /// 400 `MalformedInput`: the body is not the XML the operation expects.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MalformedInput", message)
    }

    /// 404 with a `NoSuch…` code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 400 `InvalidIfMatchVersion`: an update or delete without an `If-Match` header.
    pub fn missing_if_match() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidIfMatchVersion",
            "The If-Match version is missing or not valid for the resource.",
        )
    }

    /// 412 `PreconditionFailed`: `If-Match` does not name the current version.
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The precondition given in one or more of the request-header fields evaluated to false.",
        )
    }

    /// 500 `InternalError`, for storage failures; the detail is logged, not returned.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "control plane internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// The API's error for a document with problems: the first problem's code, every message
    /// joined; `None` when there is no error.
    pub fn from_diagnostics(d: &Diagnostics) -> Option<Self> {
        let first = d.errors.first()?;
        let message = d
            .errors
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>()
            .join("; ");
        Some(Self::new(StatusCode::BAD_REQUEST, first.code, message))
    }

    /// `Sender` for 4xx, `Receiver` for 5xx, as CloudFront types its errors.
    pub fn kind(&self) -> &'static str {
        if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// CloudFront's XML error envelope.
    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            self.kind(),
            self.code,
            crate::model::tree::escape_text(&self.message),
            crate::model::tree::escape_text(request_id)
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// CloudFront's `NoSuch…` code for a missing resource of a kind.
fn no_such(kind: Kind) -> &'static str {
    match kind {
        Kind::CachePolicy => "NoSuchCachePolicy",
        Kind::Distribution => "NoSuchDistribution",
        Kind::Invalidation => "NoSuchInvalidation",
        // CloudFront answers GetKeyGroup for an unknown id with the generic code.
        Kind::KeyGroup => "NoSuchResource",
        Kind::OriginRequestPolicy => "NoSuchOriginRequestPolicy",
        Kind::PublicKey => "NoSuchPublicKey",
        Kind::OriginAccessControl => "NoSuchOriginAccessControl",
        Kind::OriginAccessIdentity => "NoSuchCloudFrontOriginAccessIdentity",
        Kind::ResponseHeadersPolicy => "NoSuchResponseHeadersPolicy",
        Kind::Function => "NoSuchFunctionExists",
        Kind::KeyValueStore => "EntityNotFound",
    }
}

/// CloudFront's `…AlreadyExists` code for a kind.
fn already_exists(kind: Kind) -> &'static str {
    match kind {
        Kind::CachePolicy => "CachePolicyAlreadyExists",
        Kind::Distribution => "DistributionAlreadyExists",
        Kind::Invalidation => "InvalidationBatchAlreadyExists",
        Kind::KeyGroup => "KeyGroupAlreadyExists",
        Kind::OriginRequestPolicy => "OriginRequestPolicyAlreadyExists",
        Kind::PublicKey => "PublicKeyAlreadyExists",
        Kind::OriginAccessControl => "OriginAccessControlAlreadyExists",
        Kind::OriginAccessIdentity => "CloudFrontOriginAccessIdentityAlreadyExists",
        Kind::ResponseHeadersPolicy => "ResponseHeadersPolicyAlreadyExists",
        Kind::Function => "FunctionAlreadyExists",
        Kind::KeyValueStore => "EntityAlreadyExists",
    }
}

/// CloudFront's `…InUse` code for a kind.
fn in_use(kind: Kind) -> &'static str {
    match kind {
        Kind::CachePolicy => "CachePolicyInUse",
        Kind::OriginRequestPolicy => "OriginRequestPolicyInUse",
        Kind::PublicKey => "PublicKeyInUse",
        Kind::OriginAccessControl => "OriginAccessControlInUse",
        Kind::OriginAccessIdentity => "CloudFrontOriginAccessIdentityInUse",
        Kind::ResponseHeadersPolicy => "ResponseHeadersPolicyInUse",
        Kind::Function => "FunctionInUse",
        Kind::KeyValueStore => "CannotDeleteEntityWhileInUse",
        Kind::Distribution | Kind::Invalidation | Kind::KeyGroup => "ResourceInUse",
    }
}

impl From<StateError> for ApiError {
    /// The registry's refusals keep their message; store failures become a bare 500 whose
    /// detail goes to the log only.
    fn from(e: StateError) -> Self {
        use StateError as S;
        let (status, code) = match &e {
            S::NotFound { kind, .. } => (StatusCode::NOT_FOUND, no_such(*kind)),
            S::MissingReference {
                kind: Kind::KeyGroup,
                ..
            } => (StatusCode::BAD_REQUEST, "InvalidArgument"),
            // A distribution naming a function that does not exist or is not published.
            S::MissingReference {
                kind: Kind::Function,
                ..
            } => (StatusCode::BAD_REQUEST, "InvalidFunctionAssociation"),
            // CreateDistribution and UpdateDistribution have no NoSuchOriginAccessControl.
            S::MissingReference {
                kind: Kind::OriginAccessControl,
                ..
            } => (StatusCode::BAD_REQUEST, "InvalidOriginAccessControl"),
            S::MissingReference {
                kind: Kind::OriginAccessIdentity,
                ..
            } => (StatusCode::BAD_REQUEST, "InvalidOriginAccessIdentity"),
            S::MissingReference { kind, .. } => (StatusCode::NOT_FOUND, no_such(*kind)),
            S::MissingIfMatch => return Self::missing_if_match(),
            S::PreconditionFailed => return Self::precondition_failed(),
            S::CallerReferenceReused {
                kind: Kind::Invalidation,
                ..
            } => (StatusCode::BAD_REQUEST, already_exists(Kind::Invalidation)),
            S::CallerReferenceReused { kind, .. } | S::NameTaken { kind, .. } => {
                (StatusCode::CONFLICT, already_exists(*kind))
            }
            S::CallerReferenceChanged { .. } => (StatusCode::BAD_REQUEST, "IllegalUpdate"),
            S::CnameTaken { .. } => (StatusCode::CONFLICT, "CNAMEAlreadyExists"),
            S::DistributionNotDisabled { .. } => (StatusCode::CONFLICT, "DistributionNotDisabled"),
            S::ImmutablePublicKey { .. } => (
                StatusCode::BAD_REQUEST,
                "CannotChangeImmutablePublicKeyFields",
            ),
            S::InUse { kind, .. } => (StatusCode::CONFLICT, in_use(*kind)),
            S::TooManyCachePolicies { .. } => (StatusCode::BAD_REQUEST, "TooManyCachePolicies"),
            S::TooManyTags { .. } => (StatusCode::BAD_REQUEST, "InvalidTagging"),
            S::ManagedUpdate { .. } => (StatusCode::BAD_REQUEST, "IllegalUpdate"),
            S::ManagedDelete { .. } => (StatusCode::BAD_REQUEST, "IllegalDelete"),
            S::TooManyDistributionsForResponseHeadersPolicy { .. } => (
                StatusCode::BAD_REQUEST,
                "TooManyDistributionsAssociatedToResponseHeadersPolicy",
            ),
            S::TooManyOriginAccessIdentities { .. } => (
                StatusCode::BAD_REQUEST,
                "TooManyCloudFrontOriginAccessIdentities",
            ),
            S::TooManyOriginAccessControls { .. } => {
                (StatusCode::BAD_REQUEST, "TooManyOriginAccessControls")
            }
            S::OriginAccessControlTypeInUse { .. } => (StatusCode::BAD_REQUEST, "IllegalUpdate"),
            S::OriginAccessControlNotForOrigin { .. } => {
                (StatusCode::BAD_REQUEST, "InvalidOriginAccessControl")
            }
            S::TooManyResponseHeadersPolicies { .. } => {
                (StatusCode::BAD_REQUEST, "TooManyResponseHeadersPolicies")
            }
            S::Store(_) | S::Encode(_) | S::CorruptRecord { .. } => return Self::internal(e),
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = crate::ids::uuid();
        let body = self.to_xml(&request_id);
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert("x-amz-request-id", v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope() {
        let e = ApiError::not_found(
            "NoSuchDistribution",
            "The specified distribution does not exist.",
        );
        let xml = e.to_xml("r-1");
        assert!(xml.contains("<Type>Sender</Type><Code>NoSuchDistribution</Code>"));
        assert!(xml.contains("<RequestId>r-1</RequestId>"));
        assert_eq!(ApiError::internal("disk").kind(), "Receiver");
        assert!(
            ApiError::malformed("a <b>")
                .to_xml("x")
                .contains("a &lt;b&gt;")
        );
    }

    #[test]
    fn state_errors_keep_cloudfront_codes() {
        let cases = [
            (
                StateError::NotFound {
                    kind: Kind::Distribution,
                    id: "E1".into(),
                },
                404,
                "NoSuchDistribution",
                "The specified distribution does not exist.",
            ),
            (
                StateError::NotFound {
                    kind: Kind::KeyGroup,
                    id: "g".into(),
                },
                404,
                "NoSuchResource",
                "The specified key group does not exist.",
            ),
            (
                StateError::NotFound {
                    kind: Kind::Invalidation,
                    id: "I1".into(),
                },
                404,
                "NoSuchInvalidation",
                "The specified invalidation does not exist.",
            ),
            (
                StateError::NotFound {
                    kind: Kind::OriginRequestPolicy,
                    id: "p".into(),
                },
                404,
                "NoSuchOriginRequestPolicy",
                "The origin request policy does not exist.",
            ),
            (
                StateError::MissingReference {
                    kind: Kind::KeyGroup,
                    id: "g".into(),
                },
                400,
                "InvalidArgument",
                "The key group g does not exist.",
            ),
            (
                StateError::MissingReference {
                    kind: Kind::CachePolicy,
                    id: "p".into(),
                },
                404,
                "NoSuchCachePolicy",
                "The cache policy p does not exist.",
            ),
            (
                StateError::CallerReferenceReused {
                    kind: Kind::Invalidation,
                    caller_reference: "r".into(),
                    existing: "I1".into(),
                },
                400,
                "InvalidationBatchAlreadyExists",
                "An invalidation with CallerReference r already exists with different paths.",
            ),
            (
                StateError::CallerReferenceReused {
                    kind: Kind::Distribution,
                    caller_reference: "r".into(),
                    existing: "E1".into(),
                },
                409,
                "DistributionAlreadyExists",
                "The caller reference that you are using to create a distribution is associated with another distribution: E1",
            ),
            (
                StateError::NameTaken {
                    kind: Kind::OriginRequestPolicy,
                    name: "n".into(),
                },
                409,
                "OriginRequestPolicyAlreadyExists",
                "A origin request policy named n already exists.",
            ),
            (
                StateError::InUse {
                    kind: Kind::KeyGroup,
                    id: "g".into(),
                },
                409,
                "ResourceInUse",
                "The key group g is trusted by a distribution; remove it from the cache behaviors first.",
            ),
            (
                StateError::MissingIfMatch,
                400,
                "InvalidIfMatchVersion",
                "The If-Match version is missing or not valid for the resource.",
            ),
            (
                StateError::PreconditionFailed,
                412,
                "PreconditionFailed",
                "The precondition given in one or more of the request-header fields evaluated to false.",
            ),
        ];
        for (e, status, code, message) in cases {
            let api = ApiError::from(e);
            assert_eq!(
                (api.status.as_u16(), api.code, api.message.as_str()),
                (status, code, message)
            );
        }
        let internal = ApiError::from(StateError::CorruptRecord {
            record: "public-keys/K1".into(),
            problem: "secret detail".into(),
        });
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.message.contains("secret detail"));
    }
}
