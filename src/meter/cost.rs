//! Cost estimates: CloudFront's prices from `policies/pricing.toml` applied to usage rows.
//!
//! [`estimate`] prices only the billed aggregate usage types (`{R}-Requests-Tier1`,
//! `{R}-Requests-Tier2-HTTPS`, `{R}-Requests-HTTP(S)-Proxy`, `{R}-DataTransfer-Out-Bytes`,
//! `{R}-DataTransfer-Out-OBytes`, `Invalidations`) and ignores the usage report's detail types,
//! which break the same numbers down, so nothing is counted twice. Everything is summed per
//! calendar month (UTC) across distributions, as one account's bill is:
//!
//! - data transfer out is priced per GB, **1 GB = 2^30 bytes** (as AWS bills), across the volume
//!   tiers of the usage type's region, counted per region per month (so `CA` and `US`, priced
//!   alike, climb their tiers separately);
//! - requests are priced per 10,000, proxy methods at the same HTTP/HTTPS rate;
//! - bytes to the origin (`OBytes`) at the region's origin rate;
//! - invalidated paths after the month's free allowance.
//!
//! The arithmetic is exact: prices are held in whole nanodollars (10⁻⁹ $, the precision the
//! table may be written with), and each amount is an exact fraction over
//! `2^30 × 10,000` nanodollars, rounded only when rendered. The always-free tier is not applied.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::usage::{UsageRow, civil_from_days};
use crate::config::BillingRegion;

/// The built-in price table: CloudFront's list prices, with the date they were taken.
const BUILTIN: &str = include_str!("../../policies/pricing.toml");

/// Bytes in a billed GB.
const GIB: u128 = 1 << 30;
/// Requests per priced unit.
const PER_REQUESTS: u128 = 10_000;
/// Every amount is a count of `1 / DEN` nanodollars, so that per-GB and per-10,000 prices divide
/// exactly.
const DEN: u128 = GIB * PER_REQUESTS;
/// Nanodollars in a dollar.
const NANOS: u128 = 1_000_000_000;
/// The largest price accepted for any unit, in dollars.
const MAX_PRICE: f64 = 1_000_000.0;
/// The most volume tiers a table may have.
const MAX_TIERS: usize = 64;

/// What is wrong with a price table.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    /// The TOML does not parse or does not have the expected shape (the message names the key
    /// and line).
    #[error("price table: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent.
    #[error("price table: {key}: {problem}")]
    Invalid {
        /// The offending key, e.g. `regions.EU.transfer_out_per_gb[2]`.
        key: String,
        /// What is wrong and what would be right.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> PricingError {
    PricingError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Prices for one billing region.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    /// The region as written in price descriptions, e.g. `United States`.
    pub name: String,
    /// Data transfer out to the internet, dollars per GB, one price per volume tier.
    pub transfer_out_per_gb: Vec<f64>,
    /// HTTP requests, dollars per 10,000.
    pub http_per_10k: f64,
    /// HTTPS requests, dollars per 10,000.
    pub https_per_10k: f64,
    /// Data transfer out to the origin, dollars per GB.
    pub origin_per_gb: f64,
    /// Origin Shield requests (`Requests-OriginShield`, counted in the shield's region),
    /// dollars per 10,000; absent where no price is published (those rows are reported
    /// unpriced).
    #[serde(default)]
    pub origin_shield_per_10k: Option<f64>,
}

/// Invalidation prices.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidationPrices {
    /// Paths a month that cost nothing (account-wide).
    pub free_paths_per_month: u64,
    /// Dollars per path after that.
    pub per_path: f64,
}

/// A validated price table (the shape of `policies/pricing.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    as_of: String,
    source: String,
    currency: String,
    tier_start_gb: Vec<u64>,
    invalidations: InvalidationPrices,
    regions: BTreeMap<String, RegionPrices>,
}

impl PriceTable {
    /// The built-in table: CloudFront's published list prices from `policies/pricing.toml`.
    pub fn builtin() -> Self {
        // The file is compiled in and parsed by a unit test, so this cannot fail at run time.
        Self::from_toml(BUILTIN).expect("policies/pricing.toml is checked by a unit test")
    }

    /// Parses and validates a price table; errors name the offending key.
    pub fn from_toml(text: &str) -> Result<Self, PricingError> {
        let table: PriceTable =
            toml::from_str(text).map_err(|e| PricingError::Parse(e.to_string()))?;
        table.validate()?;
        Ok(table)
    }

    /// When the prices were taken (e.g. `2026-08`).
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// Where the prices come from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The currency of every price (e.g. `USD`).
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The prices of one region.
    pub fn region(&self, r: BillingRegion) -> Option<&RegionPrices> {
        self.regions.get(r.code())
    }

