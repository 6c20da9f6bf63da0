//! The CloudFront Functions API (functions.md §7): `CreateFunction`, `DescribeFunction`,
//! `GetFunction`, `UpdateFunction`, `PublishFunction`, `DeleteFunction`, `ListFunctions` and
//! `TestFunction`, under `/2020-05-31/function`.
//!
//! Create and Update write the DEVELOPMENT stage, after the checks of
//! [`crate::functions::check`] and a trial load in the engine (a syntax error is refused with
//! `InvalidArgument`). Publish copies DEVELOPMENT to LIVE, which every cache behavior that
//! names the function then runs. One ETag per DEVELOPMENT revision; LIVE keeps the ETag it was
//! published from. `UpdateFunction` sends its ETag as both `ETtag` (the model's spelling, which
//! the SDKs read) and `ETag`.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use time::OffsetDateTime;

use super::api::AdminState;
use super::error::ApiError;
use crate::functions::engine::{self, EdgeLocation};
use crate::functions::record::{arn, valid_name};
use crate::functions::{FunctionEntry, JsRuntime, Stage, StageVersion, check};
use crate::model::Tree;
use crate::model::responses::timestamp;
use crate::model::tree::escape_text;
use crate::state::registry::{FunctionChange, State};
use crate::state::{Kind, StateError};

/// CloudFront's quota of functions per account.
const MAX_FUNCTIONS: usize = 100;
/// The largest `EventObject` TestFunction takes.
const MAX_EVENT_BYTES: usize = 40_960;

/// A request under `/2020-05-31/function`.
#[derive(Debug)]
pub struct FunctionCall<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path segments after `function`.
    pub rest: &'a [&'a str],
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a Bytes,
}

impl FunctionCall<'_> {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn if_match(&self) -> Option<&str> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
    }

    /// The body as the XML document `root`.
    fn document(&self, root: &str) -> Result<Tree, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MissingBody",
                format!("The request body is empty: expected a {root} document."),
            ));
        }
        let (name, tree) = crate::model::tree::from_xml(self.body)
            .map_err(|e| ApiError::malformed(format!("The request body is not valid XML: {e}")))?;
        if name != root {
            return Err(ApiError::malformed(format!(
                "Expected a {root} document, found <{name}>."
            )));
        }
        Ok(tree)
    }
}

/// Routes a request under `/2020-05-31/function`; `None` for a path or method it does not
/// serve.
pub async fn handle(
    state: &AdminState,
    call: &FunctionCall<'_>,
) -> Option<Result<Response, ApiError>> {
    use Method as M;
    Some(match (call.method.clone(), call.rest) {
        (M::POST, []) => create(state, call).await,
        (M::GET, []) => list(state, call).await,
        (M::GET, [name]) => get(state, call, name).await,
        (M::GET, [name, "describe"]) => describe(state, call, name).await,
        (M::PUT, [name]) => update(state, call, name).await,
        (M::POST, [name, "publish"]) => publish(state, call, name).await,
        (M::POST, [name, "test"]) => test(state, call, name).await,
        (M::DELETE, [name]) => delete(state, call, name).await,
        _ => return None,
    })
}

fn no_such(name: &str) -> ApiError {
    StateError::not_found(Kind::Function, name).into()
}

fn check_if_match(if_match: Option<&str>, etag: &str) -> Result<(), ApiError> {
    Ok(StateError::check_if_match(if_match, etag)?)
}

fn stage_param(call: &FunctionCall<'_>) -> Result<Stage, ApiError> {
    match call.query("Stage") {
        None | Some("") => Ok(Stage::Development),
        Some(s) => Stage::parse(s).ok_or_else(|| {
            ApiError::invalid_argument(format!("Stage must be DEVELOPMENT or LIVE, not {s:?}."))
        }),
    }
}

