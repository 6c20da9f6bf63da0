//! How one control-plane resource is persisted: a small JSON envelope with the resource's
//! metadata and its configuration as the CloudFront XML the API speaks, so one codec serves the
//! wire and the disk.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The envelope written to `{kind}/{id}.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Resource id.
    pub id: String,
    /// Current version (`ETag`).
    pub etag: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Last modification time.
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    /// Distribution domain name (distributions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// Owning distribution (invalidations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_id: Option<String>,
    /// Status (invalidations: `Completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the resource was declared in the config file (re-applied at every start).
    #[serde(default)]
    pub declared: bool,
    /// The configuration, as CloudFront XML.
    pub config_xml: String,
    /// The resource's tags (distributions only), in the order they were added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::model::tags::Tag>,
}
