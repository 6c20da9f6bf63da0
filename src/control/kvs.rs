//! KeyValueStore on the admin listener (functions.md §8, §9).
//!
//! - The control-plane resource, under `/2020-05-31/key-value-store` (REST-XML, like the rest of
//!   the CloudFront API): `CreateKeyValueStore` (201, `ETag`, `Location`),
//!   `DescribeKeyValueStore`, `ListKeyValueStores`, `UpdateKeyValueStore` (the comment only,
//!   with `If-Match`) and `DeleteKeyValueStore` (204; `CannotDeleteEntityWhileInUse` while a
//!   function names the store). Stores are `READY` as soon as they are created.
//!   `ImportSource` (an S3 object ARN, `arn:aws:s3:::bucket/key`) is read at once from S3 as
//!   the origins reach it (`s3_endpoint`, `origin_credentials`), in the documented format
//!   `{"data": [{"key": …, "value": …}]}` with the data plane's limits; an import that cannot be
//!   read or breaks a limit refuses the create (`InvalidArgument`), so no store is ever left in
//!   a failed state.
//! - The data-plane API `cloudfront-keyvaluestore` (REST-JSON, API version 2022-07-26), under
//!   `/key-value-stores/{KvsARN}`: `DescribeKeyValueStore`, `GetKey`, `ListKeys`, `PutKey`,
//!   `DeleteKey` and `UpdateKeys`, with the store's own `ETag` (a stale `If-Match` is a
//!   `ConflictException`) and CloudFront's limits ([`crate::functions::kvs`]). The SDKs send
//!   it to `{account id}.{endpoint host}`; the admin listener answers whatever the host. Every
//!   data-plane request must be signed, with SigV4A (what the SDKs use) or SigV4, by the admin
//!   credentials; without admin credentials the listener is loopback-only and the data plane,
//!   like the control plane, accepts any signature.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use time::OffsetDateTime;

use super::api::{AdminState, Call};
use super::error::ApiError;
use crate::functions::kvs::{self, StoreData, StoreEntry, StoreMeta, WriteError};
use crate::model::Tree;
use crate::model::responses::timestamp;
use crate::model::tree::escape_text;
use crate::state::registry::{State, StoreChange};
use crate::state::{Kind, StateError};

/// CloudFront's quota of key value stores per account.
const MAX_STORES: usize = 50;
/// The path prefix of the data-plane API.
pub const DATA_PREFIX: &str = "/key-value-stores";
const XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
/// The data plane's signing name.
const SERVICE: &str = "cloudfront-keyvaluestore";

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The functions (any stage) whose `KeyValueStoreAssociations` name `arn`.
fn users<'a>(state: &'a State, arn: &str) -> Vec<&'a str> {
    state
        .functions
        .values()
        .filter(|f| {
            f.development.key_value_stores.iter().any(|a| a == arn)
                || f.live
                    .as_ref()
                    .is_some_and(|l| l.key_value_stores.iter().any(|a| a == arn))
        })
        .map(|f| f.name.as_str())
        .collect()
}

// === control plane ===

fn store_xml(meta: &StoreMeta) -> String {
    format!(
        "<Name>{}</Name><Id>{}</Id><Comment>{}</Comment><ARN>{}</ARN><Status>READY</Status><LastModifiedTime>{}</LastModifiedTime>",
        escape_text(&meta.name),
        escape_text(&meta.id),
        escape_text(&meta.comment),
        escape_text(&meta.arn),
        timestamp(meta.last_modified)
    )
}

fn respond(status: StatusCode, root: &str, inner: &str, etag: Option<&str>) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{XMLNS}\">{inner}</{root}>"
    );
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Some(Ok(v)) = etag.map(HeaderValue::from_str) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&crate::ids::uuid()) {
        h.insert("x-amz-request-id", v);
    }
    resp
}

fn no_such(name: &str) -> ApiError {
    StateError::not_found(Kind::KeyValueStore, name).into()
}

fn check_if_match(if_match: Option<&str>, etag: &str) -> Result<(), ApiError> {
    Ok(StateError::check_if_match(if_match, etag)?)
}

