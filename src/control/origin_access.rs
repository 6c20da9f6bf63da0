//! The origin access control operations of the API (origin-access.md §3): Create, Get,
//! GetConfig, Update, Delete and List; and the same six for the legacy CloudFront origin access
//! identities (§8) under `/origin-access-identity/cloudfront`.
//!
//! A CreateCloudFrontOriginAccessIdentity replayed with the same CallerReference and config
//! answers 201 with the original identity and ETag (§11.7).
//!
//! Update goes to `…/origin-access-control/{Id}/config`; Get and Delete to `…/{Id}`. Update and
//! Delete require `If-Match` (missing: 400 `InvalidIfMatchVersion`; stale: 412
//! `PreconditionFailed`). Every accepted change recompiles the routing snapshot, so a new
//! `SigningBehavior` applies to the next request of every distribution that uses the OAC.

use axum::response::Response;
use http::{Method, StatusCode};

use super::api::{AdminState, Call, no_content, not_found, page, paging, resource, xml};
use super::error::ApiError;
use crate::model::origin_access::{
    CloudFrontOriginAccessIdentityConfig, OriginAccessControlConfig,
    origin_access_control_list_tree, origin_access_control_tree, origin_access_identity_list_tree,
    origin_access_identity_tree,
};
use crate::state::Kind;

/// `…/origin-access-control/{Id}` as CloudFront spells it in `Location`.
fn location(id: &str) -> String {
    format!("https://cloudfront.amazonaws.com/2020-05-31/origin-access-control/{id}")
}

/// Answers a `/2020-05-31/origin-access-control…` call; `None` when no operation has that
/// method and path (the caller answers `UnsupportedOperation`).
pub(super) async fn route(
    state: &AdminState,
    call: &Call<'_>,
) -> Result<Option<Response>, ApiError> {
    let resp = match (call.method.clone(), call.segments.as_slice()) {
        (Method::POST, ["origin-access-control"]) => create(state, call).await?,
        (Method::GET, ["origin-access-control"]) => list(state, call).await?,
        (Method::GET, ["origin-access-control", id]) => get(state, id, false).await?,
        (Method::GET, ["origin-access-control", id, "config"]) => get(state, id, true).await?,
        (Method::PUT, ["origin-access-control", id, "config"]) => update(state, call, id).await?,
        (Method::DELETE, ["origin-access-control", id]) => {
            state
                .registry
                .delete_origin_access_control(id, call.if_match())
                .await?;
            no_content()
        }
        _ => return Ok(None),
    };
    Ok(Some(resp))
}

async fn create(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let cfg = call.document::<OriginAccessControlConfig>()?;
    let v = state
        .registry
        .create_origin_access_control(cfg, None, false)
        .await?;
    Ok(xml(
        StatusCode::CREATED,
        &origin_access_control_tree(&v.id, &v.config),
        "OriginAccessControl",
        Some(&v.etag),
        Some(location(&v.id)),
    ))
}

async fn get(state: &AdminState, id: &str, config_only: bool) -> Result<Response, ApiError> {
    let snap = state.registry.snapshot().await;
    let v = snap
        .origin_access_controls
        .get(id)
        .ok_or_else(|| not_found(Kind::OriginAccessControl, id))?;
    Ok(resource(
        &v.etag,
        &v.config,
        config_only,
        "OriginAccessControl",
        || origin_access_control_tree(id, &v.config),
    ))
}

async fn update(state: &AdminState, call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    if call.if_match().is_none() {
        // An unknown id is still a 404, as CloudFront checks the resource first.
        if !state
            .registry
            .snapshot()
            .await
            .origin_access_controls
            .contains_key(id)
        {
            return Err(not_found(Kind::OriginAccessControl, id));
        }
        return Err(ApiError::missing_if_match());
    }
    let cfg = call.document::<OriginAccessControlConfig>()?;
    let v = state
        .registry
        .update_origin_access_control(id, call.if_match(), cfg)
        .await?;
    Ok(xml(
        StatusCode::OK,
        &origin_access_control_tree(&v.id, &v.config),
        "OriginAccessControl",
        Some(&v.etag),
        None,
    ))
}

