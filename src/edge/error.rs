//! The data plane's one error type: why the edge answered a request itself instead of with an
//! object, and who is to blame for it.
//!
//! Each phase that can end a request returns an [`EdgeError`]. The status, CloudFront's error
//! page or XML body, and the detailed result type the log records are decided here, in one
//! place, from the error alone ([`EdgeError::into_response`]):
//!
//! | blame | statuses | examples |
//! |---|---|---|
//! | [`Blame::Viewer`] | 400, 403, 408, 413, 501 | unknown Host, method not allowed, signed URL refused |
//! | [`Blame::Origin`] | 502, 504 (403 for a refused local path) | connection failed, timeout |
//! | [`Blame::Edge`] | 500 | a response the edge could not form |
//!
//! The page tells the viewer what CloudFront would tell them and nothing about the edge's
//! internals; the cause is logged by the pipeline at `warn` for origin and edge errors.

use axum::body::Body;
use http::{Response, StatusCode};

use super::pages;
use crate::auth::Denial;
use crate::origin::OriginError;

/// Who caused an error, which decides its status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// edgegate itself: 500.
    Edge,
    /// The origin: 502 or 504.
    Origin,
    /// The viewer's request: 4xx.
    Viewer,
}

/// What is malformed in a request the edge answers with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    /// An HTTP/1.1 request without `Host`.
    #[error("an HTTP/1.1 request without Host")]
    MissingHost,
    /// Several `Host` headers that differ.
    #[error("Host headers that differ")]
    ConflictingHost,
    /// The request body cannot be read as sent (an invalid chunked encoding).
    #[error("an unreadable request body")]
    InvalidBody,
}

/// Why the edge answered a request itself.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A Host no distribution serves.
    #[error("no distribution serves this Host")]
    UnknownHost,
    /// The distribution is disabled.
    #[error("the distribution is disabled")]
    DistributionDisabled,
    /// No cache behavior matches the path (a distribution without a default behavior).
    #[error("no cache behavior matches the path")]
    NoBehavior,
    /// The behavior does not allow the method.
    #[error("the cache behavior does not allow this method")]
    MethodNotAllowed,
    /// A GET with a body (caching.md §7.7).
    #[error("a GET request carries a body")]
    GetWithBody,
    /// Plain HTTP on an `https-only` behavior.
    #[error("the cache behavior accepts HTTPS only")]
    HttpsOnly,
    /// A protocol redirect that cannot be formed, or a method that cannot be redirected.
    #[error("the request cannot be redirected to HTTPS")]
    NotRedirectable(StatusCode),
    /// The distribution's geo restriction refuses the viewer's country.
    #[error("the distribution's geo restriction refuses the viewer's country")]
    GeoBlocked,
    /// The request line or headers exceed CloudFront's limits.
    #[error("the request line or headers are too large")]
    TooLarge,
    /// The request is malformed (400).
    #[error("malformed request: {0}")]
    BadRequest(BadRequest),
    /// The request body is larger than `--max-request-body` (413).
    #[error("the request body is too large")]
    BodyTooLarge,
    /// The viewer stopped sending the request body for longer than the header timeout (408).
    #[error("the request body stalled")]
    BodyTimeout,
    /// The request body has a transfer coding other than `chunked` (501, as RFC 9112 asks).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// A restricted behavior refused the signed URL or cookies (or their absence).
    #[error("signed URL or cookies refused: {0}")]
    SignatureRefused(Denial),
    /// The origin failed.
    #[error(transparent)]
    Origin(#[from] OriginError),
    /// A CloudFront function failed: 503 (threw, throttled) or 502 (invalid result).
    #[error("CloudFront function failed: {0}")]
    Function(crate::functions::FunctionError),
}

impl EdgeError {
    /// Who is to blame.
    pub fn blame(&self) -> Blame {
        match self {
            EdgeError::Origin(_) => Blame::Origin,
            EdgeError::Function(_) => Blame::Edge,
            _ => Blame::Viewer,
        }
    }

