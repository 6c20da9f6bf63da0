//! `edgegate usage report|cost` and `edgegate report cache-stats|popular-objects|top-referrers`:
//! where the entries come from (a data directory's journal, or the CloudFront logs that edges
//! delivered to a bucket) and how each report is printed. The admin listener's `GET /usage`
//! uses [`usage_json`] over the running edge's data directory.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::bucket::{MAX_READ, S3Client, S3Error, parse_s3_url};
use super::record::Entry;
use super::reports::{self, ReportGranularity, ReportScope};
use super::usage::{self, Granularity, Query, Rollup, UnknownGranularity};
use super::{cost, journal, pops, w3c};
use crate::config::BillingRegion;
use crate::state::StateError;

/// Why a `--from`/`--to` value (or the `from`/`to` parameter) is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    /// Unix seconds that do not fit.
    #[error("{0:?} is too large")]
    TooLarge(String),
    /// Neither RFC 3339, `YYYY-MM-DD` nor Unix seconds.
    #[error("{0:?} is not a time: use RFC 3339 (2026-11-24T20:00:00Z), YYYY-MM-DD or Unix seconds")]
    NotATime(String),
}

/// Why a usage or report command (or `GET /usage`) failed; the text is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad `--from`/`--to`.
    #[error(transparent)]
    When(#[from] WhenError),
    /// `--from` is not before `--to`.
    #[error("--from must be before --to")]
    EmptyRange,
    /// A bad `--granularity` (or `granularity` parameter) for usage.
    #[error(transparent)]
    Granularity(#[from] UnknownGranularity),
    /// A bad `--granularity` for `report cache-stats`.
    #[error("--granularity {0:?}: use hour or day")]
    ReportGranularity(String),
    /// `--account-id` is not 12 digits.
    #[error("--account-id {0:?} must be exactly 12 digits")]
    AccountId(String),
    /// `--s3-endpoint` is not a URL.
    #[error("--s3-endpoint {value:?}: {error}")]
    S3Endpoint {
        /// The value given.
        value: String,
        /// Why it is not a URL.
        #[source]
        error: http::uri::InvalidUri,
    },
    /// `--from-bucket` is not an `s3://` URL.
    #[error("--from-bucket {0:?} must look like s3://bucket/prefix")]
    BucketUrl(String),
    /// Listing or reading the bucket failed.
    #[error(transparent)]
    S3(#[from] S3Error),
    /// A delivered log object is not gzip text.
    #[error("s3://{bucket}/{key} is not a gzip text file: {error}")]
    NotGzip {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
        /// The decoder's error.
        #[source]
        error: io::Error,
    },
    /// The directory is not an edge's data directory.
    #[error("{} is not a data directory (use --data-dir DIR)", .0.display())]
    NotADataDir(PathBuf),
    /// A journal file or directory cannot be read.
    #[error("{}: {error}", path.display())]
    Journal {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: io::Error,
    },
    /// The task reading the journal failed.
    #[error("reading the journal failed: {0}")]
    JournalTask(#[from] tokio::task::JoinError),
    /// The data directory's control-plane state cannot be loaded.
    #[error(transparent)]
    State(#[from] StateError),
    /// `--pricing` cannot be read.
    #[error("--pricing {}: {error}", path.display())]
    PricingFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: io::Error,
    },
    /// `--pricing` is not a valid price table.
    #[error("--pricing {}: {error}", path.display())]
    Pricing {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        error: cost::PricingError,
    },
    /// An unknown `GET /usage` parameter.
    #[error("unknown parameter {0:?}: use from, to, granularity, distribution, detail")]
    UnknownParameter(String),
    /// A `detail` parameter other than true or false.
    #[error("detail={0:?}: use true or false")]
    Detail(String),
    /// The report cannot be encoded.
    #[error("cannot encode the report: {0}")]
    Encode(#[from] serde_json::Error),
    /// The report cannot be written.
    #[error("cannot write the report: {0}")]
    Write(#[source] io::Error),
}

/// Where usage comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Data directory of an edge (its journal and state) [default: ./data]; repeat it to add
    /// up several edges' journals in one report (an Origin Shield's requests are counted in
    /// the journals of the edges that sent them).
    #[arg(long, value_name = "DIR", conflicts_with = "from_bucket")]
    pub data_dir: Vec<PathBuf>,
    /// Add up the CloudFront logs delivered under s3://BUCKET/PREFIX (by one or many edges).
    #[arg(long, value_name = "S3URL")]
    pub from_bucket: Option<String>,
    /// S3 endpoint for --from-bucket (LocalStack, MinIO), path-style.
    #[arg(long, env = "EDGEGATE_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region of the --from-bucket bucket.
    #[arg(long, default_value = "us-east-1", value_name = "REGION")]
    pub bucket_region: String,
    /// Billing region for log lines whose edge location (x-edge-location) is not a known
    /// CloudFront airport code; only used with --from-bucket [default: US].
    #[arg(long, value_name = "CODE")]
    pub billing_region: Option<BillingRegion>,
    /// Start (inclusive): RFC 3339, YYYY-MM-DD or Unix seconds.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End (exclusive): RFC 3339, YYYY-MM-DD or Unix seconds.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only this distribution.
    #[arg(long, value_name = "ID")]
    pub distribution: Option<String>,
}

/// `edgegate usage …`.
#[derive(Debug, clap::Subcommand)]
pub enum UsageCommand {
    /// Usage rows by hour, day or month (the AWS usage report, the console's, or JSON).
    Report {
        /// Where the entries come from, and which.
        #[command(flatten)]
        source: SourceArgs,
        /// hour, day or month.
        #[arg(long, default_value = "hour")]
        granularity: Granularity,
        /// Add the usage-report detail types (…-Requests-HTTP-Static, …-Out-Bytes-HTTPS-Dynamic).
        #[arg(long)]
        detail: bool,
        /// aws-csv, console-csv or json.
        #[arg(long, default_value = "aws-csv")]
        format: UsageFormat,
        /// 12-digit account id in the distribution ARNs [default: 000000000000].
        #[arg(long, env = "EDGEGATE_ACCOUNT_ID", default_value = crate::config::DEFAULT_ACCOUNT_ID)]
        account_id: String,
    },
    /// A cost estimate: usage priced with policies/pricing.toml (or --pricing FILE).
    Cost {
        /// Where the entries come from, and which.
        #[command(flatten)]
        source: SourceArgs,
        /// A pricing table in the format of policies/pricing.toml.
        #[arg(long, value_name = "FILE")]
        pricing: Option<PathBuf>,
        /// table, csv or json.
        #[arg(long, default_value = "table")]
        format: CostFormat,
    },
    /// The journal as text: a `#Fields:` line, then one TAB-separated line per request (the 33
    /// standard-log fields and edgegate's 7 extension fields), oldest first.
    Journal {
        /// Data directory of an edge [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// `edgegate report …`: the console's other reports.
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Requests, hits, misses, errors and bytes per time bucket.
    CacheStats {
        /// Where the entries come from, and which.
        #[command(flatten)]
        source: SourceArgs,
        /// hour or day.
        #[arg(long, default_value = "hour")]
        granularity: String,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: TableFormat,
    },
    /// The 50 most requested objects.
    PopularObjects {
        /// Where the entries come from, and which.
        #[command(flatten)]
        source: SourceArgs,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: TableFormat,
    },
    /// The 25 domains that refer the most requests.
    TopReferrers {
        /// Where the entries come from, and which.
        #[command(flatten)]
        source: SourceArgs,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: TableFormat,
    },
}

/// Output of `usage report`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum UsageFormat {
    /// The AWS usage report CSV.
    AwsCsv,
    /// CloudFront's console usage report CSV.
    ConsoleCsv,
    /// JSON rows with RFC 3339 times.
    Json,
}

/// Output of `usage cost`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CostFormat {
    /// A text table.
    Table,
    /// CSV.
    Csv,
    /// JSON.
    Json,
}

/// Output of `report …`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TableFormat {
    /// The console's CSV.
    Csv,
    /// JSON.
    Json,
}

/// Parses `--from`/`--to`: RFC 3339, `YYYY-MM-DD` (midnight UTC) or Unix seconds.
pub fn parse_when(s: &str) -> Result<i64, WhenError> {
    use time::format_description::well_known::Rfc3339;
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| WhenError::TooLarge(s.to_owned()));
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &fmt) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    Err(WhenError::NotATime(s.to_owned()))
}