/// `FunctionConfig` and `FunctionCode` of a Create or Update request.
fn config_and_code(tree: &Tree) -> Result<(String, JsRuntime, Vec<String>, String), ApiError> {
    let cfg = tree
        .get("FunctionConfig")
        .ok_or_else(|| ApiError::invalid_argument("FunctionConfig is required."))?;
    let comment = cfg
        .get("Comment")
        .and_then(Tree::as_str)
        .ok_or_else(|| ApiError::invalid_argument("FunctionConfig.Comment is required."))?
        .to_owned();
    let runtime = cfg
        .get("Runtime")
        .and_then(Tree::as_str)
        .ok_or_else(|| ApiError::invalid_argument("FunctionConfig.Runtime is required."))?;
    let runtime = JsRuntime::parse(runtime).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "FunctionConfig.Runtime must be cloudfront-js-1.0 or cloudfront-js-2.0, not {runtime:?}."
        ))
    })?;
    let mut stores = Vec::new();
    if let Some(items) = cfg
        .get("KeyValueStoreAssociations")
        .and_then(|k| k.get("Items"))
        .and_then(Tree::as_list)
    {
        for item in items {
            let a = item
                .get("KeyValueStoreARN")
                .and_then(Tree::as_str)
                .unwrap_or("");
            if !valid_kvs_arn(a) {
                return Err(ApiError::invalid_argument(format!(
                    "{a:?} is not a key value store ARN (arn:aws:cloudfront::<account>:key-value-store/<id>)."
                )));
            }
            stores.push(a.to_owned());
        }
    }
    if stores.len() > 1 {
        return Err(ApiError::invalid_argument(
            "A function can be associated with at most one key value store.",
        ));
    }
    if runtime == JsRuntime::V1 && !stores.is_empty() {
        return Err(ApiError::invalid_argument(
            "Key value stores need the cloudfront-js-2.0 runtime.",
        ));
    }
    let blob = tree
        .get("FunctionCode")
        .and_then(Tree::as_str)
        .ok_or_else(|| ApiError::invalid_argument("FunctionCode is required."))?;
    let code = base64::engine::general_purpose::STANDARD
        .decode(blob.trim())
        .map_err(|_| ApiError::invalid_argument("FunctionCode is not valid base64."))?;
    let code = checked_code(&code, runtime, &stores)?;
    Ok((comment, runtime, stores, code))
}

fn valid_kvs_arn(a: &str) -> bool {
    let Some(rest) = a.strip_prefix("arn:aws:cloudfront::") else {
        return false;
    };
    let Some((account, id)) = rest.split_once(":key-value-store/") else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && id.len() == 36
        && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The code's static checks and a trial load (syntax, `handler`, top-level run), with `cf.kvs()`
/// bound to the associated store (`stores`), which top-level code may open.
fn checked_code(code: &[u8], runtime: JsRuntime, stores: &[String]) -> Result<String, ApiError> {
    let prepared = check::check(code, runtime);
    match prepared {
        Ok(_) => {}
        Err(check::CheckError::TooLarge(n)) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "FunctionSizeLimitExceeded",
                format!(
                    "The function code is {n} bytes; the maximum size of a CloudFront function is {} bytes.",
                    crate::functions::MAX_CODE_BYTES
                ),
            ));
        }
        Err(e) => return Err(ApiError::invalid_argument(e.to_string())),
    }
    // `check` accepted it as UTF-8.
    let text = String::from_utf8_lossy(code).into_owned();
    let scratch = engine::Script {
        name: "validation".into(),
        arn: format!("validation:{}", crate::ids::uuid()).into(),
        etag: "-".into(),
        runtime,
        code: text.as_str().into(),
        kvs: stores.first().map(|arn| {
            std::sync::Arc::new(crate::functions::kvs::Binding {
                id: crate::functions::kvs::id_of_arn(arn)
                    .unwrap_or(arn)
                    .to_owned(),
                created: OffsetDateTime::UNIX_EPOCH,
                data: None,
            })
        }),
    };
    match engine::validate(&scratch) {
        Ok(()) => Ok(text),
        Err(e) => Err(ApiError::invalid_argument(format!(
            "The function code is not valid for {}: {e}",
            runtime.as_str()
        ))),
    }
}

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// `FunctionSummary.Status` of a stage.
fn status(state: &State, f: &FunctionEntry, stage: Stage) -> &'static str {
    let associated = || {
        state.distributions.values().any(|d| {
            d.v.config
                .referenced_function_arns()
                .contains(&f.arn.as_str())
        })
    };
    let live = || {
        if associated() {
            "DEPLOYED"
        } else {
            "UNASSOCIATED"
        }
    };
    match (stage, &f.live) {
        (Stage::Live, Some(_)) => live(),
        // DEVELOPMENT reads as published while it is what LIVE was published from.
        (Stage::Development, Some(v)) if v.etag == f.development.etag => live(),
        _ => "UNPUBLISHED",
    }
}