fn comment_of(tree: &Tree) -> Result<Option<String>, ApiError> {
    let Some(c) = tree.get("Comment") else {
        return Ok(None);
    };
    let c = c.as_str().unwrap_or("").to_owned();
    if c.chars().count() > 128 {
        return Err(ApiError::invalid_argument(
            "Comment can be at most 128 characters.",
        ));
    }
    Ok(Some(c))
}

/// Routes a request under `/2020-05-31/key-value-store`; `None` for a path or method it does
/// not serve.
pub(super) async fn handle(
    state: &AdminState,
    call: &Call<'_>,
    rest: &[&str],
) -> Option<Result<Response, ApiError>> {
    Some(match (call.method.clone(), rest) {
        (Method::POST, []) => create(state, call).await,
        (Method::GET, []) => list(state, call).await,
        (Method::GET, [name]) => describe(state, name).await,
        (Method::PUT, [name]) => update(state, call, name).await,
        (Method::DELETE, [name]) => delete(state, call, name).await,
        _ => return None,
    })
}

async fn create(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let tree = call.decode("CreateKeyValueStoreRequest", |t, _| Some(t.clone()))?;
    let name = tree
        .get("Name")
        .and_then(Tree::as_str)
        .ok_or_else(|| ApiError::invalid_argument("Name is required."))?
        .to_owned();
    if !valid_name(&name) {
        return Err(ApiError::invalid_argument(format!(
            "The key value store name {name:?} is not valid: 1 to 64 characters from a-z A-Z 0-9 - _."
        )));
    }
    let comment = comment_of(&tree)?.unwrap_or_default();
    let t = now();
    let data = match tree.get("ImportSource") {
        Some(source) => import(state, source, t).await?,
        None => StoreData::empty(t),
    };
    if tree.get("Tags").is_some() {
        tracing::warn!(store = %name, "CreateKeyValueStore: Tags are not kept by edgegate");
    }
    let id = crate::ids::uuid();
    let meta = StoreMeta {
        arn: format!(
            "arn:aws:cloudfront::{}:key-value-store/{id}",
            state.account_id
        ),
        name: name.clone(),
        id,
        comment,
        created: t,
        last_modified: t,
        etag: crate::ids::etag(),
    };
    let entry = StoreEntry::new(meta.clone(), data);
    state
        .registry
        .change_key_value_store(&name, |s| {
            if s.key_value_stores.contains_key(&name) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "EntityAlreadyExists",
                    format!("A key value store named {name} already exists."),
                ));
            }
            if s.key_value_stores.len() >= MAX_STORES {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "EntityLimitExceeded",
                    format!(
                        "You have reached the maximum number of key value stores ({MAX_STORES})."
                    ),
                ));
            }
            Ok((StoreChange::Put(Box::new(entry)), ()))
        })
        .await?;
    let mut resp = respond(
        StatusCode::CREATED,
        "KeyValueStore",
        &store_xml(&meta),
        Some(&meta.etag),
    );
    let location = format!(
        "https://cloudfront.amazonaws.com/2020-05-31/key-value-store/{}",
        meta.arn
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The largest import file.
const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

/// Reads an `ImportSource` from S3: the items it holds, checked against the data plane's limits.
async fn import(
    state: &AdminState,
    source: &Tree,
    now: OffsetDateTime,
) -> Result<StoreData, ApiError> {
    let kind = source
        .get("SourceType")
        .and_then(Tree::as_str)
        .unwrap_or("");
    if kind != "S3" {
        return Err(ApiError::invalid_argument(format!(
            "ImportSource.SourceType must be S3, not {kind:?}."
        )));
    }
    let arn = source.get("SourceARN").and_then(Tree::as_str).unwrap_or("");
    let Some((bucket, key)) = arn
        .strip_prefix("arn:aws:s3:::")
        .and_then(|r| r.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
    else {
        return Err(ApiError::invalid_argument(format!(
            "ImportSource.SourceARN must be an S3 object ARN (arn:aws:s3:::bucket/key), not {arn:?}."
        )));
    };
    let bytes = state
        .s3
        .get(bucket, "us-east-1", key, MAX_IMPORT_BYTES)
        .await
        .map_err(|e| match e {
            crate::meter::bucket::S3Error::TooLarge { size, .. } => {
                ApiError::invalid_argument(format!(
                    "The import source s3://{bucket}/{key} is not valid: the file is {size} \
                     bytes; an import file can be at most {MAX_IMPORT_BYTES} bytes"
                ))
            }
            e => ApiError::invalid_argument(format!("The import source cannot be read: {e}")),
        })?;
    let items = parse_import(&bytes).map_err(|e| {
        ApiError::invalid_argument(format!(
            "The import source s3://{bucket}/{key} is not valid: {e}"
        ))
    })?;
    let mut data = StoreData::empty(now);
    data.items = items;
    let size = data.total_size();
    if size > kvs::MAX_STORE_BYTES {
        return Err(ApiError::invalid_argument(
            WriteError::StoreFull(size).to_string(),
        ));
    }
    Ok(data)
}

/// `{"data": [{"key": …, "value": …}, …]}`: the items, with no duplicate key and every key and
/// value within the limits.
fn parse_import(bytes: &[u8]) -> Result<std::collections::BTreeMap<String, String>, String> {
    #[derive(Deserialize)]
    struct Item {
        key: String,
        value: String,
    }
    #[derive(Deserialize)]
    struct File {
        data: Vec<Item>,
    }
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(format!(
            "the file is {} bytes; an import file can be at most {MAX_IMPORT_BYTES} bytes",
            bytes.len()
        ));
    }
    let file: File = serde_json::from_slice(bytes)
        .map_err(|e| format!("expected {{\"data\": [{{\"key\": …, \"value\": …}}]}}: {e}"))?;
    let mut items = std::collections::BTreeMap::new();
    for item in file.data {
        kvs::check_key(&item.key).map_err(|e| e.to_string())?;
        if item.value.len() > kvs::MAX_VALUE_BYTES {
            return Err(WriteError::ValueTooLarge {
                key: item.key,
                len: item.value.len(),
            }
            .to_string());
        }
        if items.insert(item.key.clone(), item.value).is_some() {
            return Err(WriteError::DuplicateKey(item.key).to_string());
        }
    }
    Ok(items)
}

async fn describe(state: &AdminState, name: &str) -> Result<Response, ApiError> {
    let s = state.registry.snapshot().await;
    let e = s.key_value_stores.get(name).ok_or_else(|| no_such(name))?;
    Ok(respond(
        StatusCode::OK,
        "KeyValueStore",
        &store_xml(&e.meta),
        Some(&e.meta.etag),
    ))
}

async fn list(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let max = match call.query("MaxItems") {
        None | Some("") => 100,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=100).contains(m))
            .ok_or_else(|| {
                ApiError::invalid_argument(format!("MaxItems must be from 1 to 100, not {m:?}."))
            })?,
    };
    let marker = call.query("Marker").filter(|m| !m.is_empty());
    // Every store is READY; any other status filter lists none.
    let status_ok = call
        .query("Status")
        .is_none_or(|s| s.is_empty() || s.eq_ignore_ascii_case("READY"));
    let s = state.registry.snapshot().await;
    let all: Vec<&StoreEntry> = if status_ok {
        s.key_value_stores.values().collect()
    } else {
        Vec::new()
    };
    let start = match marker {
        Some(m) => all
            .iter()
            .position(|e| e.meta.name.as_str() > m)
            .unwrap_or(all.len()),
        None => 0,
    };
    let page: Vec<_> = all[start..].iter().take(max).collect();
    let next = (start + page.len() < all.len())
        .then(|| page.last().map(|e| e.meta.name.clone()))
        .flatten();
    let mut inner = String::new();
    if let Some(n) = &next {
        inner.push_str(&format!("<NextMarker>{}</NextMarker>", escape_text(n)));
    }
    inner.push_str(&format!(
        "<MaxItems>{max}</MaxItems><Quantity>{}</Quantity>",
        page.len()
    ));
    if !page.is_empty() {
        inner.push_str("<Items>");
        for e in &page {
            inner.push_str("<KeyValueStore>");
            inner.push_str(&store_xml(&e.meta));
            inner.push_str("</KeyValueStore>");
        }
        inner.push_str("</Items>");
    }
    Ok(respond(StatusCode::OK, "KeyValueStoreList", &inner, None))
}

