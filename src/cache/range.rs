//! Single byte ranges served from a whole cached object (caching.md §10; RFC 9110 §14.1.2).
//!
//! Supported: `bytes=N-M`, `bytes=N-` and `bytes=-N` (suffix). A last position beyond the end is
//! clamped to it. Anything else — several ranges, another unit, bad syntax, `M < N` — is
//! answered with the whole object, as CloudFront answers invalid multi-range requests with a 200.
//! A range that starts at or beyond the end of the object (or a zero-length suffix) is
//! unsatisfiable (416).

use http::HeaderValue;

/// What to serve for a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// The whole object with 200 (no usable single range).
    Full,
    /// Bytes `start..=end` with 206.
    Partial(u64, u64),
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

/// A byte position: digits only; values too large for u64 saturate (they are past any end).
fn position(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

/// Interprets `range` against an object of `len` bytes.
pub fn parse(range: &HeaderValue, len: u64) -> RangeOutcome {
    let Ok(text) = range.to_str() else {
        return RangeOutcome::Full;
    };
    let text = text.trim();
    let Some((unit, set)) = text.split_once('=') else {
        return RangeOutcome::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Full;
    }
    // Exactly one non-empty range spec (RFC 9110 allows empty list elements).
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeOutcome::Full;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeOutcome::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix: the last N bytes.
        let Some(n) = position(last) else {
            return RangeOutcome::Full;
        };
        if n == 0 || len == 0 {
            return RangeOutcome::Unsatisfiable;
        }
        return RangeOutcome::Partial(len.saturating_sub(n), len - 1);
    }
    let Some(start) = position(first) else {
        return RangeOutcome::Full;
    };
    let end = if last.is_empty() {
        None
    } else {
        match position(last) {
            Some(end) if end >= start => Some(end),
            _ => return RangeOutcome::Full,
        }
    };
    if start >= len {
        return RangeOutcome::Unsatisfiable;
    }
    let end = end.map_or(len - 1, |e| e.min(len - 1));
    RangeOutcome::Partial(start, end)
}

/// The shape of a `Range` header, judged before the object's length is known: what a miss
/// does with it (caching.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeForm {
    /// One well-formed byte range: `N-M`, `N-` or `-N`.
    Single,
    /// Several well-formed byte ranges, ascending and not overlapping (a suffix range last).
    Multiple,
    /// Anything else: CloudFront answers it with the whole object (200).
    Invalid,
}

/// Classifies a `Range` header.
pub fn form(range: &HeaderValue) -> RangeForm {
    let Some(specs) = range
        .to_str()
        .ok()
        .and_then(|t| t.trim().split_once('='))
        .filter(|(unit, _)| unit.trim().eq_ignore_ascii_case("bytes"))
        .map(|(_, set)| set)
    else {
        return RangeForm::Invalid;
    };
    let mut count = 0usize;
    // The first position the next range may start at; None after a suffix or open range.
    let mut next_start = Some(0u64);
    for spec in specs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((first, last)) = spec.split_once('-') else {
            return RangeForm::Invalid;
        };
        let (first, last) = (first.trim(), last.trim());
        let Some(min) = next_start else {
            // Nothing may follow a suffix or open-ended range.
            return RangeForm::Invalid;
        };
        if first.is_empty() {
            if position(last).is_none() {
                return RangeForm::Invalid;
            }
            next_start = None;
        } else {
            let Some(start) = position(first).filter(|&s| s >= min) else {
                return RangeForm::Invalid;
            };
            next_start = if last.is_empty() {
                None
            } else {
                match position(last) {
                    Some(end) if end >= start => end.checked_add(1),
                    _ => return RangeForm::Invalid,
                }
            };
        }
        count += 1;
    }
    match count {
        0 => RangeForm::Invalid,
        1 => RangeForm::Single,
        _ => RangeForm::Multiple,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeOutcome::*;

    fn p(s: &str, len: u64) -> RangeOutcome {
        parse(&HeaderValue::from_str(s).unwrap(), len)
    }

    #[test]
    fn closed_ranges() {
        assert_eq!(p("bytes=0-99", 1000), Partial(0, 99));
        assert_eq!(p("bytes=10-10", 1000), Partial(10, 10));
        assert_eq!(p("bytes=900-5000", 1000), Partial(900, 999));
        assert_eq!(p("Bytes = 1-2", 1000), Partial(1, 2));
        assert_eq!(p("bytes= 1 - 2 ,", 1000), Partial(1, 2));
        assert_eq!(p("bytes=0-99999999999999999999999", 10), Partial(0, 9));
    }

    #[test]
    fn open_and_suffix_ranges() {
        assert_eq!(p("bytes=500-", 1000), Partial(500, 999));
        assert_eq!(p("bytes=-100", 1000), Partial(900, 999));
        assert_eq!(p("bytes=-5000", 1000), Partial(0, 999));
        assert_eq!(p("bytes=0-", 1), Partial(0, 0));
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(p("bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(p("bytes=99999999999999999999999-", 1000), Unsatisfiable);
        assert_eq!(p("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Unsatisfiable);
        assert_eq!(p("bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn forms() {
        let f = |s: &str| form(&HeaderValue::from_str(s).unwrap());
        for s in ["bytes=0-99", "bytes=5-", "bytes=-5", "Bytes = 1-2 ,"] {
            assert_eq!(f(s), RangeForm::Single, "{s}");
        }
        for s in ["bytes=0-1,5-6", "bytes=0-1, 2-3, -4", "bytes=0-9,10-"] {
            assert_eq!(f(s), RangeForm::Multiple, "{s}");
        }
        for s in [
            "bytes=5-6,0-1",
            "bytes=0-5,5-9",
            "bytes=-5,0-1",
            "bytes=0-,5-6",
            "bytes=5-1",
            "bytes=",
            "bytes=x-1",
            "items=0-1",
            "0-1",
        ] {
            assert_eq!(f(s), RangeForm::Invalid, "{s}");
        }
    }

    #[test]
    fn invalid_or_multi_gives_full() {
        for s in [
            "bytes=0-1,5-6",
            "bytes=5-1",
            "bytes=abc",
            "bytes=1-x",
            "bytes=-",
            "bytes=--1",
            "items=0-1",
            "bytes",
            "bytes=",
            "bytes=+1-2",
            "0-1",
        ] {
            assert_eq!(p(s, 1000), Full, "{s}");
        }
        let bin = HeaderValue::from_bytes(b"bytes=0-\xff").unwrap();
        assert_eq!(parse(&bin, 10), Full);
    }
}