fn summary_xml(state: &State, f: &FunctionEntry, stage: Stage) -> String {
    let v = f.stage(stage).unwrap_or(&f.development);
    let mut kvs = String::new();
    if !v.key_value_stores.is_empty() {
        kvs.push_str(&format!(
            "<KeyValueStoreAssociations><Quantity>{}</Quantity><Items>",
            v.key_value_stores.len()
        ));
        for a in &v.key_value_stores {
            kvs.push_str(&format!(
                "<KeyValueStoreAssociation><KeyValueStoreARN>{}</KeyValueStoreARN></KeyValueStoreAssociation>",
                escape_text(a)
            ));
        }
        kvs.push_str("</Items></KeyValueStoreAssociations>");
    }
    format!(
        "<Name>{}</Name><Status>{}</Status><FunctionConfig><Comment>{}</Comment><Runtime>{}</Runtime>{kvs}</FunctionConfig><FunctionMetadata><FunctionARN>{}</FunctionARN><Stage>{}</Stage><CreatedTime>{}</CreatedTime><LastModifiedTime>{}</LastModifiedTime></FunctionMetadata>",
        escape_text(&f.name),
        status(state, f, stage),
        escape_text(&v.comment),
        v.runtime.as_str(),
        escape_text(&f.arn),
        stage.as_str(),
        timestamp(f.created),
        timestamp(v.last_modified),
    )
}

const XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";

fn respond(status: StatusCode, root: &str, inner: &str, headers: &[(&str, String)]) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{XMLNS}\">{inner}</{root}>"
    );
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap_or(header::ETAG),
                v,
            );
        }
    }
    if let Ok(v) = HeaderValue::from_str(&crate::ids::uuid()) {
        h.insert("x-amz-request-id", v);
    }
    resp
}

fn summary_response(
    status_code: StatusCode,
    state: &State,
    f: &FunctionEntry,
    stage: Stage,
    headers: &[(&str, String)],
) -> Response {
    respond(
        status_code,
        "FunctionSummary",
        &summary_xml(state, f, stage),
        headers,
    )
}

