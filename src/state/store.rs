//! The durable store under the control plane: one small interface over object_store.
//!
//! Every resource the API accepts is one object, `{kind}/{id}.json`, written whole. On the local
//! file system the object is staged, fsynced and renamed into place, and the directory is fsynced
//! (object_store's `LocalFileSystem` with fsync on), so a SIGKILL or power loss at any moment
//! leaves either the old or the new version, never a torn one, and a write that returned is
//! durable. On S3 ([`s3`]) a PUT is atomic per object in the same way, and writes are conditional
//! (`If-None-Match: *` to create, `If-Match` to replace), so several edges share one bucket
//! without losing an update; see `state::shared` for how they follow each other's changes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::origin::CredentialsProvider;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use object_store::aws::{AmazonS3Builder, AwsCredential, S3ConditionalPut};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest,
    HttpRequestBody, HttpResponse, HttpResponseBody, HttpService,
};
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

/// The kinds of resource the control plane persists, each under its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Cache policies (custom ones; managed ones are built in).
    CachePolicy,
    /// Distributions.
    Distribution,
    /// Invalidations (the id is `{distribution id}/{invalidation id}`).
    Invalidation,
    /// Key groups.
    KeyGroup,
    /// Origin request policies (custom ones).
    OriginRequestPolicy,
    /// Public keys.
    PublicKey,
    /// Origin access controls.
    OriginAccessControl,
    /// Legacy CloudFront origin access identities.
    OriginAccessIdentity,
    /// Response headers policies (custom ones; managed ones are built in).
    ResponseHeadersPolicy,
    /// CloudFront Functions (the id is the function's name).
    Function,
    /// KeyValueStores with their items (the id is the store's name).
    KeyValueStore,
}

impl Kind {
    /// The object prefix of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::CachePolicy => "cache-policies",
            Kind::Distribution => "distributions",
            Kind::Invalidation => "invalidations",
            Kind::KeyGroup => "key-groups",
            Kind::OriginRequestPolicy => "origin-request-policies",
            Kind::PublicKey => "public-keys",
            Kind::OriginAccessControl => "origin-access-controls",
            Kind::OriginAccessIdentity => "origin-access-identities",
            Kind::ResponseHeadersPolicy => "response-headers-policies",
            Kind::Function => "functions",
            Kind::KeyValueStore => "key-value-stores",
        }
    }

    /// The kind's name in messages (`cache policy`, `key group`, …).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::CachePolicy => "cache policy",
            Kind::Distribution => "distribution",
            Kind::Invalidation => "invalidation",
            Kind::KeyGroup => "key group",
            Kind::OriginRequestPolicy => "origin request policy",
            Kind::PublicKey => "public key",
            Kind::OriginAccessControl => "origin access control",
            Kind::OriginAccessIdentity => "CloudFront origin access identity",
            Kind::ResponseHeadersPolicy => "response headers policy",
            Kind::Function => "function",
            Kind::KeyValueStore => "key value store",
        }
    }
}

/// A failure of the underlying store. The message names the directory or object.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The local directory cannot be created.
    #[error("state store: cannot create {}: {error}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The local directory cannot be opened as a store.
    #[error("state store: cannot open {}: {error}", dir.display())]
    Open {
        /// The directory.
        dir: PathBuf,
        /// The backend's error (boxed: it is large, and errors travel far).
        #[source]
        error: Box<object_store::Error>,
    },
    /// A conditional write lost: another edge changed (or created) the record since this one
    /// read it. The API answers `PreconditionFailed` (412).
    #[error("state store: {path} was changed by another edge")]
    Conflict {
        /// The object.
        path: String,
    },
    /// An operation on one object (or a listing of a prefix) failed.
    #[error("state store: {op} {path}: {error}")]
    Object {
        /// `writing`, `deleting`, `listing` or `reading`.
        op: &'static str,
        /// The object or prefix.
        path: String,
        /// The backend's error (boxed: it is large, and errors travel far).
        #[source]
        error: Box<object_store::Error>,
    },
}

impl StoreError {
    fn object(
        op: &'static str,
        path: impl std::fmt::Display,
    ) -> impl FnOnce(object_store::Error) -> Self {
        let path = path.to_string();
        move |error| StoreError::Object {
            op,
            path,
            error: Box::new(error),
        }
    }
}

/// What the store remembers of one object it has read or written on a shared (S3) backend: the
/// version a conditional update must match, and the bytes (so a poll fetches only what changed).
#[derive(Debug, Clone)]
struct Known {
    version: UpdateVersion,
    bytes: Bytes,
}

