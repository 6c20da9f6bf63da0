//! The stored function: its name and ARN, the DEVELOPMENT stage (what Create and Update write)
//! and the LIVE stage (what Publish copies from DEVELOPMENT, and what cache behaviors run).
//!
//! Chosen where AWS is silent (functions.md §12): one ETag per DEVELOPMENT revision, and LIVE
//! carries the ETag it was published from; `Describe`/`Get` without `Stage` read DEVELOPMENT.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::JsRuntime;
use super::engine::Script;

/// A function's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// What Create/Update write and TestFunction tests by default.
    Development,
    /// What Publish made live; the only stage cache behaviors run.
    Live,
}

impl Stage {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Development => "DEVELOPMENT",
            Stage::Live => "LIVE",
        }
    }

    /// Parses the API's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "DEVELOPMENT" => Some(Stage::Development),
            "LIVE" => Some(Stage::Live),
            _ => None,
        }
    }
}

/// One stage of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageVersion {
    /// Its ETag.
    pub etag: String,
    /// `FunctionConfig.Runtime`.
    pub runtime: JsRuntime,
    /// `FunctionConfig.Comment`.
    pub comment: String,
    /// `FunctionConfig.KeyValueStoreAssociations` ARNs (at most one).
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// The code (UTF-8, at most 10 KB).
    pub code: String,
    /// When this stage last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
}

/// A function as stored (`functions/{name}.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionEntry {
    /// `Name`.
    pub name: String,
    /// `arn:aws:cloudfront::<account>:function/<name>`.
    pub arn: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// The DEVELOPMENT stage.
    pub development: StageVersion,
    /// The LIVE stage, once published.
    #[serde(default)]
    pub live: Option<StageVersion>,
}

impl FunctionEntry {
    /// A stage, if it exists.
    pub fn stage(&self, stage: Stage) -> Option<&StageVersion> {
        match stage {
            Stage::Development => Some(&self.development),
            Stage::Live => self.live.as_ref(),
        }
    }

    /// The runnable script of a stage, without its key value store: the callers that know the
    /// stores attach it ([`super::kvs::binding`]).
    pub fn script(&self, stage: Stage) -> Option<Script> {
        let v = self.stage(stage)?;
        Some(Script {
            name: Arc::from(self.name.as_str()),
            arn: Arc::from(self.arn.as_str()),
            etag: Arc::from(v.etag.as_str()),
            runtime: v.runtime,
            code: Arc::from(v.code.as_str()),
            kvs: None,
        })
    }
}

/// A function's ARN.
pub fn arn(account_id: &str, name: &str) -> String {
    format!("arn:aws:cloudfront::{account_id}:function/{name}")
}

/// Whether `name` is a valid function name (`[a-zA-Z0-9-_]{1,64}`).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