async fn update(state: &AdminState, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    {
        let s = state.registry.snapshot().await;
        let e = s.key_value_stores.get(name).ok_or_else(|| no_such(name))?;
        check_if_match(call.if_match(), &e.meta.etag)?;
    }
    let tree = call.decode("UpdateKeyValueStoreRequest", |t, _| Some(t.clone()))?;
    let comment =
        comment_of(&tree)?.ok_or_else(|| ApiError::invalid_argument("Comment is required."))?;
    let if_match = call.if_match().map(str::to_owned);
    let meta = state
        .registry
        .change_key_value_store(name, |s| {
            let mut e = s
                .key_value_stores
                .get(name)
                .cloned()
                .ok_or_else(|| no_such(name))?;
            check_if_match(if_match.as_deref(), &e.meta.etag)?;
            e.meta.comment = comment;
            e.meta.last_modified = now();
            e.meta.etag = crate::ids::etag();
            let meta = e.meta.clone();
            Ok::<_, ApiError>((StoreChange::Put(Box::new(e)), meta))
        })
        .await?;
    Ok(respond(
        StatusCode::OK,
        "KeyValueStore",
        &store_xml(&meta),
        Some(&meta.etag),
    ))
}

async fn delete(state: &AdminState, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let if_match = call.if_match().map(str::to_owned);
    state
        .registry
        .change_key_value_store(name, |s| {
            let e = s.key_value_stores.get(name).ok_or_else(|| no_such(name))?;
            check_if_match(if_match.as_deref(), &e.meta.etag)?;
            let users = users(s, &e.meta.arn);
            if !users.is_empty() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "CannotDeleteEntityWhileInUse",
                    format!(
                        "The key value store {name} is associated with the function(s) {}; remove the association first.",
                        users.join(", ")
                    ),
                ));
            }
            Ok((StoreChange::Delete, ()))
        })
        .await?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// Checks the `KeyValueStoreAssociations` of a `CreateFunction`/`UpdateFunction` against the
