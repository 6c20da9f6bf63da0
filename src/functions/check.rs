//! What `CreateFunction` and `UpdateFunction` check before storing code, and the source
//! preparation the engine applies before compiling it.
//!
//! - size: at most [`MAX_CODE_BYTES`] (413 `FunctionSizeLimitExceeded`), UTF-8;
//! - `cloudfront-js-1.0`: no `const`, `let`, `async`, `await`, `import` or `export`
//!   (the 1.0 runtime does not have them), each refused with its line;
//! - both runtimes: the code must compile and define `handler` (checked by loading it, with
//!   the compute budget, in a scratch runtime: see [`super::engine::validate`]).
//!
//! `import x from 'm'` (2.0) is rewritten to `var x = require('m')` on the same line, so the
//! function runs as a plain script with the runtime's modules.

use super::{JsRuntime, MAX_CODE_BYTES};

/// Why code is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Longer than CloudFront's limit.
    #[error("The function code is {0} bytes; the maximum is {MAX_CODE_BYTES} bytes")]
    TooLarge(usize),
    /// Not UTF-8 text.
    #[error("The function code is not valid UTF-8")]
    NotUtf8,
    /// Empty.
    #[error("The function code is empty")]
    Empty,
    /// A feature the runtime does not have.
    #[error("Line {line}: {feature} is not supported in {runtime}")]
    Unsupported {
        /// 1-based line.
        line: usize,
        /// What was used.
        feature: String,
        /// The runtime's name.
        runtime: &'static str,
    },
    /// An `import` the runtime cannot resolve or that is not of a supported form.
    #[error("Line {line}: {message}")]
    Import {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Str,
    Punct(u8),
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    line: usize,
}

/// Whether a `/` after `prev` starts a regular expression (rather than dividing).
fn regex_allowed(prev: Option<&Token>, src: &str) -> bool {
    match prev {
        None => true,
        Some(t) => match t.kind {
            Kind::Punct(c) => !matches!(c, b')' | b']' | b'}'),
            Kind::Ident => matches!(
                &src[t.start..t.end],
                "return"
                    | "typeof"
                    | "instanceof"
                    | "in"
                    | "of"
                    | "new"
                    | "delete"
                    | "void"
                    | "throw"
                    | "case"
                    | "do"
                    | "else"
                    | "yield"
                    | "await"
            ),
            _ => false,
        },
    }
}

/// A rough JavaScript tokenizer: enough to find identifiers outside strings, comments,
/// template literals and regular expressions.
fn tokens(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // Template literal nesting: brace depth at which each open `${` returns to the template.
    let mut templates: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i = (i + 2).min(b.len());
            }
            b'/' if regex_allowed(out.last(), src) => {
                i += 1;
                let mut class = false;
                while i < b.len() && b[i] != b'\n' {
                    match b[i] {
                        b'\\' => i += 1,
                        b'[' => class = true,
                        b']' => class = false,
                        b'/' if !class => break,
                        _ => {}
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                out.push(Token {
                    kind: Kind::Other,
                    start,
                    end: i,
                    line,
                });
            }
            b'"' | b'\'' => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                out.push(Token {
                    kind: Kind::Str,
                    start,
                    end: i,
                    line,
                });
            }
            b'`' => {
                i = template(b, i + 1, &mut line, &mut templates, depth);
                out.push(Token {
                    kind: Kind::Str,
                    start,
                    end: i,
                    line,
                });
            }
            b'}' if templates.last() == Some(&depth) => {
                templates.pop();
                i = template(b, i + 1, &mut line, &mut templates, depth);
                out.push(Token {
                    kind: Kind::Str,
                    start,
                    end: i,
                    line,
                });
            }
            c if c == b'_' || c == b'$' || c.is_ascii_alphabetic() || c >= 0x80 => {
                while i < b.len()
                    && (b[i] == b'_'
                        || b[i] == b'$'
                        || b[i].is_ascii_alphanumeric()
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Token {
                    kind: Kind::Ident,
                    start,
                    end: i,
                    line,
                });
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                out.push(Token {
                    kind: Kind::Other,
                    start,
                    end: i,
                    line,
                });
            }
            _ => {
                if c == b'{' {
                    depth += 1;
                } else if c == b'}' {
                    depth = depth.saturating_sub(1);
                }
                i += 1;
                out.push(Token {
                    kind: Kind::Punct(c),
                    start,
                    end: i,
                    line,
                });
            }
        }
    }
    out
}

