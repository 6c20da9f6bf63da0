//! A lenient HTTP-date parser (RFC 9110 §5.6.7), for the dates the cache reads: `Date`,
//! `Expires`, `Last-Modified` and `If-Modified-Since`.
//!
//! All three formats are read:
//!
//! ```text
//! Sun, 06 Nov 1994 08:49:37 GMT    IMF-fixdate
//! Sunday, 06-Nov-94 08:49:37 GMT   RFC 850 (two-digit year)
//! Sun Nov  6 08:49:37 1994         asctime
//! ```
//!
//! As leniently as nginx and Varnish read them, so that an origin's slightly wrong date does not
//! change how long its response is cached:
//! - the weekday is ignored: it may be missing, misspelt, in any case, or not match the date;
//! - month names and `GMT` are read in any letter case, and a month may be spelt out in full;
//! - runs of spaces, and spaces around commas and dashes, are tolerated;
//! - the zone may be `GMT`, `UTC`, `UT`, `Z`, `+0000` or `-0000`, or missing (read as GMT);
//!   any other zone makes the date invalid, as does anything after it;
//! - a two-digit year is in the current century, unless that puts it more than 50 years in the
//!   future: then it is in the century before (RFC 9110 §5.6.7);
//! - second 60 (a leap second) is read as 59.
//!
//! Days that do not exist (`31 Apr`, `29 Feb 2023`), hours past 23 and similar are invalid:
//! [`parse_http_date`] gives `None`, and each caller decides what an invalid date means
//! (an invalid `Expires` means already expired, RFC 9111 §5.3).

use std::time::{Duration, SystemTime};

use crate::civil::{civil_from_days, days_from_civil};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

const FULL_MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Parses an HTTP date in any of the three formats, leniently (see the module documentation).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    parse_with_year(s, current_year())
}

/// The current UTC year, for reading two-digit years.
fn current_year() -> i64 {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    civil_from_days(secs.div_euclid(86_400)).0
}