/// What was read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The requests, in file order.
    pub entries: Vec<Entry>,
    /// Invalidations: (time, distribution, paths). Only known from a data directory.
    pub invalidations: Vec<(i64, String, u64)>,
    /// Lines that did not parse (reported, never counted).
    pub malformed: u64,
    /// Billing region for entries without one (bucket logs from unknown edge locations).
    pub fallback_region: BillingRegion,
}

/// Range and distribution filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// First second included.
    pub from: Option<i64>,
    /// First second excluded.
    pub to: Option<i64>,
    /// Only this distribution.
    pub distribution: Option<String>,
}

impl Filter {
    /// The usage query over this range and distribution.
    fn query(self, granularity: Granularity, detail: bool) -> Query {
        Query {
            from: self.from,
            to: self.to,
            granularity,
            distribution: self.distribution,
            detail,
        }
    }

    fn hour_may_match(&self, hour: i64) -> bool {
        self.from.is_none_or(|f| hour + 3_600 > f) && self.to.is_none_or(|t| hour < t)
    }

    fn keeps(&self, e: &Entry) -> bool {
        self.from.is_none_or(|f| e.time >= f)
            && self.to.is_none_or(|t| e.time < t)
            && self
                .distribution
                .as_deref()
                .is_none_or(|d| d == e.distribution_id)
    }
}

