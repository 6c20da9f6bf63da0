use super::*;
use crate::model::tree;

/// The XML botocore sends for the reference's §2 example.
const FULL: &str = r#"<ResponseHeadersPolicyConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Name>my-rhp</Name><Comment>x</Comment><CorsConfig><AccessControlAllowOrigins><Quantity>1</Quantity><Items><Origin>https://a.example</Origin></Items></AccessControlAllowOrigins><AccessControlAllowHeaders><Quantity>1</Quantity><Items><Header>*</Header></Items></AccessControlAllowHeaders><AccessControlAllowMethods><Quantity>2</Quantity><Items><Method>GET</Method><Method>OPTIONS</Method></Items></AccessControlAllowMethods><AccessControlAllowCredentials>false</AccessControlAllowCredentials><AccessControlExposeHeaders><Quantity>1</Quantity><Items><Header>ETag</Header></Items></AccessControlExposeHeaders><AccessControlMaxAgeSec>600</AccessControlMaxAgeSec><OriginOverride>true</OriginOverride></CorsConfig><SecurityHeadersConfig><XSSProtection><Override>true</Override><Protection>true</Protection><ModeBlock>true</ModeBlock></XSSProtection><FrameOptions><Override>true</Override><FrameOption>DENY</FrameOption></FrameOptions><ReferrerPolicy><Override>true</Override><ReferrerPolicy>strict-origin-when-cross-origin</ReferrerPolicy></ReferrerPolicy><ContentSecurityPolicy><Override>true</Override><ContentSecurityPolicy>default-src 'self'</ContentSecurityPolicy></ContentSecurityPolicy><ContentTypeOptions><Override>true</Override></ContentTypeOptions><StrictTransportSecurity><Override>false</Override><IncludeSubdomains>true</IncludeSubdomains><Preload>true</Preload><AccessControlMaxAgeSec>31536000</AccessControlMaxAgeSec></StrictTransportSecurity></SecurityHeadersConfig><ServerTimingHeadersConfig><Enabled>true</Enabled><SamplingRate>12.5</SamplingRate></ServerTimingHeadersConfig><CustomHeadersConfig><Quantity>1</Quantity><Items><ResponseHeadersPolicyCustomHeader><Header>X-Env</Header><Value>prod</Value><Override>false</Override></ResponseHeadersPolicyCustomHeader></Items></CustomHeadersConfig><RemoveHeadersConfig><Quantity>1</Quantity><Items><ResponseHeadersPolicyRemoveHeader><Header>Server</Header></ResponseHeadersPolicyRemoveHeader></Items></RemoveHeadersConfig></ResponseHeadersPolicyConfig>"#;

fn decode(xml: &str) -> (Option<ResponseHeadersPolicyConfig>, Diagnostics) {
    let (root, t) = tree::from_xml(xml.as_bytes()).unwrap();
    assert_eq!(root, "ResponseHeadersPolicyConfig");
    let mut d = Diagnostics::new();
    let c = ResponseHeadersPolicyConfig::from_tree(&t, &mut d);
    if let Some(c) = &c {
        c.validate(&mut d);
    }
    (c, d)
}

fn codes(d: &Diagnostics) -> Vec<&str> {
    d.errors.iter().map(|e| e.code).collect()
}