/// Durable key/value storage of control-plane records.
///
/// On a shared backend (S3) writes are conditional: a record the store has not seen is created
/// with `If-None-Match: *`, one it has read or written is replaced with `If-Match` on the
/// version it saw, so of two edges changing the same record at once one gets
/// [`StoreError::Conflict`]. Every write on a shared backend also replaces the small
/// [`GENERATION`] object, which the other edges poll with `If-None-Match`.
#[derive(Debug, Clone)]
pub struct StateStore {
    inner: Arc<dyn ObjectStore>,
    shared: Option<Arc<Shared>>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Objects by path.
    known: Mutex<HashMap<String, Known>>,
    /// The ETag of [`GENERATION`] as last polled: `None` before the first poll, `Some(None)`
    /// while it does not exist.
    generation: Mutex<Option<Option<String>>>,
}

/// The object every write on a shared backend replaces; its ETag changing is the signal to
/// reload. Its name cannot collide with a kind's prefix.
pub const GENERATION: &str = "generation";

impl StateStore {
    /// A store on any object_store backend (memory, …), written unconditionally as the local
    /// directory is (one process owns it).
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            shared: None,
        }
    }

    /// A store several edges share (S3): conditional writes and a generation object.
    pub fn shared(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            shared: Some(Arc::default()),
        }
    }

    /// Whether several edges share this store.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The backend (for the edge registry under `edges/`).
    pub fn backend(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// A crash-safe store in a local directory (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::CreateDir {
            dir: dir.to_owned(),
            error,
        })?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|error| StoreError::Open {
                dir: dir.to_owned(),
                error: Box::new(error),
            })?
            .with_fsync(true);
        Ok(Self::new(Arc::new(fs)))
    }

    fn path(kind: Kind, id: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{id}.json", kind.prefix()))
    }

    /// Writes one record; when this returns `Ok` the record is durable. On a shared backend a
    /// record changed by another edge since this one read it is [`StoreError::Conflict`].
    pub async fn put(&self, kind: Kind, id: &str, record: Bytes) -> Result<(), StoreError> {
        let path = Self::path(kind, id);
        let Some(shared) = &self.shared else {
            return self
                .inner
                .put(&path, PutPayload::from_bytes(record))
                .await
                .map(|_| ())
                .map_err(StoreError::object("writing", &path));
        };
        let mode = match lock(&shared.known).get(path.as_ref()) {
            Some(k) => PutMode::Update(k.version.clone()),
            None => PutMode::Create,
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(&path, PutPayload::from_bytes(record.clone()), opts)
            .await
        {
            Ok(done) => {
                let version = UpdateVersion {
                    e_tag: done.e_tag,
                    version: done.version,
                };
                lock(&shared.known).insert(
                    path.to_string(),
                    Known {
                        version,
                        bytes: record,
                    },
                );
                self.bump().await
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(StoreError::Conflict {
                path: path.to_string(),
            }),
            Err(e) => Err(StoreError::object("writing", &path)(e)),
        }
    }

    /// Deletes one record (absent records are not an error).
    pub async fn delete(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let path = Self::path(kind, id);
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(StoreError::object("deleting", &path)(e)),
        }
        if let Some(shared) = &self.shared {
            lock(&shared.known).remove(path.as_ref());
            self.bump().await?;
        }
        Ok(())
    }

    /// A digest of the versions of every record this store has seen (shared stores only): it
    /// changes when a load saw a changed, new or deleted record.
    pub fn fingerprint(&self) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let shared = self.shared.as_ref()?;
        let known = lock(&shared.known);
        let mut all: Vec<_> = known
            .iter()
            .map(|(p, k)| (p.as_str(), k.version.e_tag.as_deref()))
            .collect();
        all.sort_unstable();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        all.hash(&mut h);
        Some(h.finish())
    }

    /// Replaces the generation object so that every edge's next poll reloads.
    async fn bump(&self) -> Result<(), StoreError> {
        let path = ObjectPath::from(GENERATION);
        let token = format!(
            "{}\n",
            time::OffsetDateTime::now_utc().unix_timestamp_nanos() ^ i128::from(fastrand::u64(..))
        );
        self.inner
            .put(&path, PutPayload::from(token))
            .await
            .map(|_| ())
            .map_err(StoreError::object("writing", &path))
    }

    /// Whether the generation object changed since the last call (one conditional GET; `true`
    /// the first time, and when the object is missing). Always `false` on a local store.
    pub async fn generation_changed(&self) -> Result<bool, StoreError> {
        let Some(shared) = &self.shared else {
            return Ok(false);
        };
        let path = ObjectPath::from(GENERATION);
        let seen = lock(&shared.generation).clone();
        let opts = GetOptions {
            if_none_match: seen.clone().flatten(),
            head: true,
            ..GetOptions::default()
        };
        match self.inner.get_opts(&path, opts).await {
            Ok(r) => {
                let changed = seen.as_ref().is_none_or(|s| *s != r.meta.e_tag);
                *lock(&shared.generation) = Some(r.meta.e_tag.clone());
                Ok(changed)
            }
            Err(object_store::Error::NotModified { .. }) => Ok(false),
            Err(object_store::Error::NotFound { .. }) => {
                *lock(&shared.generation) = Some(None);
                Ok(seen != Some(None))
            }
            Err(e) => Err(StoreError::object("reading", &path)(e)),
        }
    }

    /// Every record of a kind, as `(id, bytes)`, in id order. On a shared backend only records
    /// whose ETag changed since they were last read are fetched.
    pub async fn load_all(&self, kind: Kind) -> Result<Vec<(String, Bytes)>, StoreError> {
        let prefix = ObjectPath::from(kind.prefix());
        let metas: Vec<_> = self
            .inner
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(StoreError::object("listing", &prefix))?;
        let mut out = Vec::with_capacity(metas.len());
        for meta in metas {
            let full = meta.location.as_ref();
            let Some(id) = full
                .strip_prefix(kind.prefix())
                .and_then(|r| r.strip_prefix('/'))
                .and_then(|r| r.strip_suffix(".json"))
            else {
                continue;
            };
            if let Some(shared) = &self.shared {
                let cached = lock(&shared.known)
                    .get(full)
                    .filter(|k| meta.e_tag.is_some() && k.version.e_tag == meta.e_tag)
                    .map(|k| k.bytes.clone());
                if let Some(bytes) = cached {
                    out.push((id.to_owned(), bytes));
                    continue;
                }
            }
            let got = self
                .inner
                .get(&meta.location)
                .await
                .map_err(StoreError::object("reading", full))?;
            let version = UpdateVersion {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            let bytes = got
                .bytes()
                .await
                .map_err(StoreError::object("reading", full))?;
            if let Some(shared) = &self.shared {
                lock(&shared.known).insert(
                    full.to_owned(),
                    Known {
                        version,
                        bytes: bytes.clone(),
                    },
                );
            }
            out.push((id.to_owned(), bytes));
        }
        if let Some(shared) = &self.shared {
            // Records deleted by another edge are forgotten, so that a new one with the same
            // id is a create.
            let present: std::collections::HashSet<&str> =
                out.iter().map(|(id, _)| id.as_str()).collect();
            let head = format!("{}/", kind.prefix());
            lock(&shared.known).retain(|p, _| {
                p.strip_prefix(&head)
                    .and_then(|r| r.strip_suffix(".json"))
                    .is_none_or(|id| present.contains(id))
            });
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Errors of [`s3`].
#[derive(Debug, thiserror::Error)]
pub enum S3StoreError {
    /// The `s3://` URL is not `s3://BUCKET` or `s3://BUCKET/PREFIX`.
    #[error("state {url:?} must be s3://BUCKET or s3://BUCKET/PREFIX")]
    Url {
        /// The URL given.
        url: String,
    },
    /// object_store refused the configuration.
    #[error("state {url}: {error}")]
    Build {
        /// The URL given.
        url: String,
        /// The backend's error.
        #[source]
        error: Box<object_store::Error>,
    },
}

/// The S3 credentials the state store signs with (object_store's provider trait).
pub type S3Credentials = Arc<dyn object_store::CredentialProvider<Credential = AwsCredential>>;

/// An edgegate [`CredentialsProvider`] (normally aws-config's chain, [`DefaultChain::shared`])
/// as object_store's credential provider, so the state bucket signs with the same credentials
/// as OAC and log delivery.
///
/// [`DefaultChain::shared`]: crate::origin::DefaultChain::shared
#[derive(Debug)]
pub struct BridgedCredentials(pub Arc<dyn CredentialsProvider>);

#[async_trait::async_trait]
impl object_store::CredentialProvider for BridgedCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id,
            secret_key: c.secret_access_key,
            token: c.session_token,
        }))
    }
}