async fn list(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let snap = state.registry.snapshot().await;
    let all: Vec<(String, OriginAccessControlConfig)> = snap
        .origin_access_controls
        .values()
        .map(|v| (v.id.clone(), v.config.clone()))
        .collect();
    let (items, next) = page(&all, |(id, _)| id, &marker, max);
    let rows: Vec<_> = items.into_iter().cloned().collect();
    let tree = origin_access_control_list_tree(
        marker.as_deref().unwrap_or(""),
        next.as_deref(),
        max as u32,
        &rows,
    );
    Ok(xml(
        StatusCode::OK,
        &tree,
        "OriginAccessControlList",
        None,
        None,
    ))
}

// === origin access identities (legacy) ===

/// `…/origin-access-identity/cloudfront/{Id}` as CloudFront spells it in `Location`.
fn oai_location(id: &str) -> String {
    format!("https://cloudfront.amazonaws.com/2020-05-31/origin-access-identity/cloudfront/{id}")
}

/// Answers a `/2020-05-31/origin-access-identity/cloudfront…` call; `None` when no operation
/// has that method and path.
pub(super) async fn route_identity(
    state: &AdminState,
    call: &Call<'_>,
) -> Result<Option<Response>, ApiError> {
    const OAI: &str = "CloudFrontOriginAccessIdentity";
    let resp = match (call.method.clone(), call.segments.as_slice()) {
        (Method::POST, ["origin-access-identity", "cloudfront"]) => {
            let cfg = call.document::<CloudFrontOriginAccessIdentityConfig>()?;
            let (v, _) = state
                .registry
                .create_origin_access_identity(cfg, None, false)
                .await?;
            xml(
                StatusCode::CREATED,
                &origin_access_identity_tree(&v.id, &v.config),
                OAI,
                Some(&v.etag),
                Some(oai_location(&v.id)),
            )
        }
        (Method::GET, ["origin-access-identity", "cloudfront"]) => {
            let (marker, max) = paging(call)?;
            let snap = state.registry.snapshot().await;
            let all: Vec<(String, CloudFrontOriginAccessIdentityConfig)> = snap
                .origin_access_identities
                .values()
                .map(|v| (v.id.clone(), v.config.clone()))
                .collect();
            let (items, next) = page(&all, |(id, _)| id, &marker, max);
            let rows: Vec<_> = items.into_iter().cloned().collect();
            let tree = origin_access_identity_list_tree(
                marker.as_deref().unwrap_or(""),
                next.as_deref(),
                max as u32,
                &rows,
            );
            xml(
                StatusCode::OK,
                &tree,
                "CloudFrontOriginAccessIdentityList",
                None,
                None,
            )
        }
        (Method::GET, ["origin-access-identity", "cloudfront", id, rest @ ..])
            if rest.is_empty() || rest == ["config"] =>
        {
            let snap = state.registry.snapshot().await;
            let v = snap
                .origin_access_identities
                .get(*id)
                .ok_or_else(|| not_found(Kind::OriginAccessIdentity, id))?;
            resource(&v.etag, &v.config, !rest.is_empty(), OAI, || {
                origin_access_identity_tree(id, &v.config)
            })
        }
        (Method::PUT, ["origin-access-identity", "cloudfront", id, "config"]) => {
            let cfg = call.document::<CloudFrontOriginAccessIdentityConfig>()?;
            let v = state
                .registry
                .update_origin_access_identity(id, call.if_match(), cfg)
                .await?;
            xml(
                StatusCode::OK,
                &origin_access_identity_tree(&v.id, &v.config),
                OAI,
                Some(&v.etag),
                None,
            )
        }
        (Method::DELETE, ["origin-access-identity", "cloudfront", id]) => {
            state
                .registry
                .delete_origin_access_identity(id, call.if_match())
                .await?;
            no_content()
        }
        _ => return Ok(None),
    };
    Ok(Some(resp))
}