#[test]
fn the_reference_example_decodes_and_writes_back_as_botocore_sent_it() {
    let (c, d) = decode(FULL);
    assert!(d.errors.is_empty(), "{d}");
    let c = c.unwrap();
    let cors = c.cors.as_ref().unwrap();
    assert_eq!(cors.allow_methods, [CorsMethod::Get, CorsMethod::Options]);
    assert_eq!(cors.max_age_sec, Some(600));
    let s = c.security.as_ref().unwrap();
    assert_eq!(s.frame_options, Some((true, FrameOption::Deny)));
    assert_eq!(
        s.strict_transport_security.as_ref().unwrap().max_age_sec,
        31_536_000
    );
    assert_eq!(c.server_timing.as_ref().unwrap().sampling_rate, Some(12.5));
    assert_eq!(
        c.remove_headers.as_deref(),
        Some(&["Server".to_owned()][..])
    );
    // Written back, member for member (Comment before Name, as the model orders them).
    let out = c.to_tree().to_xml("ResponseHeadersPolicyConfig");
    let (_, again) = tree::from_xml(out.as_bytes()).unwrap();
    let mut d = Diagnostics::new();
    assert_eq!(
        ResponseHeadersPolicyConfig::from_tree(&again, &mut d).as_ref(),
        Some(&c)
    );
    for item in [
        "<Origin>https://a.example</Origin>",
        "<Header>ETag</Header>",
        "<Method>OPTIONS</Method>",
        "<ResponseHeadersPolicyCustomHeader><Header>X-Env</Header><Value>prod</Value><Override>false</Override></ResponseHeadersPolicyCustomHeader>",
        "<ResponseHeadersPolicyRemoveHeader><Header>Server</Header></ResponseHeadersPolicyRemoveHeader>",
        "<SamplingRate>12.5</SamplingRate>",
    ] {
        assert!(out.contains(item), "{item} missing from {out}");
    }
}

#[test]
fn quantities_quotas_and_forbidden_names_have_cloudfronts_codes() {
    let bad_quantity = FULL.replace(
        "<CustomHeadersConfig><Quantity>1</Quantity>",
        "<CustomHeadersConfig><Quantity>2</Quantity>",
    );
    assert_eq!(codes(&decode(&bad_quantity).1), ["InconsistentQuantities"]);

    let long_csp = FULL.replace("default-src 'self'", &"a".repeat(1_784));
    assert_eq!(
        codes(&decode(&long_csp).1),
        ["TooLongCSPInResponseHeadersPolicy"]
    );

    let custom: String = (0..11)
        .map(|i| format!("<ResponseHeadersPolicyCustomHeader><Header>X-H{i}</Header><Value>v</Value><Override>false</Override></ResponseHeadersPolicyCustomHeader>"))
        .collect();
    let many = FULL.replace(
        "<CustomHeadersConfig><Quantity>1</Quantity><Items><ResponseHeadersPolicyCustomHeader><Header>X-Env</Header><Value>prod</Value><Override>false</Override></ResponseHeadersPolicyCustomHeader></Items>",
        &format!("<CustomHeadersConfig><Quantity>11</Quantity><Items>{custom}</Items>"),
    );
    assert_eq!(
        codes(&decode(&many).1),
        ["TooManyCustomHeadersInResponseHeadersPolicy"]
    );

    let remove: String = (0..11)
        .map(|i| format!("<ResponseHeadersPolicyRemoveHeader><Header>X-R{i}</Header></ResponseHeadersPolicyRemoveHeader>"))
        .collect();
    let many = FULL.replace(
        "<RemoveHeadersConfig><Quantity>1</Quantity><Items><ResponseHeadersPolicyRemoveHeader><Header>Server</Header></ResponseHeadersPolicyRemoveHeader></Items>",
        &format!("<RemoveHeadersConfig><Quantity>11</Quantity><Items>{remove}</Items>"),
    );
    assert_eq!(
        codes(&decode(&many).1),
        ["TooManyRemoveHeadersInResponseHeadersPolicy"]
    );

    for forbidden in ["Content-Length", "X-Amz-Cf-Pop", "x-edge-location", "Via"] {
        let x = FULL.replace(
            "<Header>Server</Header>",
            &format!("<Header>{forbidden}</Header>"),
        );
        let (_, d) = decode(&x);
        assert_eq!(codes(&d), ["InvalidArgument"], "{forbidden}: {d}");
    }

    let both = FULL.replace(
        "<ModeBlock>true</ModeBlock>",
        "<ModeBlock>true</ModeBlock><ReportUri>https://r.example</ReportUri>",
    );
    assert_eq!(codes(&decode(&both).1), ["InvalidArgument"]);

    let rate = FULL.replace("12.5", "100.5");
    assert_eq!(codes(&decode(&rate).1), ["InvalidArgument"]);
    let rate = FULL.replace("12.5", "1.23456");
    assert_eq!(codes(&decode(&rate).1), ["InvalidArgument"]);

    let method = FULL.replace("<Method>GET</Method>", "<Method>get</Method>");
    assert_eq!(codes(&decode(&method).1), ["InvalidArgument"]);

    let origin = FULL.replace("https://a.example", "https://exa*mple.org");
    assert_eq!(codes(&decode(&origin).1), ["InvalidArgument"]);

    let missing = FULL.replace("<OriginOverride>true</OriginOverride>", "");
    assert!(!decode(&missing).1.errors.is_empty());
}