/// The state store in an S3 bucket (`s3://BUCKET/PREFIX`), addressed path-style at `endpoint`
/// when one is given (LocalStack, MinIO). edgegate passes [`BridgedCredentials`] over
/// aws-config's chain; without `credentials`, object_store's own chain
/// applies: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, web identity
/// (`AWS_WEB_IDENTITY_TOKEN_FILE`), ECS container credentials, then IMDSv2; the region is
/// `AWS_REGION`/`AWS_DEFAULT_REGION` (default `us-east-1`). HTTP goes through hyper with
/// ring-based rustls.
pub fn s3(
    url: &str,
    endpoint: Option<&str>,
    credentials: Option<S3Credentials>,
) -> Result<StateStore, S3StoreError> {
    let bad = || S3StoreError::Url {
        url: url.to_owned(),
    };
    let rest = url.strip_prefix("s3://").ok_or_else(bad)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad());
    }
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_http_connector(HyperConnector)
        // An API call waits for its write: a few quick retries, not object_store's 3 minutes.
        .with_retry(object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..object_store::RetryConfig::default()
        });
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        builder = builder.with_region("us-east-1");
    }
    if let Some(ep) = endpoint {
        builder = builder
            .with_endpoint(ep.trim_end_matches('/'))
            .with_allow_http(ep.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    if let Some(c) = credentials {
        builder = builder.with_credentials(c);
    }
    let s3 = builder.build().map_err(|error| S3StoreError::Build {
        url: url.to_owned(),
        error: Box::new(error),
    })?;
    let prefix = prefix.trim_matches('/');
    let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
    };
    Ok(StateStore::shared(inner))
}

