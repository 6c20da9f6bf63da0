//! Tagging: `TagResource`, `UntagResource`, `ListTagsForResource` (all on `/tagging`, told apart
//! by method and the `Operation` query) and `CreateDistributionWithTags`.
//!
//! Distributions are the only taggable resource edgegate has. A resource is named by its ARN,
//! `arn:aws:cloudfront::{account}:distribution/{id}`: a value that is not a CloudFront ARN is
//! `InvalidArgument`; an ARN of another account, of another resource type or of an unknown
//! distribution is `NoSuchResource`. Tags are stored with the distribution and survive restarts;
//! changing them does not change the distribution's ETag.

use axum::response::Response;
use http::{Method, StatusCode};

use super::api::{AdminState, Call, Routed, dist_location, distribution_tree, no_content, xml};
use super::error::ApiError;
use crate::model::Diagnostics;
use crate::model::tags::{DistributionConfigWithTags, TagKeys, Tags, tags_tree};
use crate::state::StateError;

/// The `/tagging` operations.
pub(super) async fn route(state: &AdminState, call: &Call<'_>) -> Result<Response, Routed> {
    let op = call.query("Operation");
    let resp = match (&call.method, op) {
        (&Method::GET, None) => list_tags(state, call).await?,
        (&Method::POST, Some("Tag")) => tag(state, call).await?,
        (&Method::POST, Some("Untag")) => untag(state, call).await?,
        _ => return Err(Routed::NotFound),
    };
    Ok(resp)
}

fn no_such_resource(arn: &str) -> ApiError {
    ApiError::not_found(
        "NoSuchResource",
        format!("The specified resource {arn} does not exist."),
    )
}

/// The id of the distribution the request's `Resource` ARN names.
fn distribution_id<'c>(state: &AdminState, call: &'c Call<'_>) -> Result<&'c str, ApiError> {
    let arn = call
        .query("Resource")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_argument("The Resource parameter (an ARN) is required.")
        })?;
    let rest = arn
        .strip_prefix("arn:aws:cloudfront::")
        .or_else(|| arn.strip_prefix("arn:aws-cn:cloudfront::"));
    let Some((account, resource)) = rest.and_then(|r| r.split_once(':')) else {
        return Err(ApiError::invalid_argument(format!(
            "{arn:?} is not a CloudFront resource ARN (arn:aws:cloudfront::<account>:<type>/<id>)."
        )));
    };
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_argument(format!(
            "{arn:?} is not a CloudFront resource ARN: the account must be digits."
        )));
    }
    match resource.split_once('/') {
        Some(("distribution", id)) if account == state.account_id && !id.is_empty() => Ok(id),
        _ => Err(no_such_resource(arn)),
    }
}

/// Maps the registry's unknown distribution to the tagging API's `NoSuchResource`.
fn resource_error(call: &Call<'_>, e: StateError) -> ApiError {
    match e {
        StateError::NotFound { .. } => no_such_resource(call.query("Resource").unwrap_or("")),
        other => other.into(),
    }
}

async fn list_tags(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let id = distribution_id(state, call)?;
    let d = state
        .registry
        .distribution(id)
        .await
        .map_err(|e| resource_error(call, e))?;
    Ok(xml(StatusCode::OK, &tags_tree(&d.tags), "Tags", None, None))
}

async fn tag(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let id = distribution_id(state, call)?;
    let tags = call.decode("Tags", |t, d: &mut Diagnostics| {
        let tags = Tags::from_tree(t, "Tags", d)?;
        tags.validate("Tags", d);
        Some(tags)
    })?;
    state
        .registry
        .tag_distribution(id, tags.items)
        .await
        .map_err(|e| resource_error(call, e))?;
    Ok(no_content())
}

async fn untag(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let id = distribution_id(state, call)?;
    let keys = call.decode("TagKeys", |t, d: &mut Diagnostics| {
        TagKeys::from_tree(t, "TagKeys", d)
    })?;
    state
        .registry
        .untag_distribution(id, &keys.items)
        .await
        .map_err(|e| resource_error(call, e))?;
    Ok(no_content())
}

/// `POST /distribution?WithTags`: CreateDistribution with the distribution's first tags.
pub(super) async fn create_distribution_with_tags(
    state: &AdminState,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    let doc = call.decode(
        "DistributionConfigWithTags",
        DistributionConfigWithTags::from_tree,
    )?;
    let (entry, created) = state
        .registry
        .create_distribution_with_tags(doc.config, doc.tags.items, None, false)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(xml(
        status,
        &distribution_tree(state, &entry).await,
        "Distribution",
        Some(&entry.v.etag),
        Some(dist_location(&entry.v.id)),
    ))
}