async fn create(state: &AdminState, call: &FunctionCall<'_>) -> Result<Response, ApiError> {
    let tree = call.document("CreateFunctionRequest")?;
    let name = tree
        .get("Name")
        .and_then(Tree::as_str)
        .ok_or_else(|| ApiError::invalid_argument("Name is required."))?
        .to_owned();
    if !valid_name(&name) {
        return Err(ApiError::invalid_argument(format!(
            "The function name {name:?} is not valid: 1 to 64 characters from a-z A-Z 0-9 - _."
        )));
    }
    let (comment, runtime, stores, code) = config_and_code(&tree)?;
    let t = now();
    let entry = FunctionEntry {
        name: name.clone(),
        arn: arn(&state.account_id, &name),
        created: t,
        development: StageVersion {
            etag: crate::ids::etag(),
            runtime,
            comment,
            key_value_stores: stores,
            code,
            last_modified: t,
        },
        live: None,
    };
    let (snapshot, entry) = state
        .registry
        .change_function(&name, |s| {
            if s.functions.contains_key(&name) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "FunctionAlreadyExists",
                    format!("A function named {name} already exists."),
                ));
            }
            super::kvs::check_associations(s, &entry.development.key_value_stores)?;
            if s.functions.len() >= MAX_FUNCTIONS {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "TooManyFunctions",
                    format!("You have reached the maximum number of functions ({MAX_FUNCTIONS})."),
                ));
            }
            let mut next = s.clone();
            next.functions.insert(name.clone(), entry.clone());
            Ok((FunctionChange::Put(Box::new(entry.clone())), (next, entry)))
        })
        .await?;
    let location = format!(
        "https://cloudfront.amazonaws.com/2020-05-31/function/{}",
        entry.arn
    );
    Ok(summary_response(
        StatusCode::CREATED,
        &snapshot,
        &entry,
        Stage::Development,
        &[
            ("etag", entry.development.etag.clone()),
            ("location", location),
        ],
    ))
}

async fn describe(
    state: &AdminState,
    call: &FunctionCall<'_>,
    name: &str,
) -> Result<Response, ApiError> {
    let stage = stage_param(call)?;
    let s = state.registry.snapshot().await;
    let f = s.functions.get(name).ok_or_else(|| no_such(name))?;
    let v = f.stage(stage).ok_or_else(|| no_such(name))?;
    Ok(summary_response(
        StatusCode::OK,
        &s,
        f,
        stage,
        &[("etag", v.etag.clone())],
    ))
}

async fn get(
    state: &AdminState,
    call: &FunctionCall<'_>,
    name: &str,
) -> Result<Response, ApiError> {
    let stage = stage_param(call)?;
    let s = state.registry.snapshot().await;
    let f = s.functions.get(name).ok_or_else(|| no_such(name))?;
    let v = f.stage(stage).ok_or_else(|| no_such(name))?;
    let mut resp = Response::new(Body::from(v.code.clone()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(e) = HeaderValue::from_str(&v.etag) {
        h.insert(header::ETAG, e);
    }
    Ok(resp)
}

async fn update(
    state: &AdminState,
    call: &FunctionCall<'_>,
    name: &str,
) -> Result<Response, ApiError> {
    let tree = call.document("UpdateFunctionRequest")?;
    // The function must exist and If-Match must be current before the code is even checked.
    {
        let s = state.registry.snapshot().await;
        let f = s.functions.get(name).ok_or_else(|| no_such(name))?;
        check_if_match(call.if_match(), &f.development.etag)?;
    }
    let (comment, runtime, stores, code) = config_and_code(&tree)?;
    let if_match = call.if_match().map(str::to_owned);
    let (snapshot, entry) = state
        .registry
        .change_function(name, |s| {
            let mut f = s
                .functions
                .get(name)
                .cloned()
                .ok_or_else(|| no_such(name))?;
            check_if_match(if_match.as_deref(), &f.development.etag)?;
            super::kvs::check_associations(s, &stores)?;
            f.development = StageVersion {
                etag: crate::ids::etag(),
                runtime,
                comment,
                key_value_stores: stores,
                code,
                last_modified: now(),
            };
            let mut next = s.clone();
            next.functions.insert(name.to_owned(), f.clone());
            Ok::<_, ApiError>((FunctionChange::Put(Box::new(f.clone())), (next, f)))
        })
        .await?;
    let etag = entry.development.etag.clone();
    Ok(summary_response(
        StatusCode::OK,
        &snapshot,
        &entry,
        Stage::Development,
        &[("etag", etag.clone()), ("ettag", etag)],
    ))
}

async fn publish(
    state: &AdminState,
    call: &FunctionCall<'_>,
    name: &str,
) -> Result<Response, ApiError> {
    let if_match = call.if_match().map(str::to_owned);
    let (snapshot, entry) = state
        .registry
        .change_function(name, |s| {
            let mut f = s
                .functions
                .get(name)
                .cloned()
                .ok_or_else(|| no_such(name))?;
            check_if_match(if_match.as_deref(), &f.development.etag)?;
            let mut live = f.development.clone();
            live.last_modified = now();
            f.live = Some(live);
            let mut next = s.clone();
            next.functions.insert(name.to_owned(), f.clone());
            Ok::<_, ApiError>((FunctionChange::Put(Box::new(f.clone())), (next, f)))
        })
        .await?;
    Ok(summary_response(
        StatusCode::OK,
        &snapshot,
        &entry,
        Stage::Live,
        &[],
    ))
}

async fn delete(
    state: &AdminState,
    call: &FunctionCall<'_>,
    name: &str,
) -> Result<Response, ApiError> {
    let if_match = call.if_match().map(str::to_owned);
    state
        .registry
        .change_function(name, |s| {
            let f = s.functions.get(name).ok_or_else(|| no_such(name))?;
            check_if_match(if_match.as_deref(), &f.development.etag)?;
            if s
                .distributions
                .values()
                .any(|d| d.v.config.referenced_function_arns().contains(&f.arn.as_str()))
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "FunctionInUse",
                    format!(
                        "The function {name} is associated with a cache behavior; remove the association first."
                    ),
                ));
            }
            Ok((FunctionChange::Delete, ()))
        })
        .await?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