    fn validate(&self) -> Result<(), PricingError> {
        if self.as_of.trim().is_empty() {
            return Err(invalid(
                "as_of",
                "is empty: write the date the prices were taken, e.g. \"2026-08\"",
            ));
        }
        if self.currency.trim().is_empty() {
            return Err(invalid("currency", "is empty: write e.g. \"USD\""));
        }
        let tiers = &self.tier_start_gb;
        if tiers.is_empty() || tiers.len() > MAX_TIERS {
            return Err(invalid(
                "tier_start_gb",
                format!(
                    "needs between 1 and {MAX_TIERS} tier starts, found {}",
                    tiers.len()
                ),
            ));
        }
        if tiers[0] != 0 {
            return Err(invalid(
                "tier_start_gb[0]",
                format!("is {}: the first tier starts at 0", tiers[0]),
            ));
        }
        for (i, w) in tiers.windows(2).enumerate() {
            if w[1] <= w[0] {
                return Err(invalid(
                    format!("tier_start_gb[{}]", i + 1),
                    format!(
                        "is {}, not above the tier before it ({}): tiers must be ascending",
                        w[1], w[0]
                    ),
                ));
            }
        }
        check_price("invalidations.per_path", self.invalidations.per_path)?;
        for (code, prices) in &self.regions {
            if !BillingRegion::ALL.iter().any(|r| r.code() == code) {
                return Err(invalid(
                    format!("regions.{code}"),
                    "is not a billing region: use US, CA, EU, ZA, ME, SA, JP, AU, AP or IN",
                ));
            }
            let key = |field: &str| format!("regions.{code}.{field}");
            if prices.transfer_out_per_gb.len() != tiers.len() {
                return Err(invalid(
                    key("transfer_out_per_gb"),
                    format!(
                        "has {} prices but tier_start_gb has {} tiers: give one price per tier",
                        prices.transfer_out_per_gb.len(),
                        tiers.len()
                    ),
                ));
            }
            for (i, p) in prices.transfer_out_per_gb.iter().enumerate() {
                check_price(&format!("{}[{i}]", key("transfer_out_per_gb")), *p)?;
            }
            check_price(&key("http_per_10k"), prices.http_per_10k)?;
            check_price(&key("https_per_10k"), prices.https_per_10k)?;
            check_price(&key("origin_per_gb"), prices.origin_per_gb)?;
            if let Some(p) = prices.origin_shield_per_10k {
                check_price(&key("origin_shield_per_10k"), p)?;
            }
        }
        for r in BillingRegion::ALL {
            if !self.regions.contains_key(r.code()) {
                return Err(invalid(
                    format!("regions.{}", r.code()),
                    "is missing: every billing region (US, CA, EU, ZA, ME, SA, JP, AU, AP, IN) needs prices",
                ));
            }
        }
        Ok(())
    }
}

fn check_price(key: &str, p: f64) -> Result<(), PricingError> {
    if !p.is_finite() || p < 0.0 {
        return Err(invalid(
            key,
            format!("price {p} must be a number of at least 0"),
        ));
    }
    if p > MAX_PRICE {
        return Err(invalid(
            key,
            format!("price {p} is above the limit of {MAX_PRICE}"),
        ));
    }
    Ok(())
}

/// A validated price in whole nanodollars.
fn nanos(p: f64) -> u128 {
    // Validated finite and within 0..=MAX_PRICE, so the cast is exact after rounding.
    (p * 1e9).round() as u128
}

/// An exact amount of money: a count of `1 / (2^30 × 10,000)` nanodollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(u128);

impl Amount {
    /// Rounded (half up) to whole nanodollars.
    pub fn nanodollars(self) -> u128 {
        self.0.saturating_add(DEN / 2) / DEN
    }

    /// Dollars with `decimals` (at most 9) places, rounded half up: `1034.24` → `"1034.2400"`.
    pub fn to_decimal(self, decimals: u32) -> String {
        let decimals = decimals.min(9);
        let unit = DEN * 10u128.pow(9 - decimals);
        let n = self.0.saturating_add(unit / 2) / unit;
        if decimals == 0 {
            return n.to_string();
        }
        let scale = 10u128.pow(decimals);
        format!(
            "{}.{:0width$}",
            n / scale,
            n % scale,
            width = decimals as usize
        )
    }

    fn add(self, o: Amount) -> Amount {
        Amount(self.0.saturating_add(o.0))
    }
}

/// One priced line of an estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostLine {
    /// The calendar month, `YYYY-MM`.
    pub month: String,
    /// The usage type priced, e.g. `US-DataTransfer-Out-Bytes`.
    pub usage_type: String,
    /// The rate, as AWS writes it: `$0.0100 per 10,000 HTTPS Requests (United States)`.
    pub description: String,
    /// Bytes, requests or paths charged at this rate.
    pub usage_value: u64,
    /// `GB`, `Requests` or `URLs`.
    pub unit: &'static str,
    /// The quantity in `unit`: GB (2^30 bytes) to 9 places, requests and URLs as integers.
    pub quantity: String,
    /// What this line costs.
    pub amount: Amount,
}

