//! What metering and the control plane ask of S3 buckets other than the state bucket: PUT an
//! object (access-log delivery), list a prefix and GET an object (`usage report --from-bucket`,
//! KeyValueStore imports), on the one S3 client ([`crate::s3::builder`], object_store's
//! `AmazonS3`): path-style against `--s3-endpoint` (LocalStack, MinIO), virtual-hosted against
//! AWS.
//!
//! The bucket differs per call (each distribution's log bucket, the report's bucket, an import's
//! bucket), so one store is built per bucket, region and signing, and kept.
//!
//! Requests are signed with the given credentials (aws-config's chain in edgegate). When the
//! chain has none, requests to an explicit `--s3-endpoint` go unsigned (LocalStack and MinIO
//! with open buckets accept that) and a warning says so once; against AWS the call fails with
//! the chain's explanation instead: nothing is sent unsigned to AWS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::Uri;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};

use crate::origin::CredentialsProvider;
use crate::origin::credentials::CredentialsError;
use crate::s3::{BridgedCredentials, Signing};

/// Largest object read back.
pub const MAX_READ: usize = 256 << 20;

/// Most keys one listing returns (after the caller's filter).
pub const MAX_KEYS: usize = 10_000_000;

/// Stores kept at most; beyond this the cache starts over (buckets come from the config and
/// from API calls, so their number is not bounded by anything else).
const MAX_STORES: usize = 64;

/// Buckets reached through an endpoint or AWS, with the credentials to sign with. Clones share
/// their stores.
#[derive(Debug, Clone)]
pub struct S3Client {
    endpoint: Option<String>,
    credentials: Arc<dyn CredentialsProvider>,
    stores: Arc<Mutex<HashMap<StoreKey, Arc<AmazonS3>>>>,
}

/// (bucket, region, signed).
type StoreKey = (String, String, bool);

/// Why an S3 call failed, for the operator: each names the object (`s3://bucket/key`) and
/// where it was sent.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// No credentials, and the bucket is on AWS (never reached unsigned).
    #[error("{op} s3://{bucket}/{key}: {error}; not sending an unsigned request to AWS")]
    NoCredentials {
        /// `PUT`, `GET` or `LIST`.
        op: &'static str,
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// The chain's explanation.
        #[source]
        error: CredentialsError,
    },
    /// A key S3 could hold but object_store cannot address (an empty segment, `.` or `..`, a
    /// control character, or a leading or trailing `/`).
    #[error("{op} s3://{bucket}/{key}: the key cannot be addressed ({error})")]
    Key {
        /// `PUT`, `GET` or `LIST`.
        op: &'static str,
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// object_store's objection (boxed: it is large, and errors travel far).
        #[source]
        error: Box<object_store::path::Error>,
    },
    /// The client for the bucket cannot be built.
    #[error("S3 bucket {bucket} at {at}: {error}")]
    Build {
        /// The bucket.
        bucket: String,
        /// The endpoint or AWS region.
        at: String,
        /// object_store's error.
        #[source]
        error: Box<object_store::Error>,
    },
    /// S3 refused the request or could not be reached.
    #[error("{op} s3://{bucket}/{key} at {at} failed: {}", with_causes(error))]
    Request {
        /// `PUT`, `GET` or `LIST`.
        op: &'static str,
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// The endpoint or AWS region.
        at: String,
        /// object_store's error (S3's status and code, or the connection's failure).
        #[source]
        error: Box<object_store::Error>,
    },
    /// The object is larger than edgegate reads back.
    #[error("GET s3://{bucket}/{key}: the object is {size} bytes; at most {max} are read")]
    TooLarge {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// Its size (at least).
        size: u64,
        /// The limit.
        max: usize,
    },
    /// The listing holds more matching keys than edgegate reads.
    #[error("LIST s3://{bucket}/{prefix}: more than {max} keys; narrow the prefix")]
    TooManyKeys {
        /// The bucket.
        bucket: String,
        /// The prefix.
        prefix: String,
        /// The limit.
        max: usize,
    },
}

