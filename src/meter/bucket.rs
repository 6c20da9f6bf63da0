//! A small S3 client for what metering needs: PUT an object (log delivery), list a prefix and
//! GET an object (`usage report --from-bucket`). Path-style against `--s3-endpoint` (LocalStack,
//! MinIO), virtual-hosted against AWS; SigV4-signed when credentials are available, unsigned
//! otherwise (LocalStack accepts both).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;

use crate::origin::{CredentialsProvider, OriginClient};
use crate::sigv4;

/// Largest object or listing page read back.
const MAX_READ: usize = 256 << 20;

/// Characters left unescaped in an S3 key path (`/` separates segments).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// An S3 endpoint and the credentials to use with it.
#[derive(Debug, Clone)]
pub struct S3Client {
    client: OriginClient,
    endpoint: Option<Uri>,
    credentials: Option<Arc<dyn CredentialsProvider>>,
}

/// Why an S3 call failed, for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct S3Error(pub String);

impl S3Client {
    /// A client for `endpoint` (path-style) or AWS (virtual-hosted) when `None`.
    pub fn new(endpoint: Option<Uri>, credentials: Option<Arc<dyn CredentialsProvider>>) -> Self {
        S3Client {
            client: OriginClient::new(),
            endpoint,
            credentials,
        }
    }

    fn url(&self, bucket: &str, region: &str, key: &str, query: &str) -> String {
        let key = utf8_percent_encode(key, KEY).to_string();
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        match &self.endpoint {
            Some(ep) => {
                let scheme = ep.scheme_str().unwrap_or("http");
                let authority = ep.authority().map(|a| a.as_str()).unwrap_or("");
                let base = ep.path().trim_end_matches('/');
                format!("{scheme}://{authority}{base}/{bucket}/{key}{q}")
            }
            None => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}{q}"),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: String,
        region: &str,
        body: Bytes,
    ) -> Result<(http::StatusCode, Bytes), S3Error> {
        let uri: Uri = url
            .parse()
            .map_err(|e| S3Error(format!("cannot form an S3 URL from {url:?}: {e}")))?;
        let mut headers = HeaderMap::new();
        if let Some(a) = uri.authority()
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            headers.insert(HOST, v);
        }
        if method == Method::PUT {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-gzip"));
        }
        if let Some(provider) = &self.credentials
            && let Ok(creds) = provider.credentials().await
        {
            let (mut parts, ()) = Request::builder()
                .method(method.clone())
                .uri(uri.clone())
                .body(())
                .map_err(|e| S3Error(format!("cannot build the S3 request: {e}")))?
                .into_parts();
            parts.headers = headers;
            let payload = sigv4::sha256_hex(&body);
            sigv4::sign(
                &mut parts,
                &creds,
                region,
                "s3",
                OffsetDateTime::now_utc(),
                &payload,
            );
            headers = parts.headers;
        }
        let limits = crate::origin::http::Limits {
            attempts: 1,
            connection_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            keepalive: Duration::from_secs(5),
        };
        let resp =
            crate::origin::http::send(&self.client, limits, method, uri, headers, Body::from(body))
                .await
                .map_err(|e| S3Error(format!("S3 request to {url} failed: {e}")))?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_READ)
            .collect()
            .await
            .map_err(|e| S3Error(format!("reading the S3 response from {url}: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    /// Stores `body` at `bucket/key`.
    pub async fn put(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
        body: Bytes,
    ) -> Result<(), S3Error> {
        let url = self.url(bucket, region, key, "");
        let (status, resp) = self.call(Method::PUT, url, region, body).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(S3Error(format!(
                "S3 refused PUT s3://{bucket}/{key}: {status} {}",
                s3_error_code(&resp)
            )))
        }
    }

    /// Reads `bucket/key`.
    pub async fn get(&self, bucket: &str, region: &str, key: &str) -> Result<Bytes, S3Error> {
        let url = self.url(bucket, region, key, "");
        let (status, resp) = self.call(Method::GET, url, region, Bytes::new()).await?;
        if status.is_success() {
            Ok(resp)
        } else {
            Err(S3Error(format!(
                "S3 refused GET s3://{bucket}/{key}: {status} {}",
                s3_error_code(&resp)
            )))
        }
    }

    /// Every key under `prefix` (ListObjectsV2, following continuation tokens).
    pub async fn list(
        &self,
        bucket: &str,
        region: &str,
        prefix: &str,
    ) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..100_000 {
            let mut q = format!(
                "list-type=2&prefix={}",
                utf8_percent_encode(prefix, NON_ALPHANUMERIC)
            );
            if let Some(t) = &token {
                q.push_str("&continuation-token=");
                q.push_str(&utf8_percent_encode(t, NON_ALPHANUMERIC).to_string());
            }
            let url = self.url(bucket, region, "", &q);
            let (status, body) = self.call(Method::GET, url, region, Bytes::new()).await?;
            if !status.is_success() {
                return Err(S3Error(format!(
                    "S3 refused to list s3://{bucket}/{prefix}: {status} {}",
                    s3_error_code(&body)
                )));
            }
            let page = parse_list(&body)?;
            keys.extend(page.keys);
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(keys),
            }
        }
        Err(S3Error(format!(
            "listing s3://{bucket}/{prefix} did not end"
        )))
    }
}

struct ListPage {
    keys: Vec<String>,
    next: Option<String>,
}

fn parse_list(xml: &[u8]) -> Result<ListPage, S3Error> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut keys = Vec::new();
    let mut next = None;
    let mut truncated = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                if path.len() > 8 {
                    return Err(S3Error("S3 listing is nested too deeply".into()));
                }
                path.push(e.local_name().as_ref().to_vec());
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let text = t
                    .unescape()
                    .map_err(|e| S3Error(format!("bad S3 listing: {e}")))?
                    .into_owned();
                let names: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
                match names[..] {
                    [b"ListBucketResult", b"Contents", b"Key"] => keys.push(text),
                    [b"ListBucketResult", b"NextContinuationToken"] => next = Some(text),
                    [b"ListBucketResult", b"IsTruncated"] => truncated = text == "true",
                    _ => {}
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(S3Error(format!("bad S3 listing: {e}"))),
        }
        buf.clear();
    }
    Ok(ListPage {
        keys,
        next: if truncated { next } else { None },
    })
}

fn s3_error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(2048)]);
    match (text.find("<Code>"), text.find("</Code>")) {
        (Some(a), Some(b)) if a + 6 <= b => text[a + 6..b].to_owned(),
        _ => String::new(),
    }
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_pages_and_urls() {
        let xml = br#"<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated><Contents><Key>logs/E1.2026-11-24-20.A.gz</Key></Contents><Contents><Key>b &amp; c</Key></Contents><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let p = parse_list(xml).unwrap();
        assert_eq!(p.keys, ["logs/E1.2026-11-24-20.A.gz", "b & c"]);
        assert_eq!(p.next.as_deref(), Some("tok"));
        assert_eq!(parse_s3_url("s3://b/p/q"), Some(("b".into(), "p/q".into())));
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(parse_s3_url("http://b"), None);
        let c = S3Client::new(Some("http://127.0.0.1:4566".parse().unwrap()), None);
        assert_eq!(
            c.url("logs", "us-east-1", "p/E1.x y.gz", ""),
            "http://127.0.0.1:4566/logs/p/E1.x%20y.gz"
        );
    }
}
