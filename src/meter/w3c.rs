//! Placeholder; filled in by its own change.
// TEMPORARY stand-in until the real formatter lands.
/// Appends a journal line.
pub fn journal_line(r: &super::record::Record, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(out, "{}\t{}\t{}", r.end_ms, r.distribution_id, r.sc_bytes);
}
/// TEMPORARY.
pub fn standard_line(journal_line: &str, include_cookies: bool, out: &mut String) -> bool {
    let _ = include_cookies;
    out.push_str(journal_line);
    out.push('\n');
    true
}
/// TEMPORARY.
pub fn header() -> String {
    "#Version: 1.0\n#Fields: x\n".into()
}
/// TEMPORARY.
pub fn object_name(
    prefix: &str,
    distribution_id: &str,
    hour_start_unix: i64,
    unique: &str,
) -> String {
    format!("{prefix}{distribution_id}.{hour_start_unix}.{unique}.gz")
}
