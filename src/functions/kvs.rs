//! KeyValueStore (functions.md §8–§10): the stored key value store, the writes of the
//! `cloudfront-keyvaluestore` data-plane API with CloudFront's limits, and `cf.kvs()` in
//! functions (`cloudfront-js-2.0` only).
//!
//! A store's items live in one [`ArcSwap`] cell shared by the registry (which swaps in a new
//! [`StoreData`] after every acknowledged write) and by every function associated with the
//! store. An invocation pins the store's current [`StoreData`] the first time it reads it, so
//! the values never change during one invocation, and the next invocation on any worker sees
//! the latest write; no lock is held while JavaScript runs.
//!
//! Chosen where AWS is silent (functions.md §12): keys are limited to 512 bytes of UTF-8 on
//! every write path, values to 1 KB, the store to 5 MB, where the size of a store is
//! Σ(len(key) + len(value) + 1) (which matches AWS's example of 11 bytes for `key1`/`value1`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Largest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, in bytes of UTF-8.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Largest store, in bytes (Σ(len(key) + len(value) + 1)).
pub const MAX_STORE_BYTES: u64 = 5 * 1024 * 1024;
/// Most keys one write request may put or delete.
pub const MAX_KEYS_PER_WRITE: usize = 50;
/// Most bytes of keys and values one write request may carry.
pub const MAX_WRITE_BYTES: usize = 3 * 1024 * 1024;

/// A store's control-plane resource (`KeyValueStore` of the CloudFront API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// `Name` (`[a-zA-Z0-9-_]{1,64}`).
    pub name: String,
    /// `Id`, a UUID.
    pub id: String,
    /// `arn:aws:cloudfront::<account>:key-value-store/<Id>`.
    pub arn: String,
    /// `Comment`.
    pub comment: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// `LastModifiedTime` of the resource (create, comment update).
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    /// The control-plane `ETag` (If-Match of Update/Delete).
    pub etag: String,
}

/// A store's items and their version (the data plane's `ETag`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreData {
    /// The data plane's `ETag`, new after every write.
    pub etag: String,
    /// When the items last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    /// The items, by key.
    pub items: BTreeMap<String, String>,
}

impl StoreData {
    /// An empty store's data.
    pub fn empty(now: OffsetDateTime) -> Self {
        Self {
            etag: new_etag(),
            last_modified: now,
            items: BTreeMap::new(),
        }
    }

    /// `ItemCount`.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// `TotalSizeInBytes`: Σ(len(key) + len(value) + 1).
    pub fn total_size(&self) -> u64 {
        self.items
            .iter()
            .map(|(k, v)| (k.len() + v.len() + 1) as u64)
            .sum()
    }
}

/// A data-plane `ETag` (`KV` and 13 upper-case letters and digits, like AWS's examples).
pub fn new_etag() -> String {
    format!("KV{}", &crate::ids::etag()[1..])
}

/// A store as the registry holds it: the resource, and the cell with its items.
#[derive(Clone)]
pub struct StoreEntry {
    /// The control-plane resource.
    pub meta: StoreMeta,
    /// The items, shared with the functions associated with the store.
    pub data: Arc<ArcSwap<StoreData>>,
}

impl std::fmt::Debug for StoreEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreEntry")
            .field("meta", &self.meta)
            .field("items", &self.data.load().items.len())
            .finish()
    }
}

/// A store as persisted (`key-value-stores/{name}.json`): the resource and its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRecord {
    /// The resource.
    pub meta: StoreMeta,
    /// The items.
    pub data: StoreData,
}

impl StoreEntry {
    /// A new entry.
    pub fn new(meta: StoreMeta, data: StoreData) -> Self {
        Self {
            meta,
            data: Arc::new(ArcSwap::from_pointee(data)),
        }
    }

    /// The record to persist, with `data` as the items.
    pub fn record(&self, data: &StoreData) -> StoreRecord {
        StoreRecord {
            meta: self.meta.clone(),
            data: data.clone(),
        }
    }
}