/// stores that exist: `InvalidArgument` (the operations' error in the model) for an ARN that
/// names no store.
pub fn check_associations(state: &State, arns: &[String]) -> Result<(), ApiError> {
    for arn in arns {
        if !state.key_value_stores.values().any(|e| e.meta.arn == *arn) {
            return Err(ApiError::invalid_argument(format!(
                "The key value store {arn} does not exist."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_files_are_read_with_the_limits() {
        let ok = parse_import(br#"{"data":[{"key":"k1","value":"v1"},{"key":"k2","value":"v2"}]}"#)
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(
            parse_import(br#"{"data":[{"key":"k","value":"1"},{"key":"k","value":"2"}]}"#)
                .unwrap_err()
                .contains("more than once")
        );
        let long = format!(
            r#"{{"data":[{{"key":"{}","value":"v"}}]}}"#,
            "k".repeat(513)
        );
        assert!(parse_import(long.as_bytes()).is_err());
        let big = format!(
            r#"{{"data":[{{"key":"k","value":"{}"}}]}}"#,
            "v".repeat(1025)
        );
        assert!(parse_import(big.as_bytes()).is_err());
        assert!(parse_import(b"[1, 2]").is_err());
    }
}

// === data plane ===

/// A refused data-plane request, in REST-JSON form: the `x-amzn-ErrorType` header and
/// `{"message": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// HTTP status.
    pub status: StatusCode,
    /// The model's exception name.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl DataError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
    }

    fn conflict() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "ConflictException",
            "Resource is not in expected state: the If-Match ETag is not the key value store's current ETag.",
        )
    }
}

impl From<StateError> for DataError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::NotFound { id, .. } => {
                Self::not_found(format!("The key value store {id} does not exist."))
            }
            other => {
                tracing::error!(detail = %other, "key value store write failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerException",
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }
}

impl From<WriteError> for DataError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::StoreFull(_) => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "ServiceQuotaExceededException",
                e.to_string(),
            ),
            WriteError::NoSuchKey(_) => Self::not_found(e.to_string()),
            _ => Self::validation(e.to_string()),
        }
    }
}

impl IntoResponse for DataError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        if let Ok(v) = HeaderValue::from_str(&crate::ids::uuid()) {
            h.insert("x-amzn-requestid", v);
        }
        resp
    }
}

