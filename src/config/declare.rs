//! Declarative start-up: public keys, key groups, policies (cache, origin request, response
//! headers) and distributions declared in the config file, inline (CloudFront's structure,
//! snake_case names, no Quantity/Items wrappers) or by reference to CloudFront JSON files as
//! `aws cloudfront get-distribution-config` prints them.
//!
//! Declarations are decoded and validated here, with every problem reported at once and each
//! naming its file and field path; they are applied (upserted by id) when the edge starts.

use std::path::{Path, PathBuf};

use crate::model::{
    self, CachePolicyConfig, Diagnostics, DistributionConfig, Document, KeyGroupConfig,
    OriginRequestPolicyConfig, PublicKeyConfig, ResponseHeadersPolicyConfig, Tree,
};
use crate::model::{CloudFrontOriginAccessIdentityConfig, OriginAccessControlConfig};

use super::FileConfig;
use super::key_pairs::{self, KeyPairs};

/// A decoded declaration: an optional fixed id and the configuration.
#[derive(Debug, Clone)]
pub struct Declared<C> {
    /// The id to use (a new one is generated when absent).
    pub id: Option<String>,
    /// The configuration.
    pub config: C,
}

/// A declared distribution, which may also fix its domain name.
#[derive(Debug, Clone)]
pub struct DeclaredDistribution {
    /// Id and config.
    pub d: Declared<DistributionConfig>,
    /// Fixed domain name, if any.
    pub domain_name: Option<String>,
}

/// Everything a config file declares.
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    /// Public keys.
    pub public_keys: Vec<Declared<PublicKeyConfig>>,
    /// Legacy CloudFront key pairs (trusted through `TrustedSigners`).
    pub key_pairs: KeyPairs,
    /// Key groups.
    pub key_groups: Vec<Declared<KeyGroupConfig>>,
    /// Cache policies.
    pub cache_policies: Vec<Declared<CachePolicyConfig>>,
    /// Origin request policies.
    pub origin_request_policies: Vec<Declared<OriginRequestPolicyConfig>>,
    /// Response headers policies.
    pub response_headers_policies: Vec<Declared<ResponseHeadersPolicyConfig>>,
    /// Origin access controls.
    pub origin_access_controls: Vec<Declared<OriginAccessControlConfig>>,
    /// Legacy origin access identities.
    pub origin_access_identities: Vec<Declared<CloudFrontOriginAccessIdentityConfig>>,
    /// Distributions.
    pub distributions: Vec<DeclaredDistribution>,
}

/// The problems found, each as `file: path: message`, and warnings likewise.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Errors (start-up refuses to continue).
    pub errors: Vec<String>,
    /// Warnings (accepted fields that have no effect yet, …).
    pub warnings: Vec<String>,
}

struct Ctx<'a> {
    file: &'a Path,
    base: &'a Path,
    report: Report,
}

impl Ctx<'_> {
    fn err(&mut self, at: &str, msg: impl std::fmt::Display) {
        self.report
            .errors
            .push(format!("{}: {at}: {msg}", self.file.display()));
    }

    fn absorb(&mut self, at: &str, file: &Path, d: Diagnostics) {
        for i in d.errors {
            self.report.errors.push(format!(
                "{}: {at}: {}: {}",
                file.display(),
                i.path,
                i.message
            ));
        }
        for i in d.warnings {
            self.report.warnings.push(format!(
                "{}: {at}: {}: {}",
                file.display(),
                i.path,
                i.message
            ));
        }
    }

    fn rel(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Takes an edgegate-only string key out of a declaration table.
    fn take_str(&mut self, table: &mut toml::Table, key: &str, at: &str) -> Option<String> {
        match table.remove(key) {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => {
                self.err(
                    at,
                    format!("{key} must be a string, not {}", other.type_str()),
                );
                None
            }
        }
    }

    /// The config tree of a declaration: either `config_file` (CloudFront JSON, with or without
    /// the `ETag`/wrapper object) or the table itself, written inline.
    fn tree(&mut self, mut table: toml::Table, root: &str, at: &str) -> Option<(Tree, PathBuf)> {
        if let Some(path) = self.take_str(&mut table, "config_file", at) {
            if !table.is_empty() {
                let keys: Vec<_> = table.keys().cloned().collect();
                self.err(
                    at,
                    format!(
                        "config_file cannot be combined with inline fields ({})",
                        keys.join(", ")
                    ),
                );
            }
            let full = self.rel(&path);
            let text = match std::fs::read_to_string(&full) {
                Ok(t) => t,
                Err(e) => {
                    self.err(at, format!("config_file {}: {e}", full.display()));
                    return None;
                }
            };
            let json: serde_json::Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    self.report
                        .errors
                        .push(format!("{}: not valid JSON: {e}", full.display()));
                    return None;
                }
            };
            // `aws cloudfront get-distribution-config` prints {"ETag": …, "DistributionConfig": {…}}.
            let inner = json.get(root).cloned().unwrap_or(json);
            match model::tree::from_json(&inner) {
                Ok(t) => Some((t, full)),
                Err(e) => {
                    self.report.errors.push(format!("{}: {e}", full.display()));
                    None
                }
            }
        } else {
            Some((
                model::tree::from_toml(&toml::Value::Table(table)),
                self.file.to_path_buf(),
            ))
        }
    }

    /// Decodes and validates one declaration; problems go to the report.
    fn decode<C: Document>(&mut self, table: toml::Table, at: &str) -> Option<C> {
        let (tree, src) = self.tree(table, C::ROOT, at)?;
        let mut d = Diagnostics::default();
        let cfg = C::decode(&tree, &mut d);
        if let Some(c) = &cfg {
            c.validate(&mut d);
        }
        let ok = d.errors.is_empty();
        self.absorb(at, &src, d);
        cfg.filter(|_| ok)
    }
}