/// Why a write is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A key is empty.
    #[error("A key must not be empty.")]
    EmptyKey,
    /// A key is longer than [`MAX_KEY_BYTES`].
    #[error("The key is {0} bytes long; a key can be at most {MAX_KEY_BYTES} bytes of UTF-8.")]
    KeyTooLong(usize),
    /// A value is longer than [`MAX_VALUE_BYTES`].
    #[error(
        "The value of key {key:?} is {len} bytes long; a value can be at most {MAX_VALUE_BYTES} bytes."
    )]
    ValueTooLarge {
        /// The key.
        key: String,
        /// The value's length.
        len: usize,
    },
    /// More than [`MAX_KEYS_PER_WRITE`] keys in one request.
    #[error("The request changes {0} keys; one request can change at most {MAX_KEYS_PER_WRITE}.")]
    TooManyKeys(usize),
    /// More than [`MAX_WRITE_BYTES`] in one request.
    #[error(
        "The request carries {0} bytes of keys and values; one request can carry at most {MAX_WRITE_BYTES}."
    )]
    RequestTooLarge(usize),
    /// The same key twice in one request.
    #[error("The key {0:?} appears more than once in the request.")]
    DuplicateKey(String),
    /// A request that changes nothing.
    #[error("The request has no key to put or delete.")]
    Empty,
    /// The store would grow past [`MAX_STORE_BYTES`].
    #[error(
        "The key value store would be {0} bytes; a key value store can be at most {MAX_STORE_BYTES} bytes."
    )]
    StoreFull(u64),
    /// A key to delete does not exist.
    #[error("The key {0:?} does not exist.")]
    NoSuchKey(String),
}

/// Checks a key against the limits.
pub fn check_key(key: &str) -> Result<(), WriteError> {
    if key.is_empty() {
        return Err(WriteError::EmptyKey);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(WriteError::KeyTooLong(key.len()));
    }
    Ok(())
}

/// Applies `puts` and `deletes` to `data`, all or nothing: the new data with a new ETag, or
/// why the whole write is refused.
pub fn apply(
    data: &StoreData,
    puts: &[(String, String)],
    deletes: &[String],
    now: OffsetDateTime,
) -> Result<StoreData, WriteError> {
    let n = puts.len() + deletes.len();
    if n == 0 {
        return Err(WriteError::Empty);
    }
    if n > MAX_KEYS_PER_WRITE {
        return Err(WriteError::TooManyKeys(n));
    }
    let bytes: usize = puts.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + deletes.iter().map(String::len).sum::<usize>();
    if bytes > MAX_WRITE_BYTES {
        return Err(WriteError::RequestTooLarge(bytes));
    }
    let mut seen = std::collections::HashSet::new();
    for k in puts.iter().map(|(k, _)| k).chain(deletes.iter()) {
        check_key(k)?;
        if !seen.insert(k.as_str()) {
            return Err(WriteError::DuplicateKey(k.clone()));
        }
    }
    for (k, v) in puts {
        if v.len() > MAX_VALUE_BYTES {
            return Err(WriteError::ValueTooLarge {
                key: k.clone(),
                len: v.len(),
            });
        }
    }
    let mut items = data.items.clone();
    for k in deletes {
        if items.remove(k).is_none() {
            return Err(WriteError::NoSuchKey(k.clone()));
        }
    }
    for (k, v) in puts {
        items.insert(k.clone(), v.clone());
    }
    let next = StoreData {
        etag: new_etag(),
        last_modified: now,
        items,
    };
    let size = next.total_size();
    if size > MAX_STORE_BYTES {
        return Err(WriteError::StoreFull(size));
    }
    Ok(next)
}

/// The store a function version is associated with, as the engine sees it.
pub struct Binding {
    /// The store's Id (what `cf.kvs(id)` names).
    pub id: String,
    /// The store's creation time (`meta().creationDateTime`).
    pub created: OffsetDateTime,
    /// The store's items; `None` when the associated store does not exist (then every read
    /// rejects).
    pub data: Option<Arc<ArcSwap<StoreData>>>,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("id", &self.id)
            .field("exists", &self.data.is_some())
            .finish()
    }
}

