//! S3 origins: a bucket reached over S3's REST API.
//!
//! Without an endpoint override the request goes virtual-hosted over HTTPS to
//! `https://BUCKET.s3.REGION.amazonaws.com/KEY` (path-style on the regional endpoint when the
//! bucket name has dots, which the wildcard certificate would not cover). With an endpoint
//! override (`--s3-endpoint`, e.g. LocalStack or MinIO) it goes path-style to
//! `{endpoint}/{bucket}{origin_path}{path}`. The query string is forwarded as given; S3 ignores
//! parameters it does not know.
//!
//! When the distribution's origin has an origin access control whose `SigningBehavior` is not
//! `never`, requests are signed with SigV4 (service `s3`, payload `UNSIGNED-PAYLOAD`). With
//! `always` the signature replaces any viewer `Authorization` header; with `no-override` a
//! request that carries the viewer's `Authorization` (the forward phase passes it only when the
//! behavior's policies forward it) goes unsigned with that header, and any other request is
//! signed (origin-access.md §5). Without signing, requests carry only what the forward phase
//! passes. Sending reuses the shared client and limits of [`super::http`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use time::OffsetDateTime;

use super::credentials::CredentialsProvider;
use super::http::{Limits, OriginClient, apply_custom_headers, send};
use super::{OriginError, OriginFuture, OriginRequest, join_origin_path};
use crate::sigv4;

/// The keep-alive of pooled S3 connections (S3 origins have no keep-alive setting).
const S3_KEEPALIVE: Duration = Duration::from_secs(5);

/// Bucket and region of an S3 REST endpoint domain name.
///
/// Accepts `bucket.s3.amazonaws.com` (region `None`, meaning us-east-1),
/// `bucket.s3.REGION.amazonaws.com`, the legacy `bucket.s3-REGION.amazonaws.com`,
/// `bucket.s3.dualstack.REGION.amazonaws.com` and the same under `amazonaws.com.cn`. S3
/// website endpoints (`s3-website`) and anything else give `None`: those are custom origins.
pub fn parse_s3_domain(domain: &str) -> Option<(String, Option<String>)> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let rest = domain
        .strip_suffix(".amazonaws.com")
        .or_else(|| domain.strip_suffix(".amazonaws.com.cn"))?;
    let labels: Vec<&str> = rest.split('.').collect();
    let n = labels.len();
    let (bucket_labels, region) = match labels[..] {
        [.., "s3", "dualstack", region] if n >= 4 => (&labels[..n - 3], Some(region)),
        [.., "s3", region] if n >= 3 => (&labels[..n - 2], Some(region)),
        [.., "s3"] if n >= 2 => (&labels[..n - 1], None),
        [.., last] if n >= 2 && last.starts_with("s3-") => {
            let region = &last[3..];
            let region = if region == "external-1" {
                "us-east-1"
            } else {
                region
            };
            (&labels[..n - 1], Some(region))
        }
        _ => return None,
    };
    if let Some(r) = region
        && (!valid_region(r) || r.starts_with("website") || r == "accelerate")
    {
        return None;
    }
    let bucket = bucket_labels.join(".");
    valid_bucket(&bucket).then(|| (bucket, region.map(str::to_owned)))
}