/// Scans a template literal's text from `i` to its closing backquote, or to a `${` (whose
/// closing brace resumes the template).
fn template(
    b: &[u8],
    mut i: usize,
    line: &mut usize,
    templates: &mut Vec<usize>,
    depth: usize,
) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                templates.push(depth);
                return i + 2;
            }
            b'\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    b.len()
}

const MODULES_V1: &[&str] = &["crypto", "querystring"];
const MODULES_V2: &[&str] = &["crypto", "querystring", "buffer", "cloudfront"];

/// Checks code for `CreateFunction`/`UpdateFunction` (everything but compiling it).
pub fn check(code: &[u8], runtime: JsRuntime) -> Result<String, CheckError> {
    if code.len() > MAX_CODE_BYTES {
        return Err(CheckError::TooLarge(code.len()));
    }
    let text = std::str::from_utf8(code).map_err(|_| CheckError::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(CheckError::Empty);
    }
    prepare(text, runtime)
}

/// The source the engine compiles: `import` statements rewritten to `require`, refusing what
/// the runtime does not have; the value of the script is the handler.
pub fn prepare(code: &str, runtime: JsRuntime) -> Result<String, CheckError> {
    let toks = tokens(code);
    let mut out = String::with_capacity(code.len() + 64);
    let mut copied = 0;
    let mut k = 0;
    let modules = match runtime {
        JsRuntime::V1 => MODULES_V1,
        JsRuntime::V2 => MODULES_V2,
    };
    while k < toks.len() {
        let t = toks[k];
        let prev_dot = k > 0 && toks[k - 1].kind == Kind::Punct(b'.');
        if t.kind != Kind::Ident || prev_dot {
            k += 1;
            continue;
        }
        let word = &code[t.start..t.end];
        let unsupported = |feature: &str| CheckError::Unsupported {
            line: t.line,
            feature: feature.to_owned(),
            runtime: runtime.as_str(),
        };
        match word {
            "const" | "let" | "async" | "await" if runtime == JsRuntime::V1 => {
                // `let` as a plain identifier (`var let`) is not worth supporting.
                return Err(unsupported(word));
            }
            "export" => return Err(unsupported("export")),
            "import" => {
                if runtime == JsRuntime::V1 {
                    return Err(unsupported("import"));
                }
                if toks.get(k + 1).is_some_and(|n| n.kind == Kind::Punct(b'(')) {
                    return Err(unsupported("dynamic import()"));
                }
                let (binding, from) = import_binding(code, &toks, k + 1).ok_or_else(|| {
                    CheckError::Import {
                        line: t.line,
                        message: "import must be `import name from 'module'`, `import { a, b } from 'module'` or `import * as name from 'module'`".into(),
                    }
                })?;
                let spec = &toks[from];
                let module = &code[spec.start + 1..spec.end.saturating_sub(1)];
                if !modules.contains(&module) {
                    return Err(CheckError::Import {
                        line: t.line,
                        message: format!("Cannot find module '{module}' in {}", runtime.as_str()),
                    });
                }
                let mut end = spec.end;
                let mut next = from + 1;
                if toks.get(next).is_some_and(|n| n.kind == Kind::Punct(b';')) {
                    end = toks[next].end;
                    next += 1;
                }
                out.push_str(&code[copied..t.start]);
                out.push_str(&format!("var {binding} = require('{module}');"));
                // Keep the line numbers of what follows.
                for _ in 0..code[t.start..end].matches('\n').count() {
                    out.push('\n');
                }
                copied = end;
                k = next;
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    out.push_str(&code[copied..]);
    out.push_str("\n;typeof handler === \"function\" ? handler : undefined");
    Ok(out)
}

/// The binding of an import (`name`, `{ a, b: c }`) and the index of its module string.
fn import_binding(code: &str, toks: &[Token], mut k: usize) -> Option<(String, usize)> {
    let text = |t: &Token| &code[t.start..t.end];
    let binding = match toks.get(k)?.kind {
        Kind::Ident => {
            k += 1;
            text(&toks[k - 1]).to_owned()
        }
        Kind::Punct(b'*') => {
            if text(toks.get(k + 1)?) != "as" || toks.get(k + 2)?.kind != Kind::Ident {
                return None;
            }
            k += 3;
            text(&toks[k - 1]).to_owned()
        }
        Kind::Punct(b'{') => {
            k += 1;
            let mut names = Vec::new();
            loop {
                let t = toks.get(k)?;
                match t.kind {
                    Kind::Punct(b'}') => {
                        k += 1;
                        break;
                    }
                    Kind::Punct(b',') => k += 1,
                    Kind::Ident => {
                        let name = text(t);
                        if toks.get(k + 1).is_some_and(|n| text(n) == "as") {
                            let alias = toks.get(k + 2)?;
                            if alias.kind != Kind::Ident {
                                return None;
                            }
                            names.push(format!("{name}: {}", text(alias)));
                            k += 3;
                        } else {
                            names.push(name.to_owned());
                            k += 1;
                        }
                    }
                    _ => return None,
                }
            }
            format!("{{ {} }}", names.join(", "))
        }
        _ => return None,
    };
    let from = toks.get(k)?;
    if text(from) != "from" || toks.get(k + 1)?.kind != Kind::Str {
        return None;
    }
    let spec = text(&toks[k + 1]);
    if spec.starts_with('`') {
        return None;
    }
    Some((binding, k + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_zero_refuses_block_scoped_and_async_code() {
        let e = check(
            b"function handler(e) {\n  const x = 1;\n  return e.request;\n}",
            JsRuntime::V1,
        )
        .unwrap_err();
        assert_eq!(
            e,
            CheckError::Unsupported {
                line: 2,
                feature: "const".into(),
                runtime: "cloudfront-js-1.0"
            }
        );
        // Inside strings, comments, templates and regexes, or as a property, they are text.
        check(
            b"// const\nvar s = 'let'; /* await */ var t = `async ${s} const`; var r = /const/; var o = {}; o.let = 1;\nfunction handler(e) { return e.request; }",
            JsRuntime::V1,
        )
        .unwrap();
        check(
            b"function handler(e) { const x = 1; return e.request; }",
            JsRuntime::V2,
        )
        .unwrap();
    }

    #[test]
    fn imports_become_requires_on_the_same_line() {
        let src = prepare(
            "import crypto from 'crypto';\nimport { parse as p, stringify } from \"querystring\"\nimport * as cf from 'cloudfront';\nfunction handler(e) {}",
            JsRuntime::V2,
        )
        .unwrap();
        assert!(src.starts_with("var crypto = require('crypto');\nvar { parse: p, stringify } = require('querystring');\nvar cf = require('cloudfront');\nfunction handler"), "{src}");
        assert!(matches!(
            prepare("import fs from 'fs';", JsRuntime::V2),
            Err(CheckError::Import { line: 1, .. })
        ));
        assert!(matches!(
            prepare("import cf from 'cloudfront';", JsRuntime::V1),
            Err(CheckError::Unsupported { .. })
        ));
    }

    #[test]
    fn size_limit() {
        let big = vec![b' '; MAX_CODE_BYTES + 1];
        assert_eq!(
            check(&big, JsRuntime::V2),
            Err(CheckError::TooLarge(MAX_CODE_BYTES + 1))
        );
    }
}