/// Whether the warning about unsigned requests was logged.
static UNSIGNED_WARNED: AtomicBool = AtomicBool::new(false);

impl S3Client {
    /// A client for `endpoint` (path-style) or AWS (virtual-hosted) when `None`, signing with
    /// `credentials`.
    pub fn new(endpoint: Option<Uri>, credentials: Arc<dyn CredentialsProvider>) -> Self {
        S3Client {
            endpoint: endpoint.map(|e| e.to_string()),
            credentials,
            stores: Arc::default(),
        }
    }

    /// Where requests for a bucket in `region` go, for messages.
    fn at(&self, region: &str) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("AWS {region}"),
        }
    }

    /// The store for `bucket` in `region`: signed when the credentials resolve, unsigned only
    /// at an explicit endpoint.
    async fn store(
        &self,
        op: &'static str,
        bucket: &str,
        region: &str,
        key: &str,
    ) -> Result<Arc<AmazonS3>, S3Error> {
        let signed = match self.credentials.credentials().await {
            Ok(_) => true,
            Err(error) => match &self.endpoint {
                Some(endpoint) => {
                    if !UNSIGNED_WARNED.swap(true, Ordering::Relaxed) {
                        tracing::warn!(%endpoint, %error, "no AWS credentials: S3 requests to --s3-endpoint are sent unsigned (LocalStack, MinIO); buckets on AWS are never reached unsigned");
                    }
                    false
                }
                None => {
                    return Err(S3Error::NoCredentials {
                        op,
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                        error,
                    });
                }
            },
        };
        let id = (bucket.to_owned(), region.to_owned(), signed);
        if let Some(s) = lock(&self.stores).get(&id) {
            return Ok(Arc::clone(s));
        }
        let signing = if signed {
            Signing::With(Arc::new(BridgedCredentials(Arc::clone(&self.credentials))))
        } else {
            Signing::Unsigned
        };
        let store = crate::s3::builder(bucket, region, self.endpoint.as_deref(), signing)
            .with_retry(object_store::RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(15),
                ..object_store::RetryConfig::default()
            })
            .build()
            .map_err(|error| S3Error::Build {
                bucket: bucket.to_owned(),
                at: self.at(region),
                error: Box::new(error),
            })?;
        let store = Arc::new(store);
        let mut stores = lock(&self.stores);
        if stores.len() >= MAX_STORES {
            stores.clear();
        }
        stores.insert(id, Arc::clone(&store));
        Ok(store)
    }

    fn failed<'a>(
        &'a self,
        op: &'static str,
        bucket: &'a str,
        region: &'a str,
        key: &'a str,
    ) -> impl FnOnce(object_store::Error) -> S3Error + 'a {
        move |error| S3Error::Request {
            op,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            at: self.at(region),
            error: Box::new(error),
        }
    }

    /// Stores `body` at `bucket/key` (`Content-Type: application/x-gzip`: access logs).
    pub async fn put(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
        body: Bytes,
    ) -> Result<(), S3Error> {
        let path = object_path("PUT", bucket, key)?;
        let store = self.store("PUT", bucket, region, key).await?;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, "application/x-gzip".into());
        let opts = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        store
            .put_opts(&path, PutPayload::from_bytes(body), opts)
            .await
            .map(|_| ())
            .map_err(self.failed("PUT", bucket, region, key))
    }

    /// Reads `bucket/key`, at most `max` bytes (else [`S3Error::TooLarge`]).
    pub async fn get(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
        max: usize,
    ) -> Result<Bytes, S3Error> {
        let path = object_path("GET", bucket, key)?;
        let store = self.store("GET", bucket, region, key).await?;
        let got = store
            .get(&path)
            .await
            .map_err(self.failed("GET", bucket, region, key))?;
        let too_large = |size: u64| S3Error::TooLarge {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
            max,
        };
        if got.meta.size > max as u64 {
            return Err(too_large(got.meta.size));
        }
        let mut out = BytesMut::with_capacity(got.meta.size as usize);
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.failed("GET", bucket, region, key))?;
            if out.len() + chunk.len() > max {
                return Err(too_large((out.len() + chunk.len()) as u64));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// The keys under `prefix` (a key prefix, not only a folder) that `keep` accepts, at most
    /// [`MAX_KEYS`] of them. ListObjectsV2, following continuation tokens.
    pub async fn list(
        &self,
        bucket: &str,
        region: &str,
        prefix: &str,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Result<Vec<String>, S3Error> {
        // object_store lists folders: list the folder the prefix is in, keep what starts with it.
        let folder = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let folder = if folder.is_empty() {
            None
        } else {
            Some(object_path("LIST", bucket, folder)?)
        };
        let store = self.store("LIST", bucket, region, prefix).await?;
        let mut listing = store.list(folder.as_ref());
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(self.failed("LIST", bucket, region, prefix))?;
            let key = meta.location.as_ref();
            if !key.starts_with(prefix) || !keep(key) {
                continue;
            }
            if keys.len() == MAX_KEYS {
                return Err(S3Error::TooManyKeys {
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                    max: MAX_KEYS,
                });
            }
            keys.push(key.to_owned());
        }
        Ok(keys)
    }
}