impl SourceArgs {
    /// The range and distribution asked for.
    pub fn filter(&self) -> Result<Filter, CliError> {
        let from = self.from.as_deref().map(parse_when).transpose()?;
        let to = self.to.as_deref().map(parse_when).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(CliError::EmptyRange);
        }
        Ok(Filter {
            from,
            to,
            distribution: self.distribution.clone(),
        })
    }

    /// Reads every entry the source holds within `filter` (from [`SourceArgs::filter`]).
    pub async fn load(&self, filter: &Filter) -> Result<Loaded, CliError> {
        match &self.from_bucket {
            Some(url) => {
                let endpoint = match &self.s3_endpoint {
                    Some(e) => {
                        Some(
                            e.parse::<http::Uri>()
                                .map_err(|error| CliError::S3Endpoint {
                                    value: e.clone(),
                                    error,
                                })?,
                        )
                    }
                    None => None,
                };
                let creds: Arc<dyn crate::origin::CredentialsProvider> =
                    crate::origin::DefaultChain::shared();
                let s3 = S3Client::new(endpoint, creds);
                let mut loaded = load_bucket(&s3, url, &self.bucket_region, filter).await?;
                loaded.fallback_region = self.billing_region.unwrap_or(BillingRegion::Us);
                Ok(loaded)
            }
            None => {
                let dirs = match self.data_dir.as_slice() {
                    [] => vec![PathBuf::from("./data")],
                    dirs => dirs.to_vec(),
                };
                let mut all = Loaded::default();
                for dir in dirs {
                    let one = load_data_dir(&dir, filter).await?;
                    all.entries.extend(one.entries);
                    all.invalidations.extend(one.invalidations);
                    all.malformed += one.malformed;
                }
                Ok(all)
            }
        }
    }
}

/// Entries from a data directory's journal, and invalidations from its state.
pub async fn load_data_dir(dir: &Path, filter: &Filter) -> Result<Loaded, CliError> {
    if !dir.is_dir() {
        return Err(CliError::NotADataDir(dir.to_owned()));
    }
    let jdir = journal::journal_dir(dir);
    let files = journal::files(&jdir).map_err(|error| CliError::Journal { path: jdir, error })?;
    let filter2 = filter.clone();
    let mut loaded = tokio::task::spawn_blocking(move || -> Result<Loaded, CliError> {
        let mut loaded = Loaded::default();
        for (hour, path) in files {
            if !filter2.hour_may_match(hour) {
                continue;
            }
            let format = journal::format_of(&path);
            let mut f = std::fs::File::open(&path)
                .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
                .map_err(|error| CliError::Journal {
                    path: path.clone(),
                    error,
                })?;
            let mut text = Vec::with_capacity(1024);
            // A frame still being written is left for next time.
            let scan = journal::read_records(&mut f, format, u64::MAX, |line| {
                text.clear();
                w3c::journal_line(line, &mut text);
                match std::str::from_utf8(&text)
                    .map_err(|_| ())
                    .and_then(|t| w3c::parse_journal(t).map_err(|_| ()))
                {
                    Ok(e) if filter2.keeps(&e) => loaded.entries.push(e),
                    Ok(_) => {}
                    Err(()) => loaded.malformed += 1,
                }
                Ok(())
            })
            .map_err(|error| CliError::Journal {
                path: path.clone(),
                error,
            })?;
            if scan.unreadable {
                loaded.malformed += 1;
            }
        }
        Ok(loaded)
    })
    .await??;
    let state_dir = dir.join("state");
    if state_dir.is_dir() {
        let store = crate::state::StateStore::local(&state_dir).map_err(StateError::from)?;
        let registry = crate::state::registry::Registry::open(
            store,
            crate::config::DEFAULT_DOMAIN_SUFFIX,
            Arc::new(|_: &crate::state::registry::State| {}),
        )
        .await?;
        for list in registry.snapshot().await.invalidations.values() {
            for inv in list {
                let t = inv.created.unix_timestamp();
                let in_range =
                    filter.from.is_none_or(|f| t >= f) && filter.to.is_none_or(|e| t < e);
                let dist_ok = filter
                    .distribution
                    .as_deref()
                    .is_none_or(|d| d == inv.distribution_id);
                if in_range && dist_ok {
                    loaded.invalidations.push((
                        t,
                        inv.distribution_id.clone(),
                        inv.batch.paths.len() as u64,
                    ));
                }
            }
        }
    }
    Ok(loaded)
}