/// Decodes and validates every declaration of `file` (read from `path`, relative paths taken
/// from `base`). Cross-references between declared resources are checked when they are applied.
pub fn decode(file: &FileConfig, path: &Path, base: &Path) -> (Declarations, Report) {
    let mut cx = Ctx {
        file: path,
        base,
        report: Report::default(),
    };
    let mut out = Declarations::default();

    for (i, t) in file.public_keys.iter().enumerate() {
        let at = format!("public_keys[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        if let Some(key_file) = cx.take_str(&mut t, "encoded_key_file", &at) {
            let full = cx.rel(&key_file);
            match std::fs::read_to_string(&full) {
                Ok(pem) => {
                    t.insert("encoded_key".into(), toml::Value::String(pem));
                }
                Err(e) => cx.err(&at, format!("encoded_key_file {}: {e}", full.display())),
            }
        }
        if !t.contains_key("caller_reference") {
            let name = t
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("key")
                .to_owned();
            t.insert(
                "caller_reference".into(),
                toml::Value::String(format!("edgegate-declared-{name}")),
            );
        }
        if let Some(config) = cx.decode::<PublicKeyConfig>(t, &at) {
            out.public_keys.push(Declared { id, config });
        }
    }
    for (i, t) in file.key_pairs.iter().enumerate() {
        let at = format!("key_pairs[{i}]");
        let pair = key_pairs::decode(t, base).and_then(|p| {
            let clash = file
                .public_keys
                .iter()
                .any(|k| k.get("id").and_then(|v| v.as_str()) == Some(p.id.as_str()));
            if clash {
                Err(key_pairs::KeyPairError::Duplicate(p.id))
            } else {
                out.key_pairs.push(p)
            }
        });
        if let Err(e) = pair {
            cx.err(&at, e);
        }
    }
    for (i, t) in file.key_groups.iter().enumerate() {
        let at = format!("key_groups[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        if let Some(config) = cx.decode::<KeyGroupConfig>(t, &at) {
            out.key_groups.push(Declared { id, config });
        }
    }
    for (i, t) in file.cache_policies.iter().enumerate() {
        let at = format!("cache_policies[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        if let Some(config) = cx.decode::<CachePolicyConfig>(t, &at) {
            out.cache_policies.push(Declared { id, config });
        }
    }
    for (i, t) in file.origin_request_policies.iter().enumerate() {
        let at = format!("origin_request_policies[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        if let Some(config) = cx.decode::<OriginRequestPolicyConfig>(t, &at) {
            out.origin_request_policies.push(Declared { id, config });
        }
    }
    for (i, t) in file.response_headers_policies.iter().enumerate() {
        let at = format!("response_headers_policies[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        if let Some(config) = cx.decode::<ResponseHeadersPolicyConfig>(t, &at) {
            out.response_headers_policies.push(Declared { id, config });
        }
    }
    for (i, t) in file.origin_access_controls.iter().enumerate() {
        let at = format!("origin_access_controls[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        if let Some(config) = cx.decode::<OriginAccessControlConfig>(t, &at) {
            out.origin_access_controls.push(Declared { id, config });
        }
    }
    for (i, t) in file.origin_access_identities.iter().enumerate() {
        let at = format!("origin_access_identities[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        if let Some(config) = cx.decode::<CloudFrontOriginAccessIdentityConfig>(t, &at) {
            out.origin_access_identities.push(Declared { id, config });
        }
    }
    for (i, t) in file.distributions.iter().enumerate() {
        let at = format!("distributions[{i}]");
        let mut t = t.clone();
        let id = cx.take_str(&mut t, "id", &at);
        let domain_name = cx.take_str(&mut t, "domain_name", &at);
        if let Some(id) = &id
            && (id.len() < 2 || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            cx.err(
                &at,
                format!(
                    "id {id:?} must be letters and digits (CloudFront ids look like E2QWRUHEXAMPLE)"
                ),
            );
        }
        if let Some(config) = cx.decode::<DistributionConfig>(t, &at) {
            out.distributions.push(DeclaredDistribution {
                d: Declared { id, config },
                domain_name,
            });
        }
    }
    (out, cx.report)
}
