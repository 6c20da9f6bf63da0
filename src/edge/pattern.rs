//! Cache-behavior path patterns and the path normalisation CloudFront applies before matching.
//!
//! CloudFront compares the *normalised* request path (RFC 3986: dot segments removed, `//`
//! collapsed, percent-encoding of unreserved characters decoded) with each behavior's
//! `PathPattern` in order; `*` matches any run of characters including `/`, `?` exactly one, and
//! matching is case-sensitive. The raw path is what goes to the origin.
//!
//! Patterns are compiled once into literal segments split at `*`; matching anchors the first and
//! last segments and finds the middle ones leftmost-first, which is exact for `*`-globs and bounded
//! by `path length × pattern length` (≤ 8,192 × 255) even for adversarial inputs.

use std::borrow::Cow;

/// A compiled `PathPattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    /// Literal pieces between `*`s; `?` inside a piece matches any one character.
    segments: Vec<Vec<char>>,
    /// The same pieces as bytes when the pattern is ASCII, for matching ASCII paths (nearly all
    /// of them) without decoding them into characters.
    ascii_segments: Option<Vec<Vec<u8>>>,
    leading_star: bool,
    trailing_star: bool,
}

impl PathPattern {
    /// Compiles a pattern; a missing leading `/` is added ("the same with or without").
    pub fn new(pattern: &str) -> Self {
        let source = if pattern.starts_with('/') || pattern.starts_with('*') {
            pattern.to_owned()
        } else {
            format!("/{pattern}")
        };
        let leading_star = source.starts_with('*');
        let trailing_star = source.ends_with('*');
        let pieces = || source.split('*').filter(|s| !s.is_empty());
        let segments = pieces().map(|s| s.chars().collect()).collect();
        let ascii_segments = source
            .is_ascii()
            .then(|| pieces().map(|s| s.as_bytes().to_vec()).collect());
        Self {
            source,
            segments,
            ascii_segments,
            leading_star,
            trailing_star,
        }
    }

    /// The pattern as configured (with a leading `/`).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the (normalised) path matches.
    pub fn matches(&self, path: &str) -> bool {
        match &self.ascii_segments {
            Some(segs) if path.is_ascii() => self.glob(path.as_bytes(), segs, b'?'),
            _ => {
                let text: Vec<char> = path.chars().collect();
                self.glob(&text, &self.segments, '?')
            }
        }
    }

    /// The match over characters (or bytes, for ASCII): `segs` are the literal pieces, in which
    /// `any` matches one unit.
    fn glob<T: Copy + PartialEq>(&self, text: &[T], segs: &[Vec<T>], any: T) -> bool {
        let mut segs = segs;
        if segs.is_empty() {
            // Only stars (or empty): `*` matches anything, an empty pattern only "".
            return self.leading_star || text.is_empty();
        }
        let mut pos = 0;
        if !self.leading_star {
            let first = &segs[0];
            if !piece_at(text, 0, first, any) {
                return false;
            }
            pos = first.len();
            segs = &segs[1..];
            if segs.is_empty() {
                return if self.trailing_star {
                    true
                } else {
                    pos == text.len()
                };
            }
        }
        let (middle, last) = if self.trailing_star {
            (segs, None)
        } else {
            let (last, middle) = segs.split_last().unwrap_or((&segs[0], &[]));
            (middle, Some(last))
        };
        for seg in middle {
            match find(text, pos, seg, any) {
                Some(at) => pos = at + seg.len(),
                None => return false,
            }
        }
        match last {
            None => true,
            Some(last) => {
                text.len() >= pos + last.len() && piece_at(text, text.len() - last.len(), last, any)
            }
        }
    }
}

fn piece_at<T: Copy + PartialEq>(text: &[T], at: usize, piece: &[T], any: T) -> bool {
    text.len() >= at + piece.len()
        && piece
            .iter()
            .zip(&text[at..])
            .all(|(p, t)| *p == any || p == t)
}

fn find<T: Copy + PartialEq>(text: &[T], from: usize, piece: &[T], any: T) -> Option<usize> {
    if text.len() < piece.len() {
        return None;
    }
    (from..=text.len() - piece.len()).find(|&i| piece_at(text, i, piece, any))
}

/// Normalises a raw request path for behavior matching: percent-encoded unreserved characters
/// are decoded, other escapes upper-cased, empty segments (`//`) dropped, and `.`/`..` segments
/// resolved (never above the root). The result always starts with `/`. A path that is already
/// normal (the usual case) is returned as it is, without a copy.
pub fn normalize(raw: &str) -> Cow<'_, str> {
    if is_normal(raw) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(normalize_slow(raw))
    }
}