/// [`parse_http_date`] with the current year given (two-digit years depend on it).
fn parse_with_year(s: &str, this_year: i64) -> Option<SystemTime> {
    if s.len() > 64 {
        return None;
    }
    let cleaned: String = s
        .chars()
        .map(|c| if c == ',' || c == '-' { ' ' } else { c })
        .collect();
    // A `-0000` zone lost its sign above; "0000" after the time reads as a zone all the same.
    let mut tokens: Vec<&str> = cleaned.split_whitespace().collect();
    // The weekday, whatever it says, is skipped: any leading word that is not a month.
    if let Some(first) = tokens.first()
        && first.bytes().all(|b| b.is_ascii_alphabetic())
        && month(first).is_none()
    {
        tokens.remove(0);
    }
    let (day, mon, year, time, zone) = match tokens.as_slice() {
        // IMF-fixdate and RFC 850: day month year time [zone]
        [d, m, y, t, rest @ ..] if is_digits(d) => (*d, month(m)?, year(y, this_year)?, *t, rest),
        // asctime: month day time year (a zone after it is tolerated too)
        [m, d, t, y, rest @ ..] if month(m).is_some() => {
            (*d, month(m)?, year(y, this_year)?, *t, rest)
        }
        _ => return None,
    };
    match zone {
        [] => {}
        [z] if is_utc(z) => {}
        _ => return None,
    }
    if !is_digits(day) || day.len() > 2 {
        return None;
    }
    let day: u32 = day.parse().ok()?;
    if day == 0 || day > days_in_month(year, mon) {
        return None;
    }
    let (h, m, sec) = clock(time)?;
    let days = days_from_civil(year, mon, day);
    let secs = days * 86_400 + i64::from(h * 3600 + m * 60 + sec);
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_utc(z: &str) -> bool {
    ["gmt", "utc", "ut", "z", "+0000", "0000"]
        .iter()
        .any(|u| z.eq_ignore_ascii_case(u))
}

/// A month name (three letters or in full, any case) as 1..=12.
fn month(s: &str) -> Option<u32> {
    let i = MONTHS
        .iter()
        .position(|m| s.eq_ignore_ascii_case(m))
        .or_else(|| FULL_MONTHS.iter().position(|m| s.eq_ignore_ascii_case(m)))?;
    Some(i as u32 + 1)
}

/// A four-digit year, or a two-digit one read as RFC 9110 §5.6.7 says.
fn year(s: &str, this_year: i64) -> Option<i64> {
    if !is_digits(s) {
        return None;
    }
    match s.len() {
        4 => s.parse().ok(),
        2 => {
            let yy: i64 = s.parse().ok()?;
            let century = this_year - this_year.rem_euclid(100);
            let mut y = century + yy;
            // More than 50 years in the future: the same digits a century earlier.
            if y > this_year + 50 {
                y -= 100;
            }
            Some(y)
        }
        _ => None,
    }
}

/// `hh:mm:ss` (one- or two-digit fields).
fn clock(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let mut field = |max: u32| -> Option<u32> {
        let f = it.next()?;
        if !is_digits(f) || f.len() > 2 {
            return None;
        }
        let v: u32 = f.parse().ok()?;
        (v <= max).then_some(v)
    };
    let (h, m, sec) = (field(23)?, field(59)?, field(60)?);
    if it.next().is_some() {
        return None;
    }
    Some((h, m, sec.min(59)))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// 1994-11-06 08:49:37 UTC, RFC 9110's example.
    const EXAMPLE: u64 = 784_111_777;

    #[test]
    fn the_three_formats() {
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_with_year(s, 2026), at(EXAMPLE), "{s}");
        }
    }

    #[test]
    fn lenient_forms() {
        let table = [
            // Wrong, missing, misspelt or lower-case weekday.
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "06 Nov 1994 08:49:37 GMT",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Thursday, 06-Nov-94 08:49:37 GMT",
            "Fri Nov  6 08:49:37 1994",
            // Any case for month and zone; a full month name.
            "Sun, 06 nov 1994 08:49:37 gmt",
            "SUN, 06 NOV 1994 08:49:37 GMT",
            "Sun, 06 November 1994 08:49:37 GMT",
            "sunday, 06-nov-94 08:49:37 Gmt",
            // Extra spaces, one-digit day and hour, other spellings of UTC, no zone.
            "  Sun,   06  Nov   1994   08:49:37   GMT  ",
            "Sun , 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun Nov 06 08:49:37 1994",
        ];
        for s in table {
            assert_eq!(parse_with_year(s, 2026), at(EXAMPLE), "{s:?}");
        }
    }

    #[test]
    fn invalid_dates() {
        for s in [
            "",
            "0",
            "-1",
            "now",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 1994 08:49:37 +0100",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 31 Apr 1994 08:49:37 GMT",
            "Sun, 29 Feb 2023 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:01 GMT",
            "Sun, 06 Nov 994 08:49:37 GMT",
            "Sun, 006 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:4x:37 GMT",
            "Sun Nov  6 08:49:37",
        ] {
            assert_eq!(parse_with_year(s, 2026), None, "{s:?}");
        }
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(
            parse_with_year("Thu, 01 Jan 1970 00:00:00 GMT", 2026),
            at(0)
        );
        assert_eq!(
            parse_with_year("Thu, 29 Feb 2024 12:00:00 GMT", 2026),
            at(1_709_208_000)
        );
        assert_eq!(
            parse_with_year("Fri, 31 Dec 2100 23:59:60 GMT", 2026),
            at(4_133_980_799),
            "a leap second reads as :59"
        );
        // Before 1970 is still a date (long past).
        let before = parse_with_year("Wed, 31 Dec 1969 23:59:59 GMT", 2026).unwrap();
        assert_eq!(
            SystemTime::UNIX_EPOCH.duration_since(before).unwrap(),
            Duration::from_secs(1)
        );
        for days in [-1_000_000, -1, 0, 1, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn two_digit_years() {
        let y = |s: &str, now| parse_with_year(s, now).map(|t| civil_from_days(secs(t) / 86_400).0);
        fn secs(t: SystemTime) -> i64 {
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64
        }
        assert_eq!(y("Sunday, 06-Nov-94 08:49:37 GMT", 2026), Some(1994));
        assert_eq!(y("Sunday, 06-Nov-26 08:49:37 GMT", 2026), Some(2026));
        assert_eq!(y("Sunday, 06-Nov-76 08:49:37 GMT", 2026), Some(2076));
        assert_eq!(y("Sunday, 06-Nov-77 08:49:37 GMT", 2026), Some(1977));
        assert_eq!(y("Sunday, 06-Nov-05 08:49:37 GMT", 2096), Some(2005));
    }
}