fn json(value: serde_json::Value, etag: Option<&str>) -> Response {
    let mut resp = Response::new(Body::from(value.to_string()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(Ok(v)) = etag.map(HeaderValue::from_str) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&crate::ids::uuid()) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn epoch(t: OffsetDateTime) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}

/// Checks the request's signature: SigV4A or SigV4 by the admin credentials, for the
/// `cloudfront-keyvaluestore` service. Nothing unsigned passes when admin credentials are set.
fn authenticate(
    state: &AdminState,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<(), DataError> {
    // Without admin credentials the admin listener binds loopback only, and the data plane is
    // as open there as the control plane beside it (any signature is accepted).
    let Some(creds) = &state.credentials else {
        return Ok(());
    };
    let hash = crate::sigv4::sha256_hex(body);
    let lookup = |id: &str| (id == creds.access_key_id).then(|| creds.secret_access_key.clone());
    let v4a = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crate::sigv4::v4a::is_v4a);
    let now = OffsetDateTime::now_utc();
    let checked = if v4a {
        crate::sigv4::v4a::verify(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &hash,
            lookup,
            SERVICE,
            now,
        )
    } else {
        crate::sigv4::verify(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &hash,
            lookup,
            SERVICE,
            now,
        )
    };
    checked.map_err(|e| DataError::denied(format!("{}: {}", e.code(), e.message())))
}

fn decode(segment: &str) -> Result<String, DataError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| DataError::validation("The path is not valid UTF-8."))
}

