//! The one error type of the control plane. It decides the status code and the CloudFront error
//! code, and renders CloudFront's XML error envelope; nothing internal leaks into the message.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

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

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
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
}