    /// The status the viewer gets.
    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            EdgeError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            EdgeError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            EdgeError::NotRedirectable(status) => *status,
            EdgeError::Origin(OriginError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            EdgeError::Origin(OriginError::Refused(_)) => StatusCode::FORBIDDEN,
            EdgeError::Origin(_) => StatusCode::BAD_GATEWAY,
            EdgeError::Function(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            _ => match self.blame() {
                Blame::Viewer => StatusCode::FORBIDDEN,
                Blame::Origin => StatusCode::BAD_GATEWAY,
                Blame::Edge => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// CloudFront's `x-edge-detailed-result-type` for the error, when it has its own.
    pub fn detailed_result(&self) -> Option<&'static str> {
        Some(match self {
            EdgeError::Origin(OriginError::Timeout(_)) => "OriginCommError",
            EdgeError::Origin(OriginError::Refused(_)) => "OriginError",
            EdgeError::Origin(OriginError::Connect(_)) => "OriginConnectError",
            EdgeError::Origin(OriginError::Protocol(_)) => "OriginInvalidResponseError",
            EdgeError::GeoBlocked => "ClientGeoBlocked",
            EdgeError::Function(e) => e.result_type(),
            _ => return None,
        })
    }

    /// What CloudFront's error page says (for the viewer; it names nothing internal).
    fn reason(&self) -> &'static str {
        match self {
            EdgeError::UnknownHost => {
                "Bad request. We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner."
            }
            EdgeError::DistributionDisabled => {
                "Bad request. The distribution for this request is disabled."
            }
            EdgeError::NoBehavior => "Bad request. No cache behavior matches this request.",
            EdgeError::MethodNotAllowed => {
                "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests."
            }
            EdgeError::GetWithBody => "Bad request. A GET request cannot carry a body.",
            EdgeError::HttpsOnly => "Bad request. This distribution only accepts HTTPS requests.",
            EdgeError::NotRedirectable(_) | EdgeError::Origin(OriginError::Refused(_)) => {
                "Bad request."
            }
            EdgeError::TooLarge => "Bad request: the request line or headers are too large.",
            EdgeError::BadRequest(_) => "Bad request.",
            EdgeError::BodyTooLarge => "Bad request: the request body is too large.",
            EdgeError::BodyTimeout => "Bad request: the request body was not sent in time.",
            EdgeError::UnsupportedTransferCoding => {
                "Not implemented: the request's transfer coding is not supported."
            }
            EdgeError::GeoBlocked => super::viewer::GEO_BLOCKED_MESSAGE,
            EdgeError::SignatureRefused(_) => "Access denied.",
            EdgeError::Origin(OriginError::Timeout(_)) => {
                "CloudFront attempted to establish a connection with the origin, but either the attempt failed or the origin closed the connection."
            }
            EdgeError::Origin(_) => "CloudFront wasn't able to connect to the origin.",
            EdgeError::Function(crate::functions::FunctionError::Validation(_)) => {
                "The CloudFront function returned an invalid value to CloudFront."
            }
            EdgeError::Function(_) => {
                "The CloudFront function associated with the cache behavior failed to run."
            }
        }
    }

    /// The response the viewer gets: CloudFront's XML error for a refused signature, its HTML
    /// error page otherwise.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        match self {
            EdgeError::SignatureRefused(denial) => {
                pages::response(status, "text/xml", denial.error_body())
            }
            other => pages::response(
                status,
                "text/html",
                pages::error_page(status, other.reason(), request_id),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_blame() {
        let viewer = [
            EdgeError::UnknownHost,
            EdgeError::DistributionDisabled,
            EdgeError::NoBehavior,
            EdgeError::MethodNotAllowed,
            EdgeError::GetWithBody,
            EdgeError::HttpsOnly,
            EdgeError::SignatureRefused(Denial::MissingKey),
        ];
        assert_eq!(EdgeError::GeoBlocked.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            EdgeError::GeoBlocked.detailed_result(),
            Some("ClientGeoBlocked")
        );
        for e in viewer {
            assert_eq!(e.blame(), Blame::Viewer);
            assert_eq!(e.status(), StatusCode::FORBIDDEN, "{e}");
            assert_eq!(e.detailed_result(), None);
        }
        assert_eq!(EdgeError::TooLarge.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let bad = EdgeError::BadRequest(BadRequest::MissingHost);
        assert_eq!(
            (bad.blame(), bad.status()),
            (Blame::Viewer, StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            EdgeError::UnsupportedTransferCoding.status(),
            StatusCode::NOT_IMPLEMENTED
        );
        let timeout = EdgeError::from(OriginError::Timeout("slow".into()));
        assert_eq!(timeout.blame(), Blame::Origin);
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(timeout.detailed_result(), Some("OriginCommError"));
        let connect = EdgeError::from(OriginError::Connect("refused".into()));
        assert_eq!(connect.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(connect.detailed_result(), Some("OriginConnectError"));
    }

    #[tokio::test]
    async fn pages_leak_nothing_internal() {
        use http_body_util::BodyExt;
        let e = EdgeError::from(OriginError::Connect("10.0.0.7:8080: secret detail".into()));
        let resp = e.into_response("req-1");
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(resp.headers()["content-type"], "text/html");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("req-1") && text.contains("502"), "{text}");
        assert!(
            !text.contains("10.0.0.7") && !text.contains("secret"),
            "{text}"
        );
        let refused = EdgeError::SignatureRefused(Denial::AccessDenied).into_response("r");
        assert_eq!(refused.headers()["content-type"], "text/xml");
        let body = refused.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("<Code>AccessDenied</Code>"));
    }
}