impl PartialEq for Binding {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && match (&self.data, &other.data) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Eq for Binding {}

/// The store's Id in a key value store ARN.
pub fn id_of_arn(arn: &str) -> Option<&str> {
    arn.rsplit_once(":key-value-store/").map(|(_, id)| id)
}

/// The binding of a function version associated with the stores `arns` (at most one), looked
/// up among `stores`; `None` when the version has no association.
pub fn binding(stores: &BTreeMap<String, StoreEntry>, arns: &[String]) -> Option<Arc<Binding>> {
    let arn = arns.first()?;
    let found = stores.values().find(|s| s.meta.arn == *arn);
    Some(Arc::new(Binding {
        id: id_of_arn(arn).unwrap_or(arn).to_owned(),
        created: found.map_or(OffsetDateTime::UNIX_EPOCH, |s| s.meta.created),
        data: found.map(|s| s.data.clone()),
    }))
}

thread_local! {
    /// The data each store had when the running invocation first read it.
    static PINNED: RefCell<HashMap<String, Arc<StoreData>>> = RefCell::new(HashMap::new());
}

/// Starts an invocation on this thread: stores are read afresh from here on.
pub(super) fn begin() {
    PINNED.with(|p| p.borrow_mut().clear());
}

/// The data of `binding`'s store for the running invocation (pinned at the first read).
fn pinned(binding: &Binding) -> Option<Arc<StoreData>> {
    let cell = binding.data.as_ref()?;
    PINNED.with(|p| {
        let mut p = p.borrow_mut();
        Some(
            p.entry(binding.id.clone())
                .or_insert_with(|| cell.load_full())
                .clone(),
        )
    })
}

const KVS_JS: &str = r#"(function (cf, native, boundId) {
  "use strict";
  function available() {
    if (!native.exists()) throw new Error("The key value store " + boundId + " does not exist");
  }
  function open(id) {
    if (boundId === null) throw new Error("The function has no key value store associated");
    if (id !== undefined && id !== null && String(id) !== boundId)
      throw new Error("The key value store " + id + " is not associated with this function");
    return {
      get: async function (key, options) {
        available();
        var k = String(key), v = native.get(k);
        if (v === null || v === undefined) throw new Error("Key " + k + " not found");
        var format = options && options.format !== undefined ? options.format : "string";
        if (format === "string") return v;
        if (format === "json") return JSON.parse(v);
        if (format === "bytes") return Buffer.from(v, "utf8");
        throw new TypeError("Unknown format " + format + ": use string, json or bytes");
      },
      exists: async function (key) {
        available();
        var v = native.get(String(key));
        return v !== null && v !== undefined;
      },
      meta: async function () {
        available();
        var m = native.meta();
        return {
          keyCount: m[0],
          creationDateTime: new Date(m[1]).toISOString(),
          lastUpdatedDateTime: new Date(m[2]).toISOString()
        };
      }
    };
  }
  Object.defineProperty(cf, "kvs", { value: open, writable: false, enumerable: true, configurable: false });
})"#;

fn millis(t: OffsetDateTime) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64
}