async fn list(state: &AdminState, call: &FunctionCall<'_>) -> Result<Response, ApiError> {
    let stage = match call.query("Stage") {
        None | Some("") => None,
        Some(_) => Some(stage_param(call)?),
    };
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
    let s = state.registry.snapshot().await;
    // One entry per function and stage asked for (both stages when no Stage is given).
    let mut all: Vec<(&FunctionEntry, Stage)> = Vec::new();
    for f in s.functions.values() {
        for st in [Stage::Development, Stage::Live] {
            if stage.is_none_or(|x| x == st) && f.stage(st).is_some() {
                all.push((f, st));
            }
        }
    }
    let start = match marker {
        Some(m) => all
            .iter()
            .position(|(f, _)| f.name.as_str() > m)
            .unwrap_or(all.len()),
        None => 0,
    };
    let page: Vec<_> = all[start..].iter().take(max).collect();
    let next = (start + page.len() < all.len())
        .then(|| page.last().map(|(f, _)| f.name.clone()))
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
        for (f, st) in &page {
            inner.push_str("<FunctionSummary>");
            inner.push_str(&summary_xml(&s, f, *st));
            inner.push_str("</FunctionSummary>");
        }
        inner.push_str("</Items>");
    }
    Ok(respond(StatusCode::OK, "FunctionList", &inner, &[]))
}

/// `FunctionOutput`: the result wrapped as `{"request": …}` or `{"response": …}`, with the
/// `querystring`, `headers` and `cookies` members present (empty objects when the function
/// left them out), as CloudFront shows it.
fn function_output(event_type: &str, output: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(output) else {
        return output.to_owned();
    };
    let is_response =
        event_type == "viewer-response" || v.get("statusCode").is_some_and(|s| !s.is_null());
    if let Some(o) = v.as_object_mut() {
        let members: &[&str] = if is_response {
            &["headers", "cookies"]
        } else {
            &["querystring", "headers", "cookies"]
        };
        for m in members {
            o.entry(*m)
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
        }
    }
    let key = if is_response { "response" } else { "request" };
    serde_json::json!({ key: v }).to_string()
}

