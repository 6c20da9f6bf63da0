//! `Resource` matching for custom policies (signed-urls.md §6).
//!
//! The policy URL is split into four sections, `[protocol]://[domain]/[path]\?[query]`, and
//! `*` (zero or more characters) and `?` (exactly one) match only within their section. The
//! documented exceptions are implemented: a trailing `*` in the path also allows any query; a
//! trailing `*` in a domain with no path allows any path and query; a resource that starts with
//! `*` and has no `://` has an implicit `*` protocol; `"*"` alone matches everything.
//!
//! The path/query separator in the policy is `\?` when present (the older spelling); otherwise
//! the first bare `?` after the domain (the newer spelling). Any other `?` is the one-character
//! wildcard. Matching is over the raw request URL, byte for byte and case-sensitive (§13
//! choices 13, 14).
//!
//! Cost: a glob match is O(pattern × text) in the worst case; patterns come from a policy whose
//! signature has already been verified (so only a key holder can send them) and are capped at
//! the policy size limit.

/// The request URL, already stripped of the signing query parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestUrl<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    /// Remaining query without the `?`; `None` when nothing remains.
    pub(crate) query: Option<&'a str>,
}

/// Whether a policy `Resource` value matches the request URL.
pub(crate) fn matches(pattern: &str, url: &RequestUrl<'_>) -> bool {
    if pattern == "*" {
        return true;
    }
    let (proto, rest) = match pattern.find("://") {
        Some(i) => (&pattern[..i], &pattern[i + 3..]),
        None if pattern.starts_with('*') => ("*", pattern),
        None => return false,
    };
    let (domain, remainder) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (path, query): (&str, Option<&str>) = if remainder.is_empty() {
        if domain.ends_with('*') {
            ("*", Some("*"))
        } else {
            ("/", None)
        }
    } else if let Some(i) = remainder.find("\\?") {
        (&remainder[..i], Some(&remainder[i + 2..]))
    } else if let Some(i) = remainder.find('?') {
        (&remainder[..i], Some(&remainder[i + 1..]))
    } else if remainder.ends_with('*') {
        (remainder, Some("*"))
    } else {
        (remainder, None)
    };
    // A trailing `*` in the path with an explicit query section keeps that query section.
    if !glob(proto, url.scheme) || !glob(domain, url.host) || !glob(path, url.path) {
        return false;
    }
    match (query, url.query) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(q), actual) => glob(q, actual.unwrap_or("")),
    }
}

/// Glob match with `*` and `?` over characters; everything else is literal.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) && p[pi] != '*' {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> RequestUrl<'_> {
        let (scheme, rest) = s.split_once("://").unwrap();
        let slash = rest.find('/').unwrap();
        let (host, pq) = rest.split_at(slash);
        let (path, query) = match pq.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (pq, None),
        };
        RequestUrl {
            scheme,
            host,
            path,
            query,
        }
    }

    fn m(pattern: &str, u: &str) -> bool {
        matches(pattern, &url(u))
    }

    #[test]
    fn glob_basics() {
        assert!(glob("hello*world", "helloworld"));
        assert!(glob("hello*world", "hello-big-world"));
        assert!(glob("h?llo", "hello"));
        assert!(!glob("h?llo", "hllo"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
        assert!(glob("ü?", "üx"));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
    }

    #[test]
    fn documented_examples() {
        let p = "https://www.example.com/hello*world";
        assert!(m(p, "https://www.example.com/helloworld"));
        assert!(m(p, "https://www.example.com/hello-world"));
        assert!(!m(p, "https://www.example.net/hello?world"));
        let g = "https://d111111abcdef8.cloudfront.net/*game_download.zip*";
        assert!(m(
            g,
            "https://d111111abcdef8.cloudfront.net/game_download.zip"
        ));
        assert!(m(
            g,
            "https://d111111abcdef8.cloudfront.net/example_game_download.zip?license=yes"
        ));
        assert!(m(
            g,
            "https://d111111abcdef8.cloudfront.net/test_game_download.zip?license=temp"
        ));
        assert!(m("*", "http://anything/at/all?x=1"));
    }

    #[test]
    fn sections_bound_wildcards() {
        // `*` in the domain does not reach into the path.
        assert!(!m("https://*.example.com/a", "https://x.example.com/b/a"));
        assert!(m("https://*.example.com/a", "https://x.y.example.com/a"));
        // `*` in the path does not reach into the query unless it is trailing.
        assert!(!m("https://h/a*b", "https://h/a?x=b"));
        assert!(m("https://h/a*b", "https://h/a/x/b"));
        // No query section: a query is refused.
        assert!(!m("https://h/a", "https://h/a?x=1"));
        assert!(m("https://h/a", "https://h/a"));
        // Protocol section.
        assert!(m("*://h/a", "http://h/a"));
        assert!(m("*://h/a", "https://h/a"));
        assert!(!m("http://h/a", "https://h/a"));
        assert!(m("http*://h/a", "https://h/a"));
    }

    #[test]
    fn implicit_wildcards() {
        // Trailing `*` in the path implies `\?*`.
        assert!(m("http://example.com/hello*", "http://example.com/hello"));
        assert!(m(
            "http://example.com/hello*",
            "http://example.com/hello/x?y=1"
        ));
        // Trailing `*` in the domain implies `/*\?*`.
        assert!(m("http://example.com*", "http://example.com/a/b?c=d"));
        assert!(m("http://example.com*", "http://example.com.evil/x"));
        // No protocol, leading `*`.
        assert!(m("*example.com/*", "https://www.example.com/x"));
        assert!(m("*example.com", "http://example.com/"));
        assert!(!m("*example.com", "http://example.com/x"));
        assert!(!m("example.com/*", "http://example.com/x"));
    }

    #[test]
    fn query_separator_spellings() {
        let old = "https://h/images/horizon.jpg\\?size=large&license=yes";
        let new = "https://h/images/horizon.jpg?size=large&license=yes";
        for p in [old, new] {
            assert!(
                m(p, "https://h/images/horizon.jpg?size=large&license=yes"),
                "{p}"
            );
            assert!(
                !m(p, "https://h/images/horizon.jpg?size=small&license=yes"),
                "{p}"
            );
            assert!(!m(p, "https://h/images/horizon.jpg"), "{p}");
        }
        // With `\?` present, a bare `?` in the path is a one-character wildcard.
        assert!(m("https://h/a?c\\?*", "https://h/abc?x"));
        assert!(m("https://h/a?c\\?*", "https://h/abc"));
        // Explicit query wildcard also accepts no query.
        assert!(m("https://h/a\\?*", "https://h/a"));
        // Case-sensitive, raw bytes.
        assert!(!m("https://h/A", "https://h/a"));
        assert!(!m("https://h/a b", "https://h/a%20b"));
    }
}
