//! Tests for cache and origin request policies.

use super::*;
use crate::model::tree::{from_toml, from_xml};

/// caching.md §5.2's example, serialised by botocore for CreateCachePolicy.
const BOTOCORE_XML: &[u8] = include_bytes!("fixtures/create-cache-policy.xml");

fn example() -> CachePolicyConfig {
    let (root, t) = from_xml(BOTOCORE_XML).unwrap();
    assert_eq!(root, "CachePolicyConfig");
    let mut d = Diagnostics::new();
    let c = CachePolicyConfig::from_tree(&t, &mut d);
    assert!(d.errors.is_empty(), "{d}");
    c.unwrap()
}

fn errors(f: impl FnOnce(&mut Diagnostics)) -> Vec<(String, &'static str)> {
    let mut d = Diagnostics::new();
    f(&mut d);
    d.errors.into_iter().map(|i| (i.path, i.code)).collect()
}

#[test]
fn cache_policy_round_trip() {
    let c = example();
    assert_eq!(c.name, "my-policy");
    assert_eq!(c.comment.as_deref(), Some(""), "an empty Comment is kept");
    assert_eq!(
        (c.min_ttl, c.effective_default_ttl(), c.effective_max_ttl()),
        (1, 86_400, 31_536_000)
    );
    let p = &c.parameters;
    assert!(p.enable_accept_encoding_gzip && p.enable_accept_encoding_brotli);
    assert_eq!(p.headers.behavior, CachePolicyHeaderBehavior::Whitelist);
    assert_eq!(p.headers.names, ["Origin"]);
    assert_eq!(p.query_strings.names, ["v"]);
    assert!(errors(|d| c.validate(d)).is_empty());

    let xml = c.to_tree().to_xml("CachePolicyConfig");
    assert!(xml.contains(
        "<QueryStrings><Quantity>1</Quantity><Items><Name>v</Name></Items></QueryStrings>"
    ));
    assert!(
        xml.contains("<Headers><Quantity>1</Quantity><Items><Name>Origin</Name></Items></Headers>")
    );
    assert!(xml.contains("<CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig>"));
    let (_, t) = from_xml(xml.as_bytes()).unwrap();
    let mut d = Diagnostics::new();
    assert_eq!(CachePolicyConfig::from_tree(&t, &mut d), Some(c));
}

#[test]
fn cache_policy_from_toml_and_required_members() {
    let v: toml::Value = toml::from_str(
        r#"
name = "p"
min_ttl = 0
[parameters_in_cache_key_and_forwarded_to_origin]
enable_accept_encoding_gzip = false
headers_config = { header_behavior = "none" }
cookies_config = { cookie_behavior = "allExcept", cookies = ["tracking"] }
query_strings_config = { query_string_behavior = "all" }
"#,
    )
    .unwrap();
    let mut d = Diagnostics::new();
    let c = CachePolicyConfig::from_tree(&from_toml(&v), &mut d).unwrap();
    assert_eq!(c.parameters.cookies.names, ["tracking"]);
    assert_eq!(
        c.parameters.cookies.behavior,
        CachePolicyCookieBehavior::AllExcept
    );

    let (_, t) = from_xml(b"<CachePolicyConfig><ParametersInCacheKeyAndForwardedToOrigin><HeadersConfig><HeaderBehavior>all</HeaderBehavior></HeadersConfig></ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig>").unwrap();
    let mut d = Diagnostics::new();
    assert!(CachePolicyConfig::from_tree(&t, &mut d).is_none());
    let got: Vec<_> = d.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        got,
        [
            "CachePolicyConfig.Name",
            "CachePolicyConfig.MinTTL",
            "CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.EnableAcceptEncodingGzip",
            "CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.HeadersConfig.HeaderBehavior",
            "CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.CookiesConfig",
            "CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.QueryStringsConfig",
        ]
    );
    assert!(
        d.errors[3]
            .message
            .contains("expected one of none, whitelist")
    );
}

#[test]
fn ttl_defaults_follow_min_ttl() {
    let mut c = example();
    c.default_ttl = None;
    c.max_ttl = None;
    c.min_ttl = 100_000;
    assert_eq!(c.effective_default_ttl(), 100_000);
    assert_eq!(c.effective_max_ttl(), 31_536_000);
    c.min_ttl = 40_000_000;
    assert_eq!(c.effective_max_ttl(), 40_000_000);
}