#[test]
fn origin_patterns_follow_the_guides_table() {
    let m = |entry: &str, origin: &str| OriginPattern::parse(entry).unwrap().matches(origin);
    assert!(m("http://*.example.org", "http://www.example.org"));
    assert!(!m("http://*.example.org", "https://test.example.org"));
    assert!(!m("http://*.example.org", "http://test.example.org:123"));
    assert!(m("*.example.org", "https://test.test.example.org"));
    assert!(m("*.example.org", "http://.example.org"));
    assert!(!m("*.example.org", "http://example.org"));
    assert!(m("example.org", "https://example.org"));
    assert!(m("example.org", "https://example.org:443"));
    assert!(!m("http://example.org", "https://example.org"));
    assert!(!m("http://example.org", "http://example.org:123"));
    assert!(m("http://example.org:*", "http://example.org:123"));
    assert!(m("http://example.org:*", "http://example.org"));
    for p in ["123", "1893", "13"] {
        assert!(m(
            "http://example.org:1*3",
            &format!("http://example.org:{p}")
        ));
    }
    assert!(!m("http://example.org:1*3", "http://example.org:124"));
    assert!(m("*.example.org:1*", "https://test.example.org:123"));
    assert!(m("*", "null"));
    for bad in [
        "example.*",
        "test.*.example.org",
        "*test.example.org",
        "exa*mple.org",
        "ftp://a.org",
    ] {
        assert!(OriginPattern::parse(bad).is_err(), "{bad}");
    }
    assert!(glob(b"x-amz-*", b"x-amz-test") && glob(b"x-amz-*", b"x-amz-"));
    assert!(!glob(b"x-amz-*", b"x-amz"));
    assert!(glob(b"x-*-amz", b"x--amz"));
    assert!(glob(b"X-AMZ-*", b"x-amz-date") && glob(b"*", b"") && !glob(b"a*b", b"ac"));
    assert!(glob(b"*a*b*c", b"xxaxxbxxc") && !glob(b"*a*b*c", b"xxaxxcxxb"));
    // Many stars against a long name stay cheap.
    let long = vec![b'x'; 20_000];
    assert!(!glob(b"*x*x*x*x*x*x*x*y", &long));
}

#[test]
fn managed_policies_have_their_real_ids_and_valid_configs() {
    let ids: Vec<&str> = managed_response_headers_policies()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        ids,
        [
            "60669652-455b-4ae9-85a4-c4c02393f86c",
            "5cc3b908-e619-4b99-88e5-2cf7f45965bd",
            "67f7725c-6f97-4210-82d7-5512b31e9d03",
            "e61eb60c-9c35-4d20-a928-2b84e02af89c",
            "eaab4381-ed33-4a86-88ca-d9558dc6cd63",
        ]
    );
    for p in managed_response_headers_policies() {
        let c = p.config();
        let mut d = Diagnostics::new();
        c.validate(&mut d);
        assert!(d.errors.is_empty(), "{}: {d}", p.name);
    }
    let sec = managed_response_headers_policy("67f7725c-6f97-4210-82d7-5512b31e9d03")
        .unwrap()
        .config()
        .security
        .unwrap();
    assert_eq!(sec.content_type_options, Some(true));
    assert_eq!(sec.frame_options, Some((false, FrameOption::SameOrigin)));
}