async fn test(
    state: &AdminState,
    call: &FunctionCall<'_>,
    name: &str,
) -> Result<Response, ApiError> {
    let tree = call.document("TestFunctionRequest")?;
    let stage = match tree.get("Stage").and_then(Tree::as_str) {
        None | Some("") => Stage::Development,
        Some(s) => Stage::parse(s).ok_or_else(|| {
            ApiError::invalid_argument(format!("Stage must be DEVELOPMENT or LIVE, not {s:?}."))
        })?,
    };
    let blob = tree
        .get("EventObject")
        .and_then(Tree::as_str)
        .ok_or_else(|| ApiError::invalid_argument("EventObject is required."))?;
    let event = base64::engine::general_purpose::STANDARD
        .decode(blob.trim())
        .map_err(|_| ApiError::invalid_argument("EventObject is not valid base64."))?;
    if event.len() > MAX_EVENT_BYTES {
        return Err(ApiError::invalid_argument(format!(
            "EventObject is larger than {MAX_EVENT_BYTES} bytes."
        )));
    }
    let parsed: serde_json::Value = serde_json::from_slice(&event)
        .map_err(|e| ApiError::invalid_argument(format!("EventObject is not valid JSON: {e}")))?;
    let event_type = parsed
        .pointer("/context/eventType")
        .and_then(|v| v.as_str())
        .unwrap_or(if parsed.get("response").is_some() {
            "viewer-response"
        } else {
            "viewer-request"
        })
        .to_owned();
    let s = state.registry.snapshot().await;
    let f = s.functions.get(name).ok_or_else(|| no_such(name))?;
    let v = f.stage(stage).ok_or_else(|| no_such(name))?;
    check_if_match(call.if_match(), &v.etag)?;
    let mut script = f.script(stage).ok_or_else(|| no_such(name))?;
    script.kvs = crate::functions::kvs::binding(&s.key_value_stores, &v.key_value_stores);
    let event = String::from_utf8_lossy(&event).into_owned();
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as f64;
    // The engine is synchronous and bounded by the compute budget.
    let result = engine::invoke(&script, &event, now_ms, &EdgeLocation::default());
    let (utilization, logs, error, output) = match result {
        Ok(inv) => (
            inv.utilization,
            inv.logs,
            String::new(),
            function_output(&event_type, &inv.output),
        ),
        Err(fail) => (
            fail.utilization,
            fail.logs,
            fail.error.to_string(),
            String::new(),
        ),
    };
    let mut inner = format!(
        "<FunctionSummary>{}</FunctionSummary>",
        summary_xml(&s, f, stage)
    );
    inner.push_str(&format!(
        "<ComputeUtilization>{utilization}</ComputeUtilization>"
    ));
    inner.push_str("<FunctionExecutionLogs>");
    for l in &logs {
        inner.push_str(&format!("<member>{}</member>", escape_text(l)));
    }
    inner.push_str("</FunctionExecutionLogs>");
    inner.push_str(&format!(
        "<FunctionErrorMessage>{}</FunctionErrorMessage><FunctionOutput>{}</FunctionOutput>",
        escape_text(&error),
        escape_text(&output)
    ));
    Ok(respond(StatusCode::OK, "TestResult", &inner, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_wrapped_with_empty_members() {
        assert_eq!(
            function_output(
                "viewer-request",
                r#"{"statusCode":302,"statusDescription":"Found","headers":{"location":{"value":"https://aws.amazon.com/cloudfront/"}}}"#
            ),
            r#"{"response":{"cookies":{},"headers":{"location":{"value":"https://aws.amazon.com/cloudfront/"}},"statusCode":302,"statusDescription":"Found"}}"#
        );
        assert_eq!(
            function_output("viewer-request", r#"{"method":"GET","uri":"/index.html"}"#),
            r#"{"request":{"cookies":{},"headers":{},"method":"GET","querystring":{},"uri":"/index.html"}}"#
        );
    }

    #[test]
    fn kvs_arns() {
        assert!(valid_kvs_arn(
            "arn:aws:cloudfront::123456789012:key-value-store/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
                .replace("EXAMPLE11111", "abcdef111111")
                .as_str()
        ));
        assert!(!valid_kvs_arn("arn:aws:cloudfront::1:key-value-store/x"));
    }
}
