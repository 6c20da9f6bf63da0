//! Invalidation batches (caching.md §14): the `InvalidationBatch` document and its path
//! rules.

use super::diag::Diagnostics;
use super::reader::{INVALID, MapBuilder, MapReader, leaf_string, leaves};
use super::tree::Tree;

/// Longest invalidation path, in characters.
pub const MAX_PATH_LEN: usize = 4000;
/// Most paths in one batch (CloudFront's in-progress limit for file paths).
pub const MAX_PATHS_PER_BATCH: usize = 3000;

/// A `CreateInvalidation` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationBatch {
    /// Paths to invalidate, each starting with `/`; `*` is a wildcard only at the end.
    pub paths: Vec<String>,
    /// Idempotency token.
    pub caller_reference: String,
}

impl InvalidationBatch {
    /// Decodes an `InvalidationBatch` tree. `None` when any error was recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = (|| {
            let mut r = MapReader::new(tree, "InvalidationBatch", d)?;
            let paths = r.list_req("Paths", d).map(|l| {
                let v = l
                    .items
                    .iter()
                    .filter_map(|(p, t)| leaf_string(t, p, d))
                    .collect();
                l.rest.finish(d);
                v
            });
            let caller_reference = r.string_req("CallerReference", d);
            r.finish(d);
            Some(Self {
                paths: paths?,
                caller_reference: caller_reference?,
            })
        })();
        if d.errors.len() > before { None } else { out }
    }

    /// The batch in CloudFront's shape (root element `InvalidationBatch`).
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .wrapped("Paths", leaves(&self.paths))
            .leaf("CallerReference", &self.caller_reference)
            .build()
    }

    /// Checks the path rules: at least one path, each starting with `/`, at most
    /// [`MAX_PATH_LEN`] characters, no control characters; a non-empty caller reference.
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "InvalidationBatch";
        if self.caller_reference.is_empty() {
            d.error(
                format!("{root}.CallerReference"),
                INVALID,
                "CallerReference must not be empty",
            );
        }
        if self.paths.is_empty() {
            d.error(
                format!("{root}.Paths"),
                INVALID,
                "an invalidation needs at least one path",
            );
        }
        if self.paths.len() > MAX_PATHS_PER_BATCH {
            d.error(
                format!("{root}.Paths"),
                "BatchTooLarge",
                format!(
                    "{} paths; at most {MAX_PATHS_PER_BATCH} can be invalidated at once",
                    self.paths.len()
                ),
            );
        }
        for (i, p) in self.paths.iter().enumerate() {
            let pp = format!("{root}.Paths.Items[{i}]");
            if !p.starts_with('/') {
                d.error(&pp, INVALID, format!("{p:?} must begin with a slash (/)"));
            }
            if p.chars().count() > MAX_PATH_LEN {
                d.error(
                    &pp,
                    INVALID,
                    format!("the path is longer than {MAX_PATH_LEN} characters"),
                );
            }
            if p.chars().any(char::is_control) {
                d.error(
                    &pp,
                    INVALID,
                    "the path contains control characters; URL-encode them",
                );
            }
        }
    }

    /// How many paths end in the `*` wildcard (they count against a separate in-progress
    /// limit of 15).
    pub fn wildcard_count(&self) -> usize {
        self.paths.iter().filter(|p| p.ends_with('*')).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::from_xml;

    const XML: &[u8] = br#"<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Paths><Quantity>2</Quantity><Items><Path>/index.html</Path><Path>/images/*</Path></Items></Paths><CallerReference>20240101T000000</CallerReference></InvalidationBatch>"#;

    #[test]
    fn round_trip_of_the_reference_example() {
        let (root, t) = from_xml(XML).unwrap();
        assert_eq!(root, "InvalidationBatch");
        let mut d = Diagnostics::new();
        let b = InvalidationBatch::from_tree(&t, &mut d).unwrap();
        assert_eq!(b.paths, ["/index.html", "/images/*"]);
        assert_eq!(b.wildcard_count(), 1);
        b.validate(&mut d);
        assert!(d.errors.is_empty());
        let xml = b.to_tree().to_xml("InvalidationBatch");
        assert!(xml.contains("<Paths><Quantity>2</Quantity><Items><Path>/index.html</Path><Path>/images/*</Path></Items></Paths>"));
        let (_, t2) = from_xml(xml.as_bytes()).unwrap();
        assert_eq!(InvalidationBatch::from_tree(&t2, &mut d), Some(b));
    }

    #[test]
    fn path_rules() {
        let b = InvalidationBatch {
            paths: vec![
                "no-slash".into(),
                format!("/{}", "a".repeat(MAX_PATH_LEN)),
                "/a\u{1}".into(),
            ],
            caller_reference: String::new(),
        };
        let mut d = Diagnostics::new();
        b.validate(&mut d);
        let got: Vec<_> = d.errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("InvalidationBatch.CallerReference", "InvalidArgument"),
                ("InvalidationBatch.Paths.Items[0]", "InvalidArgument"),
                ("InvalidationBatch.Paths.Items[1]", "InvalidArgument"),
                ("InvalidationBatch.Paths.Items[2]", "InvalidArgument"),
            ]
        );
        let mut d = Diagnostics::new();
        InvalidationBatch {
            paths: vec![],
            caller_reference: "r".into(),
        }
        .validate(&mut d);
        assert!(d.errors[0].message.contains("at least one path"));
        let mut d = Diagnostics::new();
        InvalidationBatch {
            paths: vec!["/a".into(); MAX_PATHS_PER_BATCH + 1],
            caller_reference: "r".into(),
        }
        .validate(&mut d);
        assert_eq!(d.errors[0].code, "BatchTooLarge");
    }

    #[test]
    fn inconsistent_quantity_and_missing_members() {
        let (_, t) = from_xml(b"<InvalidationBatch><Paths><Quantity>3</Quantity><Items><Path>/a</Path></Items></Paths></InvalidationBatch>").unwrap();
        let mut d = Diagnostics::new();
        assert!(InvalidationBatch::from_tree(&t, &mut d).is_none());
        let got: Vec<_> = d.errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("InvalidationBatch.Paths.Quantity", "InconsistentQuantities"),
                ("InvalidationBatch.CallerReference", "MalformedInput"),
            ]
        );
    }
}