/// Entries from the gzip CloudFront logs under `s3://bucket/prefix`.
pub async fn load_bucket(
    s3: &S3Client,
    url: &str,
    region: &str,
    filter: &Filter,
) -> Result<Loaded, CliError> {
    let (bucket, prefix) = parse_s3_url(url).ok_or_else(|| CliError::BucketUrl(url.to_owned()))?;
    let wanted = |key: &str| {
        w3c::parse_object_name(key).is_some_and(|(dist, hour)| {
            filter.hour_may_match(hour) && filter.distribution.as_deref().is_none_or(|d| d == dist)
        })
    };
    let keys = s3.list(&bucket, region, &prefix, wanted).await?;
    let mut loaded = Loaded::default();
    for key in keys {
        let Some((dist, _)) = w3c::parse_object_name(&key) else {
            continue;
        };
        let gz = s3.get(&bucket, region, &key, MAX_READ).await?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .take(1 << 30)
            .read_to_string(&mut text)
            .map_err(|error| CliError::NotGzip {
                bucket: bucket.clone(),
                key: key.clone(),
                error,
            })?;
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            match w3c::parse_standard(line, &dist) {
                Ok(mut e) => {
                    e.billing_region = pops::billing_region(&e.pop);
                    if filter.keeps(&e) {
                        loaded.entries.push(e);
                    }
                }
                Err(_) => loaded.malformed += 1,
            }
        }
    }
    Ok(loaded)
}

fn rollup(loaded: &Loaded) -> Rollup {
    let mut r = Rollup::new();
    for e in &loaded.entries {
        r.add(e, loaded.fallback_region);
    }
    for (t, d, n) in &loaded.invalidations {
        r.add_invalidations(*t, d, *n);
    }
    r
}

fn warn_malformed(loaded: &Loaded) {
    if loaded.malformed > 0 {
        eprintln!(
            "edgegate: skipped {} malformed log line(s); they are not counted",
            loaded.malformed
        );
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Runs `edgegate usage …`, writing the report to `out`.
pub async fn run_usage(cmd: UsageCommand, out: &mut impl io::Write) -> Result<(), CliError> {
    match cmd {
        UsageCommand::Journal { data_dir } => {
            let dir = data_dir.unwrap_or_else(|| PathBuf::from("./data"));
            if !dir.is_dir() {
                return Err(CliError::NotADataDir(dir));
            }
            out.write_all(w3c::journal_fields_line().as_bytes())
                .map_err(CliError::Write)?;
            journal::write_text(&dir, out)
                .map(|_| ())
                .map_err(|error| CliError::Journal {
                    path: journal::journal_dir(&dir),
                    error,
                })
        }
        UsageCommand::Report {
            source,
            granularity,
            detail,
            format,
            account_id,
        } => {
            if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::AccountId(account_id));
            }
            let filter = source.filter()?;
            let loaded = source.load(&filter).await?;
            warn_malformed(&loaded);
            let q = filter.query(granularity, detail);
            let r = rollup(&loaded);
            match format {
                UsageFormat::AwsCsv => usage::render_aws_csv(&r.rows(&q), &account_id, out),
                UsageFormat::Json => usage::render_json(&r.rows(&q), &account_id, out),
                UsageFormat::ConsoleCsv => usage::render_console_csv(&r, &q, now(), out),
            }
            .map_err(CliError::Write)
        }
        UsageCommand::Cost {
            source,
            pricing,
            format,
        } => {
            let table = match &pricing {
                Some(p) => {
                    let text =
                        std::fs::read_to_string(p).map_err(|error| CliError::PricingFile {
                            path: p.clone(),
                            error,
                        })?;
                    cost::PriceTable::from_toml(&text).map_err(|error| CliError::Pricing {
                        path: p.clone(),
                        error,
                    })?
                }
                None => cost::PriceTable::builtin(),
            };
            let filter = source.filter()?;
            let loaded = source.load(&filter).await?;
            warn_malformed(&loaded);
            let q = filter.query(Granularity::Hour, false);
            let est = cost::estimate(&table, &rollup(&loaded).rows(&q));
            match format {
                CostFormat::Table => cost::render_cost_table(&est, out),
                CostFormat::Csv => cost::render_cost_csv(&est, out),
                CostFormat::Json => cost::render_cost_json(&est, out),
            }
            .map_err(CliError::Write)
        }
    }
}