/// Region names: lowercase letters, digits and `-`, starting with a letter.
fn valid_region(r: &str) -> bool {
    r.len() <= 32
        && r.starts_with(|c: char| c.is_ascii_lowercase())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// S3 bucket naming rules (3–63 of `a-z 0-9 . -`, starting and ending alphanumeric).
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Settings of one S3 origin.
#[derive(Debug, Clone)]
pub struct S3OriginSettings {
    /// The bucket name.
    pub bucket: String,
    /// The bucket's region (`us-east-1` when the domain names none).
    pub region: String,
    /// `--s3-endpoint`: send path-style to `{endpoint}/{bucket}{origin_path}{path}`.
    pub endpoint: Option<Uri>,
    /// `OriginPath`, or empty.
    pub origin_path: String,
    /// `CustomHeaders`, replacing viewer headers of the same name.
    pub custom_headers: Vec<(HeaderName, HeaderValue)>,
    /// `ConnectionAttempts`, 1 to 3.
    pub connection_attempts: u8,
    /// `ConnectionTimeout`, per attempt.
    pub connection_timeout: Duration,
    /// `OriginReadTimeout` (S3OriginConfig).
    pub read_timeout: Duration,
    /// Some when the origin has an `OriginAccessControlId` whose `SigningBehavior` is not
    /// `never`: sign with SigV4, service `s3`.
    pub credentials: Option<Arc<dyn CredentialsProvider>>,
    /// `SigningBehavior` `no-override`: a request carrying the viewer's `Authorization` is
    /// forwarded with it, unsigned.
    pub keep_viewer_authorization: bool,
}

/// An S3 bucket origin.
#[derive(Debug)]
pub struct S3Origin {
    settings: S3OriginSettings,
    client: OriginClient,
}

impl S3Origin {
    /// An origin sending through the shared `client`.
    pub fn new(settings: S3OriginSettings, client: OriginClient) -> Self {
        S3Origin { settings, client }
    }

    /// The full origin URL for a viewer path and query.
    fn url(&self, path_and_query: &str) -> String {
        let s = &self.settings;
        let target = join_origin_path(&s.origin_path, path_and_query);
        match &s.endpoint {
            Some(ep) => {
                let scheme = ep.scheme_str().unwrap_or("http");
                let authority = ep.authority().map(|a| a.as_str()).unwrap_or("");
                let base = ep.path().trim_end_matches('/');
                format!("{scheme}://{authority}{base}/{}{target}", s.bucket)
            }
            None if s.bucket.contains('.') => {
                format!("https://s3.{}.amazonaws.com/{}{target}", s.region, s.bucket)
            }
            None => format!("https://{}.s3.{}.amazonaws.com{target}", s.bucket, s.region),
        }
    }

    async fn fetch_inner(&self, req: OriginRequest) -> Result<Response<Body>, OriginError> {
        let s = &self.settings;
        let url = self.url(&req.path_and_query);
        let uri: Uri = url.parse().map_err(|e| {
            OriginError::Protocol(format!("cannot form an S3 URL from {url:?}: {e}"))
        })?;
        let mut headers = req.headers;
        let host = uri.authority().map(|a| a.as_str()).unwrap_or("");
        let host = HeaderValue::from_str(host).map_err(|_| {
            OriginError::Protocol(format!("S3 host {host:?} is not a valid Host header"))
        })?;
        headers.insert(HOST, host);
        apply_custom_headers(&mut headers, &s.custom_headers);
        let viewer_signed = s.keep_viewer_authorization && headers.contains_key(AUTHORIZATION);
        if let Some(provider) = s.credentials.as_ref().filter(|_| !viewer_signed) {
            let creds = provider.credentials().await.map_err(|e| {
                OriginError::Protocol(format!(
                    "cannot sign the request to bucket {}: {e}",
                    s.bucket
                ))
            })?;
            headers.remove(AUTHORIZATION);
            let (mut parts, ()) = Request::builder()
                .method(req.method.clone())
                .uri(uri.clone())
                .body(())
                .map_err(|e| OriginError::Protocol(format!("cannot build the S3 request: {e}")))?
                .into_parts();
            parts.headers = headers;
            sigv4::sign(
                &mut parts,
                &creds,
                &s.region,
                "s3",
                OffsetDateTime::now_utc(),
                sigv4::UNSIGNED_PAYLOAD,
            );
            headers = parts.headers;
        }
        let limits = Limits {
            attempts: s.connection_attempts,
            connection_timeout: s.connection_timeout,
            read_timeout: s.read_timeout,
            keepalive: S3_KEEPALIVE,
        };
        send(&self.client, limits, req.method, uri, headers, req.body).await
    }
}

impl super::Origin for S3Origin {
    fn fetch(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(self.fetch_inner(req))
    }
}

#[cfg(test)]
mod tests;