/// A cost estimate, per month, region and usage type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// When the prices were taken.
    pub as_of: String,
    /// Where they come from.
    pub source: String,
    /// Their currency.
    pub currency: String,
    /// The priced lines: by month; within it by region in the pricing page's order (US, CA, EU,
    /// ZA, ME, SA, JP, AU, AP, IN), data transfer (by tier), transfer to origin, then requests;
    /// invalidations last.
    pub lines: Vec<CostLine>,
    /// Usage types in the rows that are neither priced nor a known detail type.
    pub unpriced: BTreeSet<String>,
}

impl Estimate {
    /// The sum of every line, exact.
    pub fn total(&self) -> Amount {
        self.lines
            .iter()
            .fold(Amount::default(), |t, l| t.add(l.amount))
    }

    /// Per-month totals, in month order.
    pub fn month_totals(&self) -> Vec<(String, Amount)> {
        let mut m: BTreeMap<&str, Amount> = BTreeMap::new();
        for l in &self.lines {
            let t = m.entry(&l.month).or_default();
            *t = t.add(l.amount);
        }
        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// How a usage type is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Priced {
    /// `DataTransfer-Out-Bytes`, tiered.
    OutBytes,
    /// `DataTransfer-Out-OBytes`.
    OutOBytes,
    /// `Requests-Tier1`.
    Http,
    /// `Requests-Tier2-HTTPS`.
    Https,
    /// `Requests-HTTP-Proxy`.
    HttpProxy,
    /// `Requests-HTTPS-Proxy`.
    HttpsProxy,
    /// `Requests-OriginShield`.
    OriginShield,
}

enum Kind {
    Priced(BillingRegion, Priced),
    Invalidations,
    Detail,
    Unknown,
}

fn classify(usage_type: &str) -> Kind {
    if usage_type == "Invalidations" {
        return Kind::Invalidations;
    }
    let Some((prefix, rest)) = usage_type.split_once('-') else {
        return Kind::Unknown;
    };
    let Some(region) = BillingRegion::ALL.into_iter().find(|r| r.code() == prefix) else {
        return Kind::Unknown;
    };
    let p = match rest {
        "DataTransfer-Out-Bytes" => Priced::OutBytes,
        "DataTransfer-Out-OBytes" => Priced::OutOBytes,
        "Requests-Tier1" => Priced::Http,
        "Requests-Tier2-HTTPS" => Priced::Https,
        "Requests-HTTP-Proxy" => Priced::HttpProxy,
        "Requests-HTTPS-Proxy" => Priced::HttpsProxy,
        "Requests-OriginShield" => Priced::OriginShield,
        "Requests-HTTP-Static"
        | "Requests-HTTP-Dynamic"
        | "Requests-HTTPS-Static"
        | "Requests-HTTPS-Dynamic" => {
            return Kind::Detail;
        }
        r if r.starts_with("Out-Bytes-") || r.starts_with("Out-OBytes-") => return Kind::Detail,
        _ => return Kind::Unknown,
    };
    Kind::Priced(region, p)
}

/// `YYYY-MM` of a Unix time.
fn month_of(ts: i64) -> String {
    let (y, m, _) = civil_from_days(ts.div_euclid(86_400));
    format!("{y:04}-{m:02}")
}

/// A price per unit, in dollars with at least `min` decimals and as many more (up to 9) as it
/// needs to be exact: `$0.085`, `$0.0100`, `$0.0000075`.
fn fmt_price(nanos: u128, min: usize) -> String {
    let frac = format!("{:09}", nanos % NANOS);
    let keep = frac.trim_end_matches('0').len().max(min);
    format!("${}.{}", nanos / NANOS, &frac[..keep])
}

/// `10 TB`, `4 PB`, `1536 GB`.
fn fmt_gb(gb: u64) -> String {
    if gb >= 1 << 20 && gb.is_multiple_of(1 << 20) {
        format!("{} PB", gb >> 20)
    } else if gb >= 1 << 10 && gb.is_multiple_of(1 << 10) {
        format!("{} TB", gb >> 10)
    } else {
        format!("{gb} GB")
    }
}

/// `1,000`.
fn fmt_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n / div` with 9 decimals, rounded half up.
fn fmt_ratio(n: u128, div: u128) -> String {
    let scaled = n.saturating_mul(NANOS).saturating_add(div / 2) / div;
    format!("{}.{:09}", scaled / NANOS, scaled % NANOS)
}

fn sat_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Prices the aggregate usage types of `rows` with `table`, per calendar month, region and
/// usage type; detail rows are ignored so nothing is counted twice.
pub fn estimate(table: &PriceTable, rows: &[UsageRow]) -> Estimate {
    // (month, region, priced) → total bytes or requests; month → invalidated paths.
    // Regions are keyed by their place in `BillingRegion::ALL`, the pricing page's order.
    let mut usage: BTreeMap<(String, usize, Priced), u128> = BTreeMap::new();
    let mut invalidations: BTreeMap<String, u128> = BTreeMap::new();
    let mut unpriced = BTreeSet::new();
    for row in rows {
        let v = u128::from(row.value);
        match classify(&row.usage_type) {
            Kind::Priced(region, p) => {
                let place = BillingRegion::ALL
                    .iter()
                    .position(|r| *r == region)
                    .unwrap_or(0);
                let slot = usage.entry((month_of(row.start), place, p)).or_default();
                *slot = slot.saturating_add(v);
            }
            Kind::Invalidations => {
                let slot = invalidations.entry(month_of(row.start)).or_default();
                *slot = slot.saturating_add(v);
            }
            Kind::Detail => {}
            Kind::Unknown => {
                unpriced.insert(row.usage_type.clone());
            }
        }
    }

    let mut by_month: BTreeMap<String, Vec<CostLine>> = BTreeMap::new();
    for ((month, place, p), total) in usage {
        let region = BillingRegion::ALL[place];
        // Validated: every region is present.
        let Some(prices) = table.region(region) else {
            continue;
        };
        let usage_type = |rest: &str| format!("{}-{rest}", region.code());
        let lines = by_month.entry(month.clone()).or_default();
        let requests = |price: f64, what: &str, ut: &str| CostLine {
            month: month.clone(),
            usage_type: usage_type(ut),
            description: format!(
                "{} per 10,000 {what} Requests ({})",
                fmt_price(nanos(price), 4),
                prices.name
            ),
            usage_value: sat_u64(total),
            unit: "Requests",
            quantity: total.to_string(),
            amount: Amount(total.saturating_mul(nanos(price)).saturating_mul(GIB)),
        };
        match p {
            Priced::Http => lines.push(requests(prices.http_per_10k, "HTTP", "Requests-Tier1")),
            Priced::Https => lines.push(requests(
                prices.https_per_10k,
                "HTTPS",
                "Requests-Tier2-HTTPS",
            )),
            Priced::HttpProxy => lines.push(requests(
                prices.http_per_10k,
                "Proxy HTTP",
                "Requests-HTTP-Proxy",
            )),
            Priced::HttpsProxy => lines.push(requests(
                prices.https_per_10k,
                "Proxy HTTPS",
                "Requests-HTTPS-Proxy",
            )),
            Priced::OriginShield => match prices.origin_shield_per_10k {
                Some(price) => {
                    lines.push(requests(price, "Origin Shield", "Requests-OriginShield"))
                }
                None => {
                    unpriced.insert(usage_type("Requests-OriginShield"));
                }
            },
            Priced::OutOBytes => {
                let price = nanos(prices.origin_per_gb);
                lines.push(CostLine {
                    month: month.clone(),
                    usage_type: usage_type("DataTransfer-Out-OBytes"),
                    description: format!(
                        "{} per GB - All data transfer out to Origin ({})",
                        fmt_price(price, 3),
                        prices.name
                    ),
                    usage_value: sat_u64(total),
                    unit: "GB",
                    quantity: fmt_ratio(total, GIB),
                    amount: Amount(total.saturating_mul(price).saturating_mul(PER_REQUESTS)),
                });
            }
            Priced::OutBytes => {
                let tiers = &table.tier_start_gb;
                for (i, &start_gb) in tiers.iter().enumerate() {
                    let lo = u128::from(start_gb) * GIB;
                    let hi = tiers.get(i + 1).map(|&g| u128::from(g) * GIB);
                    let in_tier = hi.map_or(total, |h| total.min(h)).saturating_sub(lo);
                    if in_tier == 0 {
                        continue;
                    }
                    let tier = match tiers.get(i + 1) {
                        _ if tiers.len() == 1 => "all".to_owned(),
                        Some(&next) if i == 0 => format!("first {}", fmt_gb(next)),
                        Some(&next) => format!("next {}", fmt_gb(next - start_gb)),
                        None => format!("over {}", fmt_gb(start_gb)),
                    };
                    let price = nanos(prices.transfer_out_per_gb.get(i).copied().unwrap_or(0.0));
                    lines.push(CostLine {
                        month: month.clone(),
                        usage_type: usage_type("DataTransfer-Out-Bytes"),
                        description: format!(
                            "{} per GB - {tier} / month data transfer out ({})",
                            fmt_price(price, 3),
                            prices.name
                        ),
                        usage_value: sat_u64(in_tier),
                        unit: "GB",
                        quantity: fmt_ratio(in_tier, GIB),
                        amount: Amount(in_tier.saturating_mul(price).saturating_mul(PER_REQUESTS)),
                    });
                }
            }
        }
    }
    let inv = &table.invalidations;
    for (month, total) in invalidations {
        let free_limit = u128::from(inv.free_paths_per_month);
        let free = total.min(free_limit);
        let paid = total - free;
        let limit = fmt_thousands(inv.free_paths_per_month);
        let lines = by_month.entry(month.clone()).or_default();
        if free > 0 {
            lines.push(CostLine {
                month: month.clone(),
                usage_type: "Invalidations".to_owned(),
                description: format!("$0.000 per URL - first {limit} URLs / month."),
                usage_value: sat_u64(free),
                unit: "URLs",
                quantity: free.to_string(),
                amount: Amount(0),
            });
        }
        if paid > 0 {
            let price = nanos(inv.per_path);
            lines.push(CostLine {
                month: month.clone(),
                usage_type: "Invalidations".to_owned(),
                description: format!(
                    "{} per URL - over {limit} URLs / month.",
                    fmt_price(price, 3)
                ),
                usage_value: sat_u64(paid),
                unit: "URLs",
                quantity: paid.to_string(),
                amount: Amount(paid.saturating_mul(price).saturating_mul(DEN)),
            });
        }
    }
    Estimate {
        as_of: table.as_of.clone(),
        source: table.source.clone(),
        currency: table.currency.clone(),
        lines: by_month.into_values().flatten().collect(),
        unpriced,
    }
}

/// Writes the estimate as a text table: one line per rate with its quantity and amount (to
/// 4 decimals), a total per month and overall, and the date and source of the prices.
pub fn render_cost_table(e: &Estimate, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "CloudFront cost estimate in {}, list prices as of {} ({})",
        e.currency, e.as_of, e.source
    )?;
    let mut table: Vec<[String; 5]> = vec![[
        "Month".into(),
        "Usage type".into(),
        "Rate".into(),
        "Quantity".into(),
        "Amount".into(),
    ]];
    let totals = e.month_totals();
    for (month, total) in &totals {
        for l in e.lines.iter().filter(|l| &l.month == month) {
            table.push([
                l.month.clone(),
                l.usage_type.clone(),
                l.description.clone(),
                format!("{} {}", l.quantity, l.unit),
                format!("${}", l.amount.to_decimal(4)),
            ]);
        }
        table.push([
            month.clone(),
            "Total".into(),
            String::new(),
            String::new(),
            format!("${}", total.to_decimal(4)),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &table {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            // Numbers right-aligned, text left-aligned.
            let _ = if i >= 3 {
                write!(line, "{c:>w$}")
            } else {
                write!(line, "{c:<w$}")
            };
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out, "Total: ${} {}", e.total().to_decimal(4), e.currency)?;
    writeln!(
        out,
        "Amounts are exact to the nanodollar in the CSV and JSON renderings; 1 GB = 2^30 bytes; \
         the always-free tier is not applied."
    )?;
    if !e.unpriced.is_empty() {
        let list: Vec<&str> = e.unpriced.iter().map(String::as_str).collect();
        writeln!(out, "Not priced (unknown usage types): {}", list.join(", "))?;
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Writes the estimate as CSV: one line per rate, amounts in dollars to 9 decimals, the price
/// date on every line, then a `Total` line.
pub fn render_cost_csv(e: &Estimate, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "Month,UsageType,Rate,UsageValue,Quantity,Unit,Amount,Currency,PricesAsOf"
    )?;
    let tail = format!("{},{}", csv_field(&e.currency), csv_field(&e.as_of));
    for l in &e.lines {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{tail}",
            l.month,
            csv_field(&l.usage_type),
            csv_field(&l.description),
            l.usage_value,
            l.quantity,
            l.unit,
            l.amount.to_decimal(9)
        )?;
    }
    writeln!(out, "Total,,,,,,{},{tail}", e.total().to_decimal(9))
}

/// The JSON shape of an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateJson {
    /// When the prices were taken.
    pub prices_as_of: String,
    /// Where they come from.
    pub prices_source: String,
    /// The currency of every amount.
    pub currency: String,
    /// One entry per rate.
    pub lines: Vec<CostLineJson>,
    /// Per-month totals.
    pub months: Vec<MonthTotalJson>,
    /// The total, dollars to 9 decimals.
    pub total: String,
    /// Usage types that were not priced.
    pub unpriced: Vec<String>,
}

/// One rate of [`EstimateJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostLineJson {
    /// `YYYY-MM`.
    pub month: String,
    /// The usage type.
    pub usage_type: String,
    /// The rate, as AWS writes it.
    pub rate: String,
    /// Bytes, requests or paths.
    pub usage_value: u64,
    /// The quantity in `unit`.
    pub quantity: String,
    /// `GB`, `Requests` or `URLs`.
    pub unit: &'static str,
    /// Dollars to 9 decimals.
    pub amount: String,
}

/// One month's total in [`EstimateJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthTotalJson {
    /// `YYYY-MM`.
    pub month: String,
    /// Dollars to 9 decimals.
    pub total: String,
}