#[test]
fn cache_policy_rules() {
    const P: &str = "CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin";
    let mut c = example();
    c.name = "bad name".into();
    c.comment = Some("c".repeat(129));
    c.min_ttl = 10;
    c.default_ttl = Some(5);
    let e = errors(|d| c.validate(d));
    assert!(e.contains(&("CachePolicyConfig.Name".into(), "InvalidArgument")));
    assert!(e.contains(&("CachePolicyConfig.Comment".into(), "InvalidArgument")));
    assert!(e.contains(&("CachePolicyConfig".into(), "InvalidTTLOrder")));

    let mut c = example();
    c.max_ttl = Some(MAX_TTL_SECONDS + 1);
    assert!(
        errors(|d| c.validate(d)).contains(&("CachePolicyConfig.MaxTTL".into(), "InvalidArgument"))
    );

    let mut c = example();
    let p = &mut c.parameters;
    p.headers.names = (0..11).map(|i| format!("X-{i}")).collect();
    p.cookies = NameList {
        behavior: CachePolicyCookieBehavior::Whitelist,
        names: (0..11).map(|i| format!("c{i}")).collect(),
    };
    p.query_strings.names = (0..11).map(|i| format!("q{i}")).collect();
    let e = errors(|d| c.validate(d));
    assert!(e.contains(&(
        format!("{P}.HeadersConfig.Headers"),
        "TooManyHeadersInCachePolicy"
    )));
    assert!(e.contains(&(
        format!("{P}.CookiesConfig.Cookies"),
        "TooManyCookiesInCachePolicy"
    )));
    assert!(e.contains(&(
        format!("{P}.QueryStringsConfig.QueryStrings"),
        "TooManyQueryStringsInCachePolicy"
    )));

    let mut c = example();
    c.parameters.query_strings.names = vec!["q".repeat(1100)];
    assert!(errors(|d| c.validate(d)).contains(&(P.into(), "InvalidArgument")));

    let mut c = example();
    let p = &mut c.parameters;
    p.headers.names = vec![
        "Accept-Encoding".into(),
        "CloudFront-Viewer-JA3-Fingerprint".into(),
        "x-a".into(),
        "X-A".into(),
    ];
    p.cookies = NameList {
        behavior: CachePolicyCookieBehavior::Whitelist,
        names: vec![],
    };
    p.query_strings = NameList {
        behavior: CachePolicyQueryStringBehavior::All,
        names: vec!["v".into()],
    };
    let e = errors(|d| c.validate(d));
    assert!(e.contains(&(
        format!("{P}.HeadersConfig.Headers.Items[0]"),
        "InvalidArgument"
    )));
    assert!(e.contains(&(
        format!("{P}.HeadersConfig.Headers.Items[1]"),
        "InvalidArgument"
    )));
    assert!(
        e.contains(&(
            format!("{P}.HeadersConfig.Headers.Items[3]"),
            "InvalidArgument"
        )),
        "{e:?}"
    );
    assert!(!e.iter().any(|(p, _)| p.ends_with("Items[2]")));
    assert!(e.contains(&(format!("{P}.CookiesConfig.Cookies"), "InvalidArgument")));
    assert!(e.contains(&(
        format!("{P}.QueryStringsConfig.QueryStrings"),
        "InvalidArgument"
    )));

    let mut c = example();
    c.min_ttl = 0;
    c.default_ttl = Some(0);
    c.max_ttl = Some(0);
    assert!(errors(|d| c.validate(d)).contains(&(P.into(), "InvalidArgument")));
}