/// Whether [`normalize`] would return `raw` unchanged: it starts with `/` and has no escape,
/// no empty segment and no `.` or `..` segment.
fn is_normal(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix('/') else {
        return false;
    };
    if memchr::memchr(b'%', rest.as_bytes()).is_some() {
        return false;
    }
    // The last segment may be empty (a trailing `/` is kept as it is); no other may.
    let mut segments = rest.split('/');
    let last = segments.next_back();
    segments.all(|s| !matches!(s, "" | "." | "..")) && !matches!(last, Some("." | ".."))
}

fn normalize_slow(raw: &str) -> String {
    let decoded = decode_unreserved(raw);
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut path = String::with_capacity(decoded.len() + 1);
    for s in &out {
        path.push('/');
        path.push_str(s);
    }
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    if path.is_empty() || (trailing && !out.is_empty()) {
        path.push('/');
    }
    path
}

fn decode_unreserved(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let v = (h * 16 + l) as u8;
                if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                    out.push(v as char);
                } else {
                    out.push('%');
                    out.push(b[i + 1].to_ascii_uppercase() as char);
                    out.push(b[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // Copy one UTF-8 character (the path is a &str, so boundaries are valid).
        let ch_len = raw[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&raw[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        PathPattern::new(p).matches(path)
    }

    #[test]
    fn cloudfront_examples() {
        assert!(m("images/*.jpg", "/images/a/b/c.jpg"));
        assert!(m("/a*.jpg", "/abra/cadabra/magic.jpg"));
        assert!(!m("*.jpg", "/LOGO.JPG"));
        assert!(m("*.jpg", "/logo.jpg"));
        assert!(m("/images/?.png", "/images/a.png"));
        assert!(!m("/images/?.png", "/images/ab.png"));
        assert!(m("*", "/anything/at/all"));
        assert!(m("/api/*", "/api/"));
        assert!(!m("/api/*", "/api"));
        assert!(m("/exact.html", "/exact.html"));
        assert!(!m("/exact.html", "/exact.html2"));
        assert!(m("/a*b*c", "/axxbyyc"));
        assert!(!m("/a*b*c", "/axxbyy"));
        assert!(m("/a*b*c*", "/abc"));
        assert!(m("*b", "/ab"));
        assert!(!m("/ab*ba", "/aba"));
    }

    #[test]
    fn adversarial_is_bounded() {
        let pat = format!("/{}b", "*a".repeat(100));
        let path = format!("/{}", "a".repeat(8000));
        assert!(!m(&pat, &path));
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize("/a/b/.."), "/a/");
        assert_eq!(normalize("//a///b"), "/a/b");
        assert_eq!(normalize("/a/./b/../c"), "/a/c");
        assert_eq!(normalize("/../../etc"), "/etc");
        assert_eq!(normalize("/%61%2fb%7e"), "/a%2Fb~");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("/%"), "/%");
        assert_eq!(normalize("/%zz/é"), "/%zz/é");
        assert!(m("/a*", &normalize("/a/b/..")));
        assert!(!m("/a/b*", &normalize("/a/b/..")));
    }

    #[test]
    fn the_fast_path_agrees_with_full_normalisation() {
        // Every string of up to six characters over the characters that matter to it.
        let alphabet = ['/', '.', 'a', '%', '2', 'e'];
        let mut strings = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..6 {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(last.iter().cloned());
        }
        let mut borrowed = 0;
        for s in &strings {
            let fast = normalize(s);
            borrowed += usize::from(matches!(fast, Cow::Borrowed(_)));
            assert_eq!(fast, normalize_slow(s), "path {s:?}");
        }
        assert!(borrowed > 1000, "the fast path was taken {borrowed} times");
    }

    #[test]
    fn ascii_and_character_matching_agree() {
        for (pat, path) in [
            ("/images/?.png", "/images/a.png"),
            ("/images/?.png", "/images/é.png"),
            ("/é/*", "/é/x"),
            ("/é/*", "/e/x"),
            ("*.jpg", "/a/b.jpg"),
            ("/a?c*", "/abc"),
            ("/a?c*", "/aéc"),
        ] {
            let p = PathPattern::new(pat);
            let chars: Vec<char> = path.chars().collect();
            assert_eq!(
                p.matches(path),
                p.glob(&chars, &p.segments, '?'),
                "{pat} against {path}"
            );
        }
        // `?` is one character, not one byte, in a non-ASCII path.
        assert!(m("/images/?.png", "/images/é.png"));
    }
}