/// `key` as object_store's path, refused when that would address another key.
fn object_path(op: &'static str, bucket: &str, key: &str) -> Result<ObjectPath, S3Error> {
    let refuse = |error| S3Error::Key {
        op,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        error: Box::new(error),
    };
    let path = ObjectPath::parse(key).map_err(refuse)?;
    if path.as_ref() != key {
        return Err(refuse(object_store::path::Error::EmptySegment {
            path: key.to_owned(),
        }));
    }
    Ok(path)
}

/// `error` followed by each of its causes that its message does not already contain (so that
/// the operator reads "Connection refused", not only "client error (Connect)").
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    use crate::origin::credentials::CredentialsFuture;

    /// A chain that finds nothing.
    #[derive(Debug)]
    struct Nothing;

    impl CredentialsProvider for Nothing {
        fn credentials(&self) -> CredentialsFuture<'_> {
            Box::pin(async { Err(CredentialsError::Chain("no source had any".into())) })
        }
    }

    #[test]
    fn urls_and_keys() {
        assert_eq!(parse_s3_url("s3://b/p/q"), Some(("b".into(), "p/q".into())));
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(parse_s3_url("http://b"), None);
        assert_eq!(
            object_path("PUT", "b", "p/E1.x y.gz").unwrap().as_ref(),
            "p/E1.x y.gz"
        );
        for bad in ["/lead", "trail/", "a//b", "a/../b", "a\u{1}b"] {
            let e = object_path("GET", "b", bad).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("GET s3://b/{bad}: the key cannot be addressed")),
                "{e}"
            );
        }
    }

    /// Without credentials a bucket on AWS is not reached at all: the call fails at once with
    /// the chain's explanation (no request leaves, so no network is needed here).
    #[tokio::test]
    async fn no_credentials_against_aws_is_an_error_not_an_unsigned_request() {
        let c = S3Client::new(None, Arc::new(Nothing));
        let e = c
            .put("logs", "us-east-1", "a.gz", Bytes::from_static(b"x"))
            .await
            .unwrap_err();
        assert!(matches!(e, S3Error::NoCredentials { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "PUT s3://logs/a.gz: no AWS credentials from the default chain: no source had any; \
             not sending an unsigned request to AWS"
        );
        let e = c
            .list("logs", "us-east-1", "cf/", |_| true)
            .await
            .unwrap_err();
        assert!(matches!(e, S3Error::NoCredentials { .. }), "{e}");
        assert!(c.stores.lock().unwrap().is_empty());
    }
}