#[test]
fn origin_request_policy_round_trip_and_rules() {
    let xml = br#"<OriginRequestPolicyConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Comment>c</Comment><Name>orp</Name><HeadersConfig><HeaderBehavior>allViewerAndWhitelistCloudFront</HeaderBehavior><Headers><Quantity>1</Quantity><Items><Name>CloudFront-Viewer-Country</Name></Items></Headers></HeadersConfig><CookiesConfig><CookieBehavior>all</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>whitelist</QueryStringBehavior><QueryStrings><Quantity>1</Quantity><Items><Name>a</Name></Items></QueryStrings></QueryStringsConfig></OriginRequestPolicyConfig>"#;
    let (_, t) = from_xml(xml).unwrap();
    let mut d = Diagnostics::new();
    let c = OriginRequestPolicyConfig::from_tree(&t, &mut d).unwrap();
    assert_eq!(
        c.headers.behavior,
        OriginRequestPolicyHeaderBehavior::AllViewerAndWhitelistCloudFront
    );
    assert!(errors(|d| c.validate(d)).is_empty());
    let out = c.to_tree().to_xml("OriginRequestPolicyConfig");
    let (_, t2) = from_xml(out.as_bytes()).unwrap();
    assert_eq!(
        OriginRequestPolicyConfig::from_tree(&t2, &mut d),
        Some(c.clone())
    );

    let mut bad = c.clone();
    bad.headers.names = vec!["X-Custom".into()];
    bad.cookies.names = vec!["x".into()];
    bad.query_strings.names = (0..31).map(|i| format!("q{i}")).collect();
    let e = errors(|d| bad.validate(d));
    assert!(e.contains(&(
        "OriginRequestPolicyConfig.HeadersConfig.Headers.Items[0]".into(),
        "InvalidArgument"
    )));
    assert!(e.contains(&(
        "OriginRequestPolicyConfig.CookiesConfig.Cookies".into(),
        "InvalidArgument"
    )));
    assert!(e.contains(&(
        "OriginRequestPolicyConfig.QueryStringsConfig.QueryStrings".into(),
        "TooManyQueryStringsInOriginRequestPolicy"
    )));
    let mut bad = c;
    bad.headers = NameList {
        behavior: OriginRequestPolicyHeaderBehavior::AllExcept,
        names: vec![],
    };
    assert!(errors(|d| bad.validate(d)).contains(&(
        "OriginRequestPolicyConfig.HeadersConfig.Headers".into(),
        "InvalidArgument"
    )));
}

#[test]
fn managed_policies_are_valid_and_complete() {
    let cps = managed_cache_policies();
    assert_eq!(cps.len(), 11);
    for p in cps {
        let c = p.config();
        assert!(errors(|d| c.validate(d)).is_empty(), "{}", p.name);
        assert_eq!(managed_cache_policy(p.id), Some(p));
    }
    let opt = managed_cache_policy("658327ea-f89d-4fab-a63d-7e88639e58f6").unwrap();
    assert_eq!(
        (
            opt.min_ttl,
            opt.default_ttl,
            opt.max_ttl,
            opt.gzip,
            opt.brotli
        ),
        (1, 86_400, 31_536_000, true, true)
    );
    let off = managed_cache_policy("4135ea2d-6df8-44a3-9df3-4b5a84be39ad").unwrap();
    assert_eq!(off.config().effective_max_ttl(), 0);
    let amplify = managed_cache_policy("2e54312d-136d-493c-8eb9-b001f22f67d2").unwrap();
    assert_eq!(
        amplify.headers,
        ["Authorization", "CloudFront-Viewer-Country", "Host"]
    );
    for id in [
        "4d1d2f1d-3a71-49ad-9e08-7ea5d843a556",
        "a6bad946-36c3-4c33-aa98-362c74a7fb13",
        "1c6db51a-a33f-469a-8245-dae26771f530",
        "7e5fad67-ee98-4ad0-b05a-394999eefc1a",
        "08627262-05a9-4f76-9ded-b50ca2e3a84f",
        "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
        "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
        "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
    ] {
        assert!(managed_cache_policy(id).is_some(), "{id}");
    }

    let orps = managed_origin_request_policies();
    assert_eq!(orps.len(), 8);
    for p in orps {
        let c = p.config();
        assert!(errors(|d| c.validate(d)).is_empty(), "{}", p.name);
        assert_eq!(managed_origin_request_policy(p.id), Some(p));
    }
    let except = managed_origin_request_policy("b689b0a8-53d0-40ab-baf2-68738e2966ac").unwrap();
    assert_eq!(
        except.header_behavior,
        OriginRequestPolicyHeaderBehavior::AllExcept
    );
    assert_eq!(except.headers, ["host"]);
}

#[test]
fn cache_policy_refuses_origin_request_policy_only_headers() {
    let mut c = example();
    c.parameters.headers = NameList {
        behavior: CachePolicyHeaderBehavior::Whitelist,
        names: vec!["CloudFront-Viewer-Country".into()],
    };
    assert!(errors(|d| c.validate(d)).is_empty());
    c.parameters
        .headers
        .names
        .push("cloudfront-viewer-address".into());
    let errs = errors(|d| c.validate(d));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].1, "InvalidArgument", "{errs:?}");
    c.parameters.headers.names[1] = "CloudFront-Viewer-Header-Order".into();
    assert_eq!(errors(|d| c.validate(d)).len(), 1);
}