fn query(uri: &http::Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Serves a request under [`DATA_PREFIX`] (the `cloudfront-keyvaluestore` API).
pub async fn data_plane(state: &AdminState, parts: http::request::Parts, body: Bytes) -> Response {
    match data_plane_inner(state, &parts, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn data_plane_inner(
    state: &AdminState,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<Response, DataError> {
    authenticate(state, parts, body)?;
    let rest = parts
        .uri
        .path()
        .strip_prefix(DATA_PREFIX)
        .unwrap_or_default();
    let raw: Vec<&str> = rest.split('/').skip(1).collect();
    let segments = raw
        .iter()
        .map(|s| decode(s))
        .collect::<Result<Vec<String>, _>>()?;
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let m = &parts.method;
    let if_match = parts
        .headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().trim_matches('"').to_owned());
    match (m.clone(), segs.as_slice()) {
        (Method::GET, [arn]) => describe_data(state, arn).await,
        (Method::GET, [arn, "keys"]) => list_keys(state, arn, &parts.uri).await,
        (Method::GET, [arn, "keys", key]) => get_key(state, arn, key).await,
        (Method::PUT, [arn, "keys", key]) => {
            #[derive(Deserialize)]
            struct Put {
                #[serde(rename = "Value")]
                value: String,
            }
            let put: Put = serde_json::from_slice(body).map_err(|e| {
                DataError::validation(format!("The body must be {{\"Value\": \"…\"}}: {e}"))
            })?;
            write(
                state,
                arn,
                if_match,
                vec![((*key).to_owned(), put.value)],
                vec![],
            )
            .await
        }
        (Method::DELETE, [arn, "keys", key]) => {
            write(state, arn, if_match, vec![], vec![(*key).to_owned()]).await
        }
        (Method::POST, [arn, "keys"]) => {
            #[derive(Deserialize)]
            struct Item {
                #[serde(rename = "Key")]
                key: String,
                #[serde(rename = "Value")]
                value: Option<String>,
            }
            #[derive(Deserialize)]
            struct Update {
                #[serde(rename = "Puts", default)]
                puts: Vec<Item>,
                #[serde(rename = "Deletes", default)]
                deletes: Vec<Item>,
            }
            let u: Update = serde_json::from_slice(body).map_err(|e| {
                DataError::validation(format!(
                    "The body must be {{\"Puts\": [{{\"Key\", \"Value\"}}], \"Deletes\": [{{\"Key\"}}]}}: {e}"
                ))
            })?;
            let mut puts = Vec::with_capacity(u.puts.len());
            for p in u.puts {
                let v = p.value.ok_or_else(|| {
                    DataError::validation(format!("Puts: the key {:?} has no Value.", p.key))
                })?;
                puts.push((p.key, v));
            }
            let deletes = u.deletes.into_iter().map(|d| d.key).collect();
            write(state, arn, if_match, puts, deletes).await
        }
        _ => Err(DataError::validation(format!(
            "No cloudfront-keyvaluestore operation is {} {}.",
            m,
            parts.uri.path()
        ))),
    }
}

/// The store named by `arn`, from a snapshot.
fn find<'a>(s: &'a State, arn: &str) -> Result<&'a StoreEntry, DataError> {
    s.key_value_stores
        .values()
        .find(|e| e.meta.arn == arn)
        .ok_or_else(|| DataError::not_found(format!("The key value store {arn} does not exist.")))
}

async fn describe_data(state: &AdminState, arn: &str) -> Result<Response, DataError> {
    let s = state.registry.snapshot().await;
    let e = find(&s, arn)?;
    let d = e.data.load();
    Ok(json(
        serde_json::json!({
            "ItemCount": d.item_count(),
            "TotalSizeInBytes": d.total_size(),
            "KvsARN": e.meta.arn,
            "Created": epoch(e.meta.created),
            "LastModified": epoch(d.last_modified),
            "Status": "READY",
        }),
        Some(&d.etag),
    ))
}

async fn get_key(state: &AdminState, arn: &str, key: &str) -> Result<Response, DataError> {
    let s = state.registry.snapshot().await;
    let d = find(&s, arn)?.data.load_full();
    let value = d
        .items
        .get(key)
        .ok_or_else(|| DataError::not_found(format!("The key {key:?} does not exist.")))?;
    Ok(json(
        serde_json::json!({
            "Key": key,
            "Value": value,
            "ItemCount": d.item_count(),
            "TotalSizeInBytes": d.total_size(),
        }),
        None,
    ))
}

async fn list_keys(state: &AdminState, arn: &str, uri: &http::Uri) -> Result<Response, DataError> {
    let max = match query(uri, "MaxResults") {
        None => 10,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=50).contains(m))
            .ok_or_else(|| {
                DataError::validation(format!("MaxResults must be from 1 to 50, not {m:?}."))
            })?,
    };
    let after = match query(uri, "NextToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| DataError::validation("NextToken is not a token ListKeys gave."))?,
        ),
    };
    let s = state.registry.snapshot().await;
    let d = find(&s, arn)?.data.load_full();
    let mut iter: Box<dyn Iterator<Item = (&String, &String)>> = match &after {
        Some(a) => Box::new(
            d.items
                .range::<String, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
        ),
        None => Box::new(d.items.iter()),
    };
    let page: Vec<(&String, &String)> = iter.by_ref().take(max).collect();
    let more = iter.next().is_some();
    let items: Vec<_> = page
        .iter()
        .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
        .collect();
    let mut out = serde_json::json!({ "Items": items });
    if more && let Some((last, _)) = page.last() {
        out["NextToken"] = serde_json::Value::String(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes()),
        );
    }
    Ok(json(out, None))
}

async fn write(
    state: &AdminState,
    arn: &str,
    if_match: Option<String>,
    puts: Vec<(String, String)>,
    deletes: Vec<String>,
) -> Result<Response, DataError> {
    let name = {
        let s = state.registry.snapshot().await;
        find(&s, arn)?.meta.name.clone()
    };
    let Some(if_match) = if_match.filter(|m| !m.is_empty()) else {
        return Err(DataError::validation(
            "If-Match is required: the key value store's current ETag (DescribeKeyValueStore).",
        ));
    };
    let next = state
        .registry
        .change_key_value_store(&name, |s| {
            let e = s.key_value_stores.get(&name).ok_or_else(|| {
                DataError::not_found(format!("The key value store {arn} does not exist."))
            })?;
            let current = e.data.load();
            if current.etag != if_match {
                return Err(DataError::conflict());
            }
            let next = kvs::apply(&current, &puts, &deletes, now())?;
            let summary = (next.item_count(), next.total_size(), next.etag.clone());
            Ok((StoreChange::Items(Box::new(next)), summary))
        })
        .await?;
    let (count, size, etag) = next;
    Ok(json(
        serde_json::json!({ "ItemCount": count, "TotalSizeInBytes": size }),
        Some(&etag),
    ))
}