impl From<&Estimate> for EstimateJson {
    fn from(e: &Estimate) -> Self {
        Self {
            prices_as_of: e.as_of.clone(),
            prices_source: e.source.clone(),
            currency: e.currency.clone(),
            lines: e
                .lines
                .iter()
                .map(|l| CostLineJson {
                    month: l.month.clone(),
                    usage_type: l.usage_type.clone(),
                    rate: l.description.clone(),
                    usage_value: l.usage_value,
                    quantity: l.quantity.clone(),
                    unit: l.unit,
                    amount: l.amount.to_decimal(9),
                })
                .collect(),
            months: e
                .month_totals()
                .into_iter()
                .map(|(month, t)| MonthTotalJson {
                    month,
                    total: t.to_decimal(9),
                })
                .collect(),
            total: e.total().to_decimal(9),
            unpriced: e.unpriced.iter().cloned().collect(),
        }
    }
}

/// Writes the estimate as JSON (see [`EstimateJson`]), followed by a newline.
pub fn render_cost_json(e: &Estimate, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &EstimateJson::from(e)).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_1: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z
    const DEC_1: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z
    const TB: u64 = 1 << 40;

    fn row(start: i64, op: &str, usage_type: &str, value: u64) -> UsageRow {
        UsageRow {
            start,
            end: start + 3_600,
            distribution_id: "E1".into(),
            operation: op.into(),
            usage_type: usage_type.into(),
            value,
        }
    }

    #[test]
    fn builtin_table_parses_and_has_every_region() {
        let t = PriceTable::from_toml(BUILTIN).unwrap();
        assert_eq!(t, PriceTable::builtin());
        assert!(t.as_of().starts_with("2026-"));
        assert_eq!(t.currency(), "USD");
        assert!(t.source().starts_with("https://"));
        for r in BillingRegion::ALL {
            assert!(t.region(r).is_some(), "{r}");
        }
        let us = t.region(BillingRegion::Us).unwrap();
        assert_eq!(
            t.region(BillingRegion::Ca).unwrap().transfer_out_per_gb,
            us.transfer_out_per_gb
        );
        assert_eq!(nanos(us.https_per_10k), 10_000_000);
    }

    #[test]
    fn twelve_tb_in_us_spans_the_first_two_tiers_exactly() {
        let t = PriceTable::builtin();
        // Split over two distributions and two hours of one month: tiers count the month.
        let rows = [
            row(NOV_1, "GET", "US-DataTransfer-Out-Bytes", 7 * TB),
            row(NOV_1 + 86_400, "GET", "US-DataTransfer-Out-Bytes", 5 * TB),
            // Detail rows of the same bytes are ignored.
            row(NOV_1, "GET", "US-Out-Bytes-HTTPS-Static", 12 * TB),
        ];
        let e = estimate(&t, &rows);
        assert_eq!(e.lines.len(), 2);
        let (a, b) = (&e.lines[0], &e.lines[1]);
        assert_eq!(
            a.description,
            "$0.085 per GB - first 10 TB / month data transfer out (United States)"
        );
        assert_eq!(a.usage_value, 10 * TB);
        assert_eq!(a.quantity, "10240.000000000");
        assert_eq!(a.amount.nanodollars(), 870_400_000_000);
        assert_eq!(
            b.description,
            "$0.080 per GB - next 40 TB / month data transfer out (United States)"
        );
        assert_eq!(b.usage_value, 2 * TB);
        assert_eq!(b.amount.nanodollars(), 163_840_000_000);
        assert_eq!(e.total().to_decimal(9), "1034.240000000");
        assert_eq!(e.total().to_decimal(2), "1034.24");
        assert!(e.unpriced.is_empty());
    }

    #[test]
    fn every_tier_is_named_like_aws() {
        let t = PriceTable::builtin();
        let e = estimate(
            &t,
            &[row(
                NOV_1,
                "GET",
                "EU-DataTransfer-Out-Bytes",
                6 * 1024 * TB,
            )],
        );
        let names: Vec<&str> = e.lines.iter().map(|l| l.description.as_str()).collect();
        assert_eq!(
            names,
            [
                "$0.085 per GB - first 10 TB / month data transfer out (Europe)",
                "$0.080 per GB - next 40 TB / month data transfer out (Europe)",
                "$0.060 per GB - next 100 TB / month data transfer out (Europe)",
                "$0.040 per GB - next 350 TB / month data transfer out (Europe)",
                "$0.030 per GB - next 524 TB / month data transfer out (Europe)",
                "$0.025 per GB - next 4 PB / month data transfer out (Europe)",
                "$0.020 per GB - over 5 PB / month data transfer out (Europe)",
            ]
        );
        let sum: u64 = e.lines.iter().map(|l| l.usage_value).sum();
        assert_eq!(sum, 6 * 1024 * TB);
    }

    #[test]
    fn tiers_restart_each_month_and_per_region() {
        let t = PriceTable::builtin();
        let e = estimate(
            &t,
            &[
                row(NOV_1, "GET", "US-DataTransfer-Out-Bytes", 8 * TB),
                row(DEC_1, "GET", "US-DataTransfer-Out-Bytes", 8 * TB),
                row(NOV_1, "GET", "CA-DataTransfer-Out-Bytes", 8 * TB),
            ],
        );
        assert_eq!(e.lines.len(), 3);
        assert!(
            e.lines
                .iter()
                .all(|l| l.description.contains("first 10 TB"))
        );
        assert_eq!(e.month_totals()[0].0, "2026-11");
        assert_eq!(e.month_totals()[1].0, "2026-12");
        assert_eq!(e.lines[0].usage_type, "US-DataTransfer-Out-Bytes");
        assert_eq!(e.lines[1].usage_type, "CA-DataTransfer-Out-Bytes");
        assert!(e.lines[1].description.ends_with("(Canada)"));
        assert_eq!(e.lines[2].month, "2026-12");
    }

    #[test]
    fn requests_and_origin_bytes() {
        let t = PriceTable::builtin();
        let rows = [
            row(NOV_1, "GET", "US-Requests-Tier1", 15_000),
            row(NOV_1, "HEAD", "US-Requests-Tier1", 5_000),
            row(NOV_1, "GET", "US-Requests-Tier2-HTTPS", 3),
            row(NOV_1, "POST", "AU-Requests-HTTPS-Proxy", 10_000),
            row(NOV_1, "POST", "IN-Requests-HTTP-Proxy", 1),
            row(NOV_1, "POST", "IN-DataTransfer-Out-OBytes", 1 << 29),
            row(NOV_1, "GET", "US-Requests-HTTP-Static", 20_000),
        ];
        let e = estimate(&t, &rows);
        let got: Vec<(&str, &str, u64, u128)> = e
            .lines
            .iter()
            .map(|l| {
                (
                    l.usage_type.as_str(),
                    l.description.as_str(),
                    l.usage_value,
                    l.amount.nanodollars(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // 20,000 HTTP requests at $0.0075 per 10,000.
                (
                    "US-Requests-Tier1",
                    "$0.0075 per 10,000 HTTP Requests (United States)",
                    20_000,
                    15_000_000
                ),
                // 3 HTTPS requests at $0.0100 per 10,000 = $0.000003.
                (
                    "US-Requests-Tier2-HTTPS",
                    "$0.0100 per 10,000 HTTPS Requests (United States)",
                    3,
                    3_000
                ),
                (
                    "AU-Requests-HTTPS-Proxy",
                    "$0.0125 per 10,000 Proxy HTTPS Requests (Australia)",
                    10_000,
                    12_500_000
                ),
                // Half a GB to the origin at $0.16.
                (
                    "IN-DataTransfer-Out-OBytes",
                    "$0.160 per GB - All data transfer out to Origin (India)",
                    1 << 29,
                    80_000_000
                ),
                // One request at $0.009 per 10,000 = 0.9 µ$.
                (
                    "IN-Requests-HTTP-Proxy",
                    "$0.0090 per 10,000 Proxy HTTP Requests (India)",
                    1,
                    900
                ),
            ]
        );
        assert_eq!(e.lines[3].quantity, "0.500000000");
        assert_eq!(e.total().to_decimal(9), "0.107503900");
    }

    #[test]
    fn invalidations_have_a_free_thousand_a_month() {
        let t = PriceTable::builtin();
        let rows = [
            row(NOV_1, "Invalidations", "Invalidations", 600),
            row(NOV_1 + 3_600, "Invalidations", "Invalidations", 600),
            row(DEC_1, "Invalidations", "Invalidations", 999),
        ];
        let e = estimate(&t, &rows);
        let got: Vec<(&str, &str, u64, u128)> = e
            .lines
            .iter()
            .map(|l| {
                (
                    l.month.as_str(),
                    l.description.as_str(),
                    l.usage_value,
                    l.amount.nanodollars(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "2026-11",
                    "$0.000 per URL - first 1,000 URLs / month.",
                    1_000,
                    0
                ),
                (
                    "2026-11",
                    "$0.005 per URL - over 1,000 URLs / month.",
                    200,
                    1_000_000_000
                ),
                (
                    "2026-12",
                    "$0.000 per URL - first 1,000 URLs / month.",
                    999,
                    0
                ),
            ]
        );
        assert_eq!(e.total().to_decimal(4), "1.0000");
    }

    #[test]
    fn origin_shield_requests_are_priced_where_a_price_is_published() {
        let t = PriceTable::builtin();
        let e = estimate(
            &t,
            &[
                row(0, "GET", "US-Requests-OriginShield", 20_000),
                row(0, "GET", "ME-Requests-OriginShield", 5),
            ],
        );
        assert_eq!(e.lines.len(), 1);
        assert_eq!(e.lines[0].usage_type, "US-Requests-OriginShield");
        assert_eq!(e.total().to_decimal(4), "0.0150");
        assert!(e.unpriced.contains("ME-Requests-OriginShield"));
    }

    #[test]
    fn unknown_usage_types_are_reported_not_priced() {
        let e = estimate(
            &PriceTable::builtin(),
            &[
                row(NOV_1, "GET", "MX-Requests-Tier1", 5),
                row(NOV_1, "GET", "SSL-Cert-Custom", 1),
            ],
        );
        assert!(e.lines.is_empty());
        assert_eq!(
            e.unpriced.iter().collect::<Vec<_>>(),
            ["MX-Requests-Tier1", "SSL-Cert-Custom"]
        );
    }

    fn broken(from: &str, to: &str) -> String {
        assert!(BUILTIN.contains(from), "{from}");
        let text = BUILTIN.replacen(from, to, 1);
        PriceTable::from_toml(&text).unwrap_err().to_string()
    }

    #[test]
    fn broken_tables_name_the_key() {
        let e = broken(
            "http_per_10k = 0.0090\nhttps_per_10k = 0.0120\norigin_per_gb = 0.020",
            "http_per_10k = -0.0090\nhttps_per_10k = 0.0120\norigin_per_gb = 0.020",
        );
        assert!(e.contains("regions.EU.http_per_10k"), "{e}");
        let e = broken(
            "[0.110, 0.105, 0.090, 0.080, 0.060, 0.050, 0.040]",
            "[0.110, 0.105]",
        );
        assert!(e.contains("regions.ZA.transfer_out_per_gb"), "{e}");
        let e = broken("51200, 153600", "153600, 51200");
        assert!(e.contains("tier_start_gb[3]"), "{e}");
        let e = broken("[regions.IN]", "[regions.MX]");
        assert!(e.contains("regions.MX"), "{e}");
        let e = broken("[regions.IN]\n", "[regions.IN]\nsurcharge = 1\n");
        assert!(e.contains("surcharge"), "{e}");
        let e = broken("per_path = 0.005", "per_path = \"cheap\"");
        assert!(e.contains("per_path"), "{e}");
        let e = broken("as_of = \"2026-08\"\n", "");
        assert!(e.contains("as_of"), "{e}");
        let text: String = BUILTIN.split("[regions.AP]").next().unwrap().to_owned();
        let e = PriceTable::from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("regions.AP") && e.contains("missing"), "{e}");
    }

    #[test]
    fn prices_print_as_aws_does() {
        assert_eq!(fmt_price(85_000_000, 3), "$0.085");
        assert_eq!(fmt_price(10_000_000, 4), "$0.0100");
        assert_eq!(fmt_price(750, 4), "$0.00000075");
        assert_eq!(fmt_price(125_000_000, 3), "$0.125");
        assert_eq!(fmt_thousands(1_000), "1,000");
        assert_eq!(fmt_thousands(999), "999");
        assert_eq!(fmt_thousands(10_000_000), "10,000,000");
        assert_eq!(Amount(DEN / 2).nanodollars(), 1);
        assert_eq!(Amount(DEN / 2 - 1).nanodollars(), 0);
    }

    fn sample() -> Estimate {
        estimate(
            &PriceTable::builtin(),
            &[
                row(NOV_1, "GET", "US-Requests-Tier2-HTTPS", 20_000),
                row(NOV_1, "GET", "US-DataTransfer-Out-Bytes", 1 << 30),
            ],
        )
    }

    #[test]
    fn csv_rendering() {
        let mut out = Vec::new();
        render_cost_csv(&sample(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Month,UsageType,Rate,UsageValue,Quantity,Unit,Amount,Currency,PricesAsOf\n\
             2026-11,US-DataTransfer-Out-Bytes,$0.085 per GB - first 10 TB / month data transfer out (United States),1073741824,1.000000000,GB,0.085000000,USD,2026-08\n\
             2026-11,US-Requests-Tier2-HTTPS,\"$0.0100 per 10,000 HTTPS Requests (United States)\",20000,20000,Requests,0.020000000,USD,2026-08\n\
             Total,,,,,,0.105000000,USD,2026-08\n"
        );
    }

    #[test]
    fn json_rendering() {
        let mut out = Vec::new();
        render_cost_json(&sample(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["pricesAsOf"], "2026-08");
        assert_eq!(v["currency"], "USD");
        assert_eq!(v["total"], "0.105000000");
        assert_eq!(v["months"][0]["month"], "2026-11");
        assert_eq!(
            v["lines"][1]["rate"],
            "$0.0100 per 10,000 HTTPS Requests (United States)"
        );
        assert_eq!(v["lines"][1]["amount"], "0.020000000");
        assert_eq!(v["lines"][0]["usageValue"], 1_073_741_824u64);
    }

    #[test]
    fn table_rendering() {
        let mut out = Vec::new();
        render_cost_table(&sample(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "CloudFront cost estimate in USD, list prices as of 2026-08 (https://aws.amazon.com/cloudfront/pricing/)"
        );
        assert!(lines[1].starts_with("Month    Usage type"), "{}", lines[1]);
        assert!(
            lines[2]
                .contains("$0.085 per GB - first 10 TB / month data transfer out (United States)")
        );
        assert!(
            lines[2].ends_with("1.000000000 GB  $0.0850"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with("20000 Requests  $0.0200"),
            "{}",
            lines[3]
        );
        assert!(
            lines[4].starts_with("2026-11  Total") && lines[4].ends_with("$0.1050"),
            "{}",
            lines[4]
        );
        assert_eq!(lines[5], "Total: $0.1050 USD");
    }
}
