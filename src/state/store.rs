//! The durable store under the control plane: one small interface over object_store.
//!
//! Every resource the API accepts is one object, `{kind}/{id}.json`, written whole. On the local
//! file system the object is staged, fsynced and renamed into place, and the directory is fsynced
//! (object_store's `LocalFileSystem` with fsync on), so a SIGKILL or power loss at any moment
//! leaves either the old or the new version, never a torn one, and a write that returned is
//! durable. On S3 a PUT is atomic per object in the same way, so several edges can later share
//! one bucket through the same interface.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

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

/// Durable key/value storage of control-plane records.
#[derive(Debug, Clone)]
pub struct StateStore {
    inner: Arc<dyn ObjectStore>,
}

impl StateStore {
    /// A store on any object_store backend (S3, memory, …).
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
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

    /// Writes one record; when this returns `Ok` the record is durable.
    pub async fn put(&self, kind: Kind, id: &str, record: Bytes) -> Result<(), StoreError> {
        let path = Self::path(kind, id);
        self.inner
            .put(&path, PutPayload::from_bytes(record))
            .await
            .map(|_| ())
            .map_err(StoreError::object("writing", &path))
    }

    /// Deletes one record (absent records are not an error).
    pub async fn delete(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let path = Self::path(kind, id);
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::object("deleting", &path)(e)),
        }
    }

    /// Every record of a kind, as `(id, bytes)`, in id order.
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
            let bytes = self
                .inner
                .get(&meta.location)
                .await
                .map_err(StoreError::object("reading", full))?
                .bytes()
                .await
                .map_err(StoreError::object("reading", full))?;
            out.push((id.to_owned(), bytes));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
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
