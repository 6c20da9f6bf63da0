//! Diagnostics: the errors and warnings that decoding and validation produce. Each [`Issue`]
//! names the member it is about with a dotted path (`DistributionConfig.Origins.Items[0].Id`),
//! says what is wrong in words a person can act on, and carries the CloudFront error code the
//! control-plane API answers with.

use std::fmt;

/// The most issues kept of each kind; past this a single note says that more were dropped, so
/// a hostile document cannot make the list grow without bound.
pub const MAX_ISSUES: usize = 1000;

/// One finding about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where: the dotted path of the member, as the document spelled it
    /// (e.g. `DistributionConfig.Origins.Items[0].DomainName`, or `origins[0].domain_name` for
    /// TOML).
    pub path: String,
    /// CloudFront's error code for this kind of problem (`InvalidArgument`,
    /// `InconsistentQuantities`, `NoSuchOrigin`, …). Warnings use `NotImplemented`.
    pub code: &'static str,
    /// What is wrong and, where it helps, what would be accepted.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{} ({})", self.message, self.code)
        } else {
            write!(f, "{}: {} ({})", self.path, self.message, self.code)
        }
    }
}

/// Errors (the document is rejected) and warnings (accepted, but something has no effect).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Problems that make the document unacceptable.
    pub errors: Vec<Issue>,
    /// Accepted settings that edgegate does not act on.
    pub warnings: Vec<Issue>,
}

impl Diagnostics {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error.
    pub fn error(
        &mut self,
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        push_capped(&mut self.errors, path.into(), code, message.into());
    }

    /// Records a warning.
    pub fn warn(
        &mut self,
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        push_capped(&mut self.warnings, path.into(), code, message.into());
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The first error, which is what a single-error API answer reports.
    pub fn first_error(&self) -> Option<&Issue> {
        self.errors.first()
    }
}

fn push_capped(list: &mut Vec<Issue>, path: String, code: &'static str, message: String) {
    if list.len() < MAX_ISSUES {
        list.push(Issue {
            path,
            code,
            message,
        });
    } else if list.len() == MAX_ISSUES {
        list.push(Issue {
            path: String::new(),
            code,
            message: format!("more than {MAX_ISSUES} issues; the rest are not listed"),
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_cap() {
        let mut d = Diagnostics::new();
        d.error("A.B", "InvalidArgument", "bad");
        d.warn("A.C", "NotImplemented", "ignored");
        assert_eq!(
            d.to_string(),
            "error: A.B: bad (InvalidArgument)\nwarning: A.C: ignored (NotImplemented)\n"
        );
        for _ in 0..(MAX_ISSUES + 10) {
            d.error("x", "InvalidArgument", "again");
        }
        assert_eq!(d.errors.len(), MAX_ISSUES + 1);
        assert!(d.errors[MAX_ISSUES].message.contains("not listed"));
        assert_eq!(d.first_error().map(|i| i.path.as_str()), Some("A.B"));
    }
}