/// Installs `cf.kvs()` in the `cloudfront` module of a 2.0 runtime whose prelude has run;
/// `binding` is the function version's store, if any.
pub(super) fn install(
    ctx: &rquickjs::Ctx<'_>,
    binding: Option<&Arc<Binding>>,
) -> rquickjs::Result<()> {
    use rquickjs::{Function, Object, Value};
    let require: Function<'_> = ctx.globals().get("require")?;
    let cf: Object<'_> = require.call(("cloudfront",))?;
    let native = Object::new(ctx.clone())?;
    let b = binding.cloned();
    native.set(
        "exists",
        Function::new(ctx.clone(), {
            let b = b.clone();
            move || b.as_ref().is_some_and(|b| b.data.is_some())
        })?,
    )?;
    native.set(
        "get",
        Function::new(ctx.clone(), {
            let b = b.clone();
            move |key: String| -> Option<String> {
                let data = pinned(b.as_ref()?)?;
                data.items.get(&key).cloned()
            }
        })?,
    )?;
    native.set(
        "meta",
        Function::new(ctx.clone(), move || -> Vec<f64> {
            let Some(b) = b.as_ref() else {
                return vec![0.0, 0.0, 0.0];
            };
            match pinned(b) {
                Some(d) => vec![
                    d.item_count() as f64,
                    millis(b.created),
                    millis(d.last_modified),
                ],
                None => vec![0.0, millis(b.created), millis(b.created)],
            }
        })?,
    )?;
    let id: Value<'_> = match binding {
        Some(b) => rquickjs::String::from_str(ctx.clone(), &b.id)?.into_value(),
        None => Value::new_null(ctx.clone()),
    };
    let setup: Function<'_> = ctx.eval(KVS_JS)?;
    setup.call::<_, ()>((cf, native, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(items: &[(&str, &str)]) -> StoreData {
        StoreData {
            etag: "KV1".into(),
            last_modified: OffsetDateTime::UNIX_EPOCH,
            items: items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn total_size_matches_the_aws_example() {
        assert_eq!(data(&[("key1", "value1")]).total_size(), 11);
    }

    #[test]
    fn writes_are_all_or_nothing_and_limited() {
        let d = data(&[("a", "1")]);
        let now = OffsetDateTime::UNIX_EPOCH;
        let put = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let next = apply(&d, &[put("b", "2")], &["a".into()], now).unwrap();
        assert_eq!(next.items.len(), 1);
        assert_ne!(next.etag, d.etag);
        // A delete of a missing key refuses the whole write.
        assert_eq!(
            apply(&d, &[put("c", "3")], &["zz".into()], now),
            Err(WriteError::NoSuchKey("zz".into()))
        );
        assert_eq!(
            apply(&d, &[put(&"k".repeat(513), "v")], &[], now),
            Err(WriteError::KeyTooLong(513))
        );
        // 512 bytes of UTF-8, not 512 characters.
        assert!(matches!(
            apply(&d, &[put(&"é".repeat(257), "v")], &[], now),
            Err(WriteError::KeyTooLong(514))
        ));
        assert!(apply(&d, &[put(&"k".repeat(512), &"v".repeat(1024))], &[], now).is_ok());
        assert!(matches!(
            apply(&d, &[put("k", &"v".repeat(1025))], &[], now),
            Err(WriteError::ValueTooLarge { .. })
        ));
        let many: Vec<_> = (0..51).map(|i| put(&format!("k{i}"), "v")).collect();
        assert_eq!(apply(&d, &many, &[], now), Err(WriteError::TooManyKeys(51)));
        assert_eq!(
            apply(&d, &[put("a", "1")], &["a".into()], now),
            Err(WriteError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn an_invocation_reads_the_data_it_first_saw_and_the_next_one_sees_writes() {
        let cell = Arc::new(ArcSwap::from_pointee(data(&[("k", "1")])));
        let b = Binding {
            id: "store".into(),
            created: OffsetDateTime::UNIX_EPOCH,
            data: Some(cell.clone()),
        };
        begin();
        assert_eq!(pinned(&b).unwrap().items["k"], "1");
        cell.store(Arc::new(data(&[("k", "2")])));
        assert_eq!(
            pinned(&b).unwrap().items["k"],
            "1",
            "pinned for the invocation"
        );
        begin();
        assert_eq!(
            pinned(&b).unwrap().items["k"],
            "2",
            "the next invocation sees it"
        );
        let missing = Binding { data: None, ..b };
        assert!(pinned(&missing).is_none());
    }

    fn run(code: &str, binding: Option<Arc<Binding>>) -> Result<String, String> {
        let script = super::super::Script {
            name: "kvs".into(),
            arn: format!(
                "arn:aws:cloudfront::123456789012:function/kvs-{}",
                crate::ids::uuid()
            )
            .into(),
            etag: crate::ids::etag().into(),
            runtime: super::super::JsRuntime::V2,
            code: code.into(),
            kvs: binding,
        };
        let event = r#"{"version":"1.0","context":{"eventType":"viewer-request"},"viewer":{"ip":"1.2.3.4"},"request":{"method":"GET","uri":"/","querystring":{},"headers":{},"cookies":{}}}"#;
        super::super::engine::invoke(&script, event, 0.0, &Default::default())
            .map(|i| i.output)
            .map_err(|f| f.error.to_string())
    }

    #[test]
    fn functions_open_only_their_own_store() {
        let cell = Arc::new(ArcSwap::from_pointee(data(&[("k", "v")])));
        let bound = |data| {
            Some(Arc::new(Binding {
                id: "11111111-2222-4333-8444-555555555555".into(),
                created: OffsetDateTime::UNIX_EPOCH,
                data,
            }))
        };
        let read = "import cf from 'cloudfront';\nasync function handler(e) { const kvs = cf.kvs(ID); return { statusCode: 200, statusDescription: await kvs.get('k') }; }";
        let by_default = read.replace("ID", "");
        let by_id = read.replace("ID", "'11111111-2222-4333-8444-555555555555'");
        let other = read.replace("ID", "'99999999-2222-4333-8444-555555555555'");
        assert!(
            run(&by_default, bound(Some(cell.clone())))
                .unwrap()
                .contains("\"v\"")
        );
        assert!(
            run(&by_id, bound(Some(cell.clone())))
                .unwrap()
                .contains("\"v\"")
        );
        let e = run(&other, bound(Some(cell.clone()))).unwrap_err();
        assert!(e.contains("is not associated"), "{e}");
        let e = run(&by_default, None).unwrap_err();
        assert!(e.contains("no key value store"), "{e}");
        // The store is gone (a damaged data directory): reads reject.
        let e = run(&by_default, bound(None)).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn the_store_is_limited_to_5_mb() {
        let mut d = data(&[]);
        let now = OffsetDateTime::UNIX_EPOCH;
        let value = "v".repeat(1024);
        let mut refused = None;
        for batch in 0..200 {
            let puts: Vec<_> = (0..50)
                .map(|i| (format!("key-{batch:04}-{i:02}"), value.clone()))
                .collect();
            match apply(&d, &puts, &[], now) {
                Ok(next) => d = next,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert!(
            matches!(refused, Some(WriteError::StoreFull(_))),
            "{refused:?}"
        );
        assert!(d.total_size() <= MAX_STORE_BYTES);
    }
}