/// object_store's HTTP client on hyper (the same stack as the origins: no second TLS library).
#[derive(Debug, Clone, Copy)]
struct HyperConnector;

type S3Hyper = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    HttpRequestBody,
>;

#[derive(Debug)]
struct HyperService(S3Hyper);

impl HttpConnector for HyperConnector {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        let provider = rustls::crypto::ring::default_provider();
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no system root certificates; an https state bucket will fail certificate checks");
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(e),
                })?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = builder.https_or_http().enable_http1().wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(https);
        Ok(HttpClient::new(HyperService(client)))
    }
}

impl HttpService for HyperService {
    fn call<'a, 'b>(
        &'a self,
        req: HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'b>,
    >
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let resp = tokio::time::timeout(Duration::from_secs(30), self.0.request(req))
                .await
                .map_err(|e| HttpError::new(HttpErrorKind::Timeout, e))?
                .map_err(|e| {
                    let kind = if e.is_connect() {
                        HttpErrorKind::Connect
                    } else {
                        HttpErrorKind::Request
                    };
                    HttpError::new(kind, e)
                })?;
            let (parts, body) = resp.into_parts();
            let body = HttpResponseBody::new(
                body.map_err(|e| HttpError::new(HttpErrorKind::Interrupted, e)),
            );
            Ok(HttpResponse::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_load_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path()).unwrap();
        store
            .put(Kind::Distribution, "E2", Bytes::from_static(b"two"))
            .await
            .unwrap();
        store
            .put(Kind::Distribution, "E1", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
            .put(Kind::Invalidation, "E1/I1", Bytes::from_static(b"inv"))
            .await
            .unwrap();
        store
            .put(Kind::Distribution, "E1", Bytes::from_static(b"one-v2"))
            .await
            .unwrap();

        // A fresh handle sees what the first one acknowledged.
        let again = StateStore::local(dir.path()).unwrap();
        let all = again.load_all(Kind::Distribution).await.unwrap();
        assert_eq!(
            all,
            vec![
                ("E1".into(), Bytes::from_static(b"one-v2")),
                ("E2".into(), Bytes::from_static(b"two"))
            ]
        );
        let inv = again.load_all(Kind::Invalidation).await.unwrap();
        assert_eq!(inv[0].0, "E1/I1");

        again.delete(Kind::Distribution, "E2").await.unwrap();
        again.delete(Kind::Distribution, "E2").await.unwrap();
        assert_eq!(again.load_all(Kind::Distribution).await.unwrap().len(), 1);
        assert!(again.load_all(Kind::KeyGroup).await.unwrap().is_empty());
    }

    #[test]
    fn a_store_that_cannot_be_created_names_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let e = StateStore::local(&file.join("state")).unwrap_err();
        assert!(matches!(e, StoreError::CreateDir { .. }), "{e}");
        assert!(
            e.to_string().starts_with(&format!(
                "state store: cannot create {}",
                file.join("state").display()
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn leftover_staging_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::local(dir.path()).unwrap();
        store
            .put(Kind::PublicKey, "K1", Bytes::from_static(b"k"))
            .await
            .unwrap();
        // What a write killed between create and rename leaves behind.
        std::fs::write(dir.path().join("public-keys/K2.json#1"), b"torn").unwrap();
        let all = store.load_all(Kind::PublicKey).await.unwrap();
        assert_eq!(all.len(), 1);
    }
}