/// Runs `edgegate report …`, writing the report to `out`.
pub async fn run_report(cmd: ReportCommand, out: &mut impl io::Write) -> Result<(), CliError> {
    let (source, format) = match &cmd {
        ReportCommand::CacheStats { source, format, .. }
        | ReportCommand::PopularObjects { source, format }
        | ReportCommand::TopReferrers { source, format } => (source.clone(), *format),
    };
    let filter = source.filter()?;
    let loaded = source.load(&filter).await?;
    warn_malformed(&loaded);
    let scope = ReportScope {
        from: filter
            .from
            .unwrap_or_else(|| loaded.entries.iter().map(|e| e.time).min().unwrap_or(0)),
        to: filter
            .to
            .unwrap_or_else(|| loaded.entries.iter().map(|e| e.time + 1).max().unwrap_or(1)),
        distribution: filter.distribution.clone(),
        generated_at: now(),
    };
    let text = match cmd {
        ReportCommand::CacheStats { granularity, .. } => {
            let g = match granularity.to_ascii_lowercase().as_str() {
                "hour" | "hourly" => ReportGranularity::Hour,
                "day" | "daily" => ReportGranularity::Day,
                other => {
                    return Err(CliError::ReportGranularity(other.to_owned()));
                }
            };
            let r = reports::cache_statistics(loaded.entries, &scope, g);
            match format {
                TableFormat::Csv => r.to_csv(),
                TableFormat::Json => r.to_json()?,
            }
        }
        ReportCommand::PopularObjects { .. } => {
            let r = reports::popular_objects(loaded.entries, &scope);
            match format {
                TableFormat::Csv => r.to_csv(),
                TableFormat::Json => r.to_json()?,
            }
        }
        ReportCommand::TopReferrers { .. } => {
            let r = reports::top_referrers(loaded.entries, &scope);
            match format {
                TableFormat::Csv => r.to_csv(),
                TableFormat::Json => r.to_json()?,
            }
        }
    };
    out.write_all(text.as_bytes()).map_err(CliError::Write)
}

/// `GET /usage` on the admin listener: the JSON usage report over `data_dir`. Query
/// parameters: `from`, `to`, `granularity`, `distribution`, `detail`.
pub async fn usage_json(
    data_dir: &Path,
    params: &BTreeMap<String, String>,
    account_id: &str,
) -> Result<String, CliError> {
    for k in params.keys() {
        if !matches!(
            k.as_str(),
            "from" | "to" | "granularity" | "distribution" | "detail"
        ) {
            return Err(CliError::UnknownParameter(k.clone()));
        }
    }
    let filter = Filter {
        from: params.get("from").map(|s| parse_when(s)).transpose()?,
        to: params.get("to").map(|s| parse_when(s)).transpose()?,
        distribution: params.get("distribution").cloned(),
    };
    let granularity = match params.get("granularity") {
        Some(g) => g.parse::<Granularity>()?,
        None => Granularity::Hour,
    };
    let detail = match params.get("detail").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => return Err(CliError::Detail(other.to_owned())),
    };
    let loaded = load_data_dir(data_dir, &filter).await?;
    let q = filter.query(granularity, detail);
    let mut out = Vec::new();
    usage::render_json(&rollup(&loaded).rows(&q), account_id, &mut out).map_err(CliError::Write)?;
    String::from_utf8(out)
        .map_err(|e| CliError::Write(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_when("0"), Ok(0));
        assert_eq!(parse_when("2026-11-24"), Ok(1_795_478_400));
        assert_eq!(parse_when("2026-11-24T01:00:00Z"), Ok(1_795_482_000));
        assert_eq!(
            parse_when("yesterday"),
            Err(WhenError::NotATime("yesterday".into()))
        );
        assert!(
            parse_when("yesterday")
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
        assert_eq!(
            parse_when("99999999999999999999"),
            Err(WhenError::TooLarge("99999999999999999999".into()))
        );
    }
}
