//! CloudFront Functions through the real server: functions created, tested and published with
//! the AWS CLI, associated with cache behaviors by `create-distribution`, and exercised with
//! requests (functions.md §11): SPA rewrite, redirect by country (GeoIP test database),
//! security headers, A/B cookie, query normalisation, and functions that loop, allocate without
//! bound or throw, next to one that works.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::awscli::{aws_async, blob_arg as file, err_of, json_of};
use crate::common::meter::{field, journal, journal_line};
use crate::common::origin::TestOrigin;
use crate::common::{TestEdge, get, send};

const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AllViewer (origin request policy): every viewer header, cookie and query string.
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
/// AllViewerAndCloudFrontHeaders-2022-06: adds CloudFront-Viewer-Country and friends.
const ALL_VIEWER_AND_CF: &str = "33f36d7e-f396-46d9-90e0-52428a34d9dc";
/// Position of `x-edge-detailed-result-type` on a journal line.
const DETAILED: usize = 28;

const SPA: &str = r#"function handler(event) {
    var request = event.request;
    var uri = request.uri;
    if (uri.endsWith('/')) {
        request.uri += 'index.html';
    } else if (!uri.includes('.')) {
        request.uri += '/index.html';
    }
    return request;
}
"#;

const REDIRECT_DE: &str = r#"function handler(event) {
    var request = event.request;
    var headers = request.headers;
    var host = request.headers.host.value;
    var country = 'DE';
    var newurl = `https://${host}/de/index.html`;
    if (headers['cloudfront-viewer-country']) {
        var countryCode = headers['cloudfront-viewer-country'].value;
        if (countryCode === country) {
            var response = {
                statusCode: 302,
                statusDescription: 'Found',
                headers: { "location": { "value": newurl } }
            };
            return response;
        }
    }
    return request;
}
"#;

const REDIRECT_BY_COUNTRY: &str = r#"async function handler(event) {
    const request = event.request;
    const c = request.headers['cloudfront-viewer-country'];
    const paths = { GB: 'uk', DE: 'de' };
    if (c && paths[c.value] && !request.uri.startsWith('/geo/' + paths[c.value] + '/')) {
        return {
            statusCode: 302,
            statusDescription: 'Found',
            headers: { location: { value: 'https://' + request.headers.host.value + '/geo/' + paths[c.value] + request.uri.slice(4) } }
        };
    }
    return request;
}
"#;

const SECURITY_HEADERS: &str = r#"function handler(event) {
    var response = event.response;
    var headers = response.headers;
    headers['strict-transport-security'] = { value: 'max-age=63072000; includeSubdomains; preload'};
    headers['content-security-policy'] = { value: "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; frame-ancestors 'none'"};
    headers['x-content-type-options'] = { value: 'nosniff'};
    headers['x-frame-options'] = {value: 'DENY'};
    headers['x-xss-protection'] = {value: '1; mode=block'};
    headers['referrer-policy'] = {value: 'same-origin'};
    return response;
}
"#;

const AB_REQUEST: &str = r#"function handler(event) {
    var request = event.request;
    var bucket;
    if (request.cookies.ab) {
        bucket = request.cookies.ab.value;
    } else {
        bucket = Math.random() < 0.5 ? 'a' : 'b';
        request.headers['x-ab-assigned'] = { value: bucket };
    }
    request.uri = '/' + bucket + request.uri;
    return request;
}
"#;

const AB_RESPONSE: &str = r#"function handler(event) {
    var response = event.response;
    var assigned = event.request.headers['x-ab-assigned'];
    if (assigned) {
        response.cookies.ab = { value: assigned.value, attributes: 'Path=/; Max-Age=86400' };
    }
    return response;
}
"#;

const NORMALIZE_QUERY: &str = r#"function handler(event) {
    var qs = [];
    for (var key in event.request.querystring) {
        if (event.request.querystring[key].multiValue) {
            event.request.querystring[key].multiValue.forEach((mv) => { qs.push(key + '=' + mv.value) });
        } else {
            qs.push(key + '=' + event.request.querystring[key].value);
        }
    }
    event.request.querystring = qs.sort().join('&');
    return event.request;
}
"#;

const LOOP: &str = "function handler(event) { while (true) {} }\n";
const ALLOC: &str =
    "function handler(event) { var a = []; for (;;) { a.push(new Array(100000).fill(event)); } }\n";
const THROW: &str = "function handler(event) { throw new Error('boom'); }\n";

/// Runs `aws cloudfront ARGS` against the endpoint `ep`.
async fn cli(ep: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "--endpoint-url".to_owned(),
        ep.to_owned(),
        "cloudfront".to_owned(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    aws_async(all, Vec::new()).await
}

async fn cli_json(ep: &str, args: &[&str]) -> Value {
    json_of(
        &cli(ep, args).await,
        &format!("cloudfront {}", args.join(" ")),
    )
}

/// The CLI's error output, asserting it failed.
async fn cli_err(ep: &str, args: &[&str]) -> String {
    err_of(
        &cli(ep, args).await,
        &format!("cloudfront {}", args.join(" ")),
    )
}

/// Creates and publishes a function; returns its ARN.
async fn deploy(ep: &str, dir: &Path, name: &str, runtime: &str, code: &str) -> String {
    let code = file(dir, &format!("{name}.js"), code);
    let created = cli_json(
        ep,
        &[
            "create-function",
            "--name",
            name,
            "--function-config",
            &format!("Comment={name},Runtime={runtime}"),
            "--function-code",
            &code,
        ],
    )
    .await;
    let etag = created["ETag"].as_str().unwrap().to_owned();
    let published = cli_json(
        ep,
        &["publish-function", "--name", name, "--if-match", &etag],
    )
    .await;
    assert_eq!(
        published["FunctionSummary"]["FunctionMetadata"]["Stage"],
        "LIVE"
    );
    published["FunctionSummary"]["FunctionMetadata"]["FunctionARN"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn behavior(pattern: Option<&str>, cache: &str, orp: Option<&str>, fns: &[(&str, &str)]) -> Value {
    let mut b = json!({
        "TargetOriginId": "web",
        "ViewerProtocolPolicy": "allow-all",
        "CachePolicyId": cache,
        "FunctionAssociations": {
            "Quantity": fns.len(),
            "Items": fns.iter().map(|(arn, ev)| json!({"FunctionARN": arn, "EventType": ev})).collect::<Vec<_>>()
        }
    });
    if let Some(p) = pattern {
        b["PathPattern"] = json!(p);
    }
    if let Some(o) = orp {
        b["OriginRequestPolicyId"] = json!(o);
    }
    b
}

fn distribution(port: u16, default: Value, others: Vec<Value>) -> Value {
    json!({
        "CallerReference": format!("functions-{}", edgegate::ids::uuid()),
        "Comment": "functions",
        "Enabled": true,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "web",
            "DomainName": "localhost",
            "ConnectionAttempts": 1,
            "ConnectionTimeout": 2,
            "CustomOriginConfig": {
                "HTTPPort": port, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only",
                "OriginReadTimeout": 5
            }
        }]},
        "DefaultCacheBehavior": default,
        "CacheBehaviors": {"Quantity": others.len(), "Items": others}
    })
}

/// Creates the distribution; returns its domain name.
async fn create_distribution(ep: &str, dir: &Path, cfg: &Value) -> String {
    let p = dir.join("dist.json");
    std::fs::write(&p, serde_json::to_vec(cfg).unwrap()).unwrap();
    let created = cli_json(
        ep,
        &[
            "create-distribution",
            "--distribution-config",
            &format!("file://{}", p.display()),
        ],
    )
    .await;
    created["Distribution"]["DomainName"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The GeoIP test database (scripts/gen-geoip-fixtures.py, as tests/geo.rs builds it).
fn geo_db(dir: &Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("EDGEGATE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests/.venv/bin/python"));
    let out = std::process::Command::new(&python)
        .arg(root.join("scripts/gen-geoip-fixtures.py"))
        .arg(dir)
        .output()
        .expect("gen-geoip-fixtures.py runs (use scripts/test)");
    assert!(out.status.success(), "gen-geoip-fixtures.py: {out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    PathBuf::from(v["city"].as_str().unwrap())
}

fn event_file(dir: &Path, name: &str, event: &Value) -> String {
    file(dir, name, &event.to_string())
}

#[tokio::test]
async fn functions_api_with_the_cli_and_test_function_outputs() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // Create: DEVELOPMENT, UNPUBLISHED, with an ETag and the ARN in Location's path.
    let code = file(dir, "spa.js", SPA);
    let created = cli_json(
        &ep,
        &[
            "create-function",
            "--name",
            "spa",
            "--function-config",
            "Comment=spa rewrite,Runtime=cloudfront-js-1.0",
            "--function-code",
            &code,
        ],
    )
    .await;
    let summary = &created["FunctionSummary"];
    assert_eq!(summary["Name"], "spa");
    assert_eq!(summary["Status"], "UNPUBLISHED");
    assert_eq!(summary["FunctionConfig"]["Runtime"], "cloudfront-js-1.0");
    assert_eq!(summary["FunctionMetadata"]["Stage"], "DEVELOPMENT");
    let arn = summary["FunctionMetadata"]["FunctionARN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        arn.starts_with("arn:aws:cloudfront::") && arn.ends_with(":function/spa"),
        "{arn}"
    );
    assert!(
        created["Location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/function/{arn}"))
    );
    let etag1 = created["ETag"].as_str().unwrap().to_owned();

    // The same name again; code with a syntax error; too large; `const` on 1.0.
    let e = cli_err(
        &ep,
        &[
            "create-function",
            "--name",
            "spa",
            "--function-config",
            "Comment=,Runtime=cloudfront-js-1.0",
            "--function-code",
            &code,
        ],
    )
    .await;
    assert!(e.contains("FunctionAlreadyExists"), "{e}");
    let bad = file(
        dir,
        "bad.js",
        "function handler(event) { return event.request;\n",
    );
    let e = cli_err(
        &ep,
        &[
            "create-function",
            "--name",
            "bad",
            "--function-config",
            "Comment=,Runtime=cloudfront-js-2.0",
            "--function-code",
            &bad,
        ],
    )
    .await;
    assert!(
        e.contains("InvalidArgument") && e.contains("SyntaxError"),
        "{e}"
    );
    let big = file(
        dir,
        "big.js",
        &format!(
            "function handler(e) {{ return e.request; }}\n/*{}*/",
            "x".repeat(10 * 1024)
        ),
    );
    let e = cli_err(
        &ep,
        &[
            "create-function",
            "--name",
            "big",
            "--function-config",
            "Comment=,Runtime=cloudfront-js-2.0",
            "--function-code",
            &big,
        ],
    )
    .await;
    assert!(e.contains("FunctionSizeLimitExceeded"), "{e}");
    let v1 = file(
        dir,
        "v1.js",
        "function handler(event) {\n  const r = event.request;\n  return r;\n}\n",
    );
    let e = cli_err(
        &ep,
        &[
            "create-function",
            "--name",
            "v1",
            "--function-config",
            "Comment=,Runtime=cloudfront-js-1.0",
            "--function-code",
            &v1,
        ],
    )
    .await;
    assert!(
        e.contains("InvalidArgument") && e.contains("Line 2: const"),
        "{e}"
    );

    // Describe and get: DEVELOPMENT by default; no LIVE stage yet.
    let d = cli_json(&ep, &["describe-function", "--name", "spa"]).await;
    assert_eq!(d["ETag"], etag1.as_str());
    assert_eq!(
        d["FunctionSummary"]["FunctionConfig"]["Comment"],
        "spa rewrite"
    );
    let e = cli_err(
        &ep,
        &["describe-function", "--name", "spa", "--stage", "LIVE"],
    )
    .await;
    assert!(e.contains("NoSuchFunctionExists"), "{e}");
    let out = dir.join("got.js");
    let g = cli_json(
        &ep,
        &["get-function", "--name", "spa", out.to_str().unwrap()],
    )
    .await;
    assert_eq!(g["ETag"], etag1.as_str());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), SPA);

    // Update needs the current ETag; its new ETag comes back (the model's ETtag header).
    let code2 = file(
        dir,
        "spa2.js",
        &SPA.replace(
            "var uri = request.uri;",
            "var uri = request.uri; console.log('uri ' + uri);",
        ),
    );
    let e = cli_err(
        &ep,
        &[
            "update-function",
            "--name",
            "spa",
            "--if-match",
            "EWRONG",
            "--function-config",
            "Comment=spa rewrite,Runtime=cloudfront-js-2.0",
            "--function-code",
            &code2,
        ],
    )
    .await;
    assert!(e.contains("PreconditionFailed"), "{e}");
    let u = cli_json(
        &ep,
        &[
            "update-function",
            "--name",
            "spa",
            "--if-match",
            &etag1,
            "--function-config",
            "Comment=spa rewrite,Runtime=cloudfront-js-2.0",
            "--function-code",
            &code2,
        ],
    )
    .await;
    let etag2 = u["ETag"]
        .as_str()
        .expect("UpdateFunction's ETag reaches the CLI")
        .to_owned();
    assert_ne!(etag2, etag1);
    assert_eq!(
        u["FunctionSummary"]["FunctionConfig"]["Runtime"],
        "cloudfront-js-2.0"
    );

    // TestFunction, field by field against functions.md §11.1.
    for (uri, want) in [
        ("/", "/index.html"),
        ("/blog/", "/blog/index.html"),
        ("/blog", "/blog/index.html"),
        ("/blog/app.js", "/blog/app.js"),
    ] {
        let ev = json!({
            "version": "1.0",
            "context": {"eventType": "viewer-request"},
            "viewer": {"ip": "1.2.3.4"},
            "request": {"method": "GET", "uri": uri, "querystring": {"test": {"value": "true"}}, "headers": {"host": {"value": "www.example.com"}}, "cookies": {}}
        });
        let evf = event_file(dir, "ev.json", &ev);
        let t = cli_json(
            &ep,
            &[
                "test-function",
                "--name",
                "spa",
                "--if-match",
                &etag2,
                "--event-object",
                &evf,
            ],
        )
        .await;
        let r = &t["TestResult"];
        assert_eq!(r["FunctionErrorMessage"], "", "{r}");
        assert_eq!(r["FunctionExecutionLogs"], json!([format!("uri {uri}")]));
        let u: u32 = r["ComputeUtilization"].as_str().unwrap().parse().unwrap();
        assert!(u <= 100);
        assert_eq!(r["FunctionSummary"]["Name"], "spa");
        let out: Value = serde_json::from_str(r["FunctionOutput"].as_str().unwrap()).unwrap();
        assert_eq!(out["request"]["uri"], want);
        assert_eq!(
            out["request"]["querystring"],
            json!({"test": {"value": "true"}})
        );
        assert_eq!(
            out["request"]["headers"],
            json!({"host": {"value": "www.example.com"}})
        );
        assert_eq!(out["request"]["cookies"], json!({}));
    }

    // The redirect sample (§11.2) and AWS's documented FunctionOutput shape.
    let red = file(dir, "red.js", REDIRECT_DE);
    let c = cli_json(
        &ep,
        &[
            "create-function",
            "--name",
            "redirect",
            "--function-config",
            "Comment=,Runtime=cloudfront-js-1.0",
            "--function-code",
            &red,
        ],
    )
    .await;
    let retag = c["ETag"].as_str().unwrap().to_owned();
    let ev = |country: Option<&str>| {
        let mut h = json!({"host": {"value": "www.example.com"}});
        if let Some(c) = country {
            h["cloudfront-viewer-country"] = json!({"value": c});
        }
        json!({"version": "1.0", "context": {"eventType": "viewer-request"}, "viewer": {"ip": "1.2.3.4"},
               "request": {"method": "GET", "uri": "/index.html", "querystring": {}, "headers": h, "cookies": {}}})
    };
    let evf = event_file(dir, "de.json", &ev(Some("DE")));
    let t = cli_json(
        &ep,
        &[
            "test-function",
            "--name",
            "redirect",
            "--if-match",
            &retag,
            "--event-object",
            &evf,
        ],
    )
    .await;
    let out: Value =
        serde_json::from_str(t["TestResult"]["FunctionOutput"].as_str().unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"response": {"statusCode": 302, "statusDescription": "Found", "cookies": {},
               "headers": {"location": {"value": "https://www.example.com/de/index.html"}}}})
    );
    for (name, e) in [("fr.json", ev(Some("FR"))), ("none.json", ev(None))] {
        let evf = event_file(dir, name, &e);
        let t = cli_json(
            &ep,
            &[
                "test-function",
                "--name",
                "redirect",
                "--if-match",
                &retag,
                "--event-object",
                &evf,
            ],
        )
        .await;
        let out: Value =
            serde_json::from_str(t["TestResult"]["FunctionOutput"].as_str().unwrap()).unwrap();
        assert_eq!(out["request"], e["request"], "{name}: returned unchanged");
    }

    // A function that throws: the error message, no output; one that loops: throttled.
    let thr = file(dir, "throw.js", THROW);
    let c = cli_json(
        &ep,
        &[
            "create-function",
            "--name",
            "throws",
            "--function-config",
            "Comment=,Runtime=cloudfront-js-2.0",
            "--function-code",
            &thr,
        ],
    )
    .await;
    let evf = event_file(dir, "de2.json", &ev(Some("DE")));
    let t = cli_json(
        &ep,
        &[
            "test-function",
            "--name",
            "throws",
            "--if-match",
            c["ETag"].as_str().unwrap(),
            "--event-object",
            &evf,
        ],
    )
    .await;
    assert_eq!(t["TestResult"]["FunctionErrorMessage"], "Error: boom");
    assert_eq!(t["TestResult"]["FunctionOutput"], "");
    let lp = file(dir, "loop.js", LOOP);
    let c = cli_json(
        &ep,
        &[
            "create-function",
            "--name",
            "loops",
            "--function-config",
            "Comment=,Runtime=cloudfront-js-2.0",
            "--function-code",
            &lp,
        ],
    )
    .await;
    let t = cli_json(
        &ep,
        &[
            "test-function",
            "--name",
            "loops",
            "--if-match",
            c["ETag"].as_str().unwrap(),
            "--event-object",
            &evf,
        ],
    )
    .await;
    assert!(
        t["TestResult"]["FunctionErrorMessage"]
            .as_str()
            .unwrap()
            .contains("compute budget"),
        "{t}"
    );
    assert_eq!(t["TestResult"]["ComputeUtilization"], "100");

    // Only published functions can be associated.
    let origin = TestOrigin::start().await;
    let cfg = distribution(
        origin.addr.port(),
        behavior(None, CACHING_OPTIMIZED, None, &[(&arn, "viewer-request")]),
        vec![],
    );
    let p = dir.join("d.json");
    std::fs::write(&p, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let e = cli_err(
        &ep,
        &[
            "create-distribution",
            "--distribution-config",
            &format!("file://{}", p.display()),
        ],
    )
    .await;
    assert!(e.contains("InvalidFunctionAssociation"), "{e}");
    let origin_events =
        json!({"Quantity": 1, "Items": [{"FunctionARN": arn, "EventType": "origin-request"}]});
    let mut bad_cfg = cfg.clone();
    bad_cfg["DefaultCacheBehavior"]["FunctionAssociations"] = origin_events;
    std::fs::write(&p, serde_json::to_vec(&bad_cfg).unwrap()).unwrap();
    let e = cli_err(
        &ep,
        &[
            "create-distribution",
            "--distribution-config",
            &format!("file://{}", p.display()),
        ],
    )
    .await;
    assert!(e.contains("InvalidFunctionAssociation"), "{e}");

    // Publish: LIVE, UNASSOCIATED until a behavior uses it, then DEPLOYED.
    let p1 = cli_json(
        &ep,
        &["publish-function", "--name", "spa", "--if-match", &etag2],
    )
    .await;
    assert_eq!(p1["FunctionSummary"]["Status"], "UNASSOCIATED");
    assert_eq!(p1["FunctionSummary"]["FunctionMetadata"]["Stage"], "LIVE");
    let domain = create_distribution(&ep, dir, &cfg).await;
    let d = cli_json(
        &ep,
        &["describe-function", "--name", "spa", "--stage", "LIVE"],
    )
    .await;
    assert_eq!(d["FunctionSummary"]["Status"], "DEPLOYED");
    assert_eq!(d["ETag"], etag2.as_str());
    let r = get(edge.viewer, &domain, "/blog").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "origin:/blog/index.html");

    // List: one entry per stage.
    let l = cli_json(&ep, &["list-functions"]).await;
    let names: Vec<(String, String)> = l["FunctionList"]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["Name"].as_str().unwrap().to_owned(),
                f["FunctionMetadata"]["Stage"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        names.contains(&("spa".into(), "LIVE".into()))
            && names.contains(&("spa".into(), "DEVELOPMENT".into())),
        "{names:?}"
    );
    assert!(names.contains(&("redirect".into(), "DEVELOPMENT".into())));
    let l = cli_json(&ep, &["list-functions", "--stage", "LIVE"]).await;
    assert_eq!(l["FunctionList"]["Quantity"], 1);

    // In use: cannot be deleted. Others can, with the current ETag.
    let e = cli_err(
        &ep,
        &["delete-function", "--name", "spa", "--if-match", &etag2],
    )
    .await;
    assert!(e.contains("FunctionInUse"), "{e}");
    let e = cli_err(
        &ep,
        &[
            "delete-function",
            "--name",
            "redirect",
            "--if-match",
            "EWRONG",
        ],
    )
    .await;
    assert!(e.contains("PreconditionFailed"), "{e}");
    cli_json(
        &ep,
        &[
            "delete-function",
            "--name",
            "redirect",
            "--if-match",
            &retag,
        ],
    )
    .await;
    let e = cli_err(&ep, &["describe-function", "--name", "redirect"]).await;
    assert!(e.contains("NoSuchFunctionExists"), "{e}");

    // Functions survive a restart, and the edge still runs the LIVE one.
    let data = edge.stop().await;
    let edge = TestEdge::start_in("", data).await;
    let ep = format!("http://{}", edge.admin);
    let d = cli_json(
        &ep,
        &["describe-function", "--name", "spa", "--stage", "LIVE"],
    )
    .await;
    assert_eq!(d["ETag"], etag2.as_str());
    let r = get(edge.viewer, &domain, "/docs/").await;
    assert_eq!(r.text(), "origin:/docs/index.html");
    edge.stop().await;
}

#[tokio::test]
async fn viewer_functions_change_requests_and_responses_through_the_edge() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = geo_db(dir);
    let edge = TestEdge::start(&format!(
        "trusted_proxies = [\"127.0.0.0/8\"]\ngeoip_db = \"{}\"\n",
        db.display()
    ))
    .await;
    let ep = format!("http://{}", edge.admin);
    let origin = TestOrigin::start().await;
    origin.program("/secure/missing", 404, &[("content-type", "text/plain")]);

    let spa = deploy(&ep, dir, "spa", "cloudfront-js-2.0", SPA).await;
    let geo = deploy(&ep, dir, "geo", "cloudfront-js-2.0", REDIRECT_BY_COUNTRY).await;
    let sec = deploy(&ep, dir, "sec", "cloudfront-js-1.0", SECURITY_HEADERS).await;
    let ab_req = deploy(&ep, dir, "ab-req", "cloudfront-js-1.0", AB_REQUEST).await;
    let ab_resp = deploy(&ep, dir, "ab-resp", "cloudfront-js-1.0", AB_RESPONSE).await;
    let norm = deploy(&ep, dir, "norm", "cloudfront-js-2.0", NORMALIZE_QUERY).await;
    let cfg = distribution(
        origin.addr.port(),
        behavior(None, CACHING_OPTIMIZED, None, &[(&spa, "viewer-request")]),
        vec![
            behavior(
                Some("/geo/*"),
                CACHING_DISABLED,
                Some(ALL_VIEWER_AND_CF),
                &[(&geo, "viewer-request")],
            ),
            behavior(
                Some("/secure/*"),
                CACHING_OPTIMIZED,
                None,
                &[(&sec, "viewer-response")],
            ),
            behavior(
                Some("/ab/*"),
                CACHING_DISABLED,
                Some(ALL_VIEWER),
                &[(&ab_req, "viewer-request"), (&ab_resp, "viewer-response")],
            ),
            behavior(
                Some("/q/*"),
                CACHING_DISABLED,
                Some(ALL_VIEWER),
                &[(&norm, "viewer-request")],
            ),
        ],
    );
    let domain = create_distribution(&ep, dir, &cfg).await;

    // SPA rewrite: the origin is asked for the rewritten path; the second request is a hit
    // cached under it; a file keeps its name.
    let r = get(edge.viewer, &domain, "/blog").await;
    assert_eq!(
        (r.status, r.text()),
        (200, "origin:/blog/index.html".to_owned())
    );
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    let r = get(edge.viewer, &domain, "/blog/").await;
    assert_eq!(r.text(), "origin:/blog/index.html");
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(
        get(edge.viewer, &domain, "/blog/app.js").await.text(),
        "origin:/blog/app.js"
    );
    // A changed URI does not re-select the behavior: /x → /x/index.html stays on the default
    // behavior even though /secure/* would match "/secure" + "/index.html".
    let r = get(edge.viewer, &domain, "/secure").await;
    assert_eq!(r.text(), "origin:/secure/index.html");
    assert!(
        r.header("x-frame-options").is_none(),
        "the /secure/* behavior did not run"
    );

    // Redirect by country: GB (from the GeoIP test database) is redirected without an origin
    // request; SE (loopback) and unlocatable viewers go through.
    let before = origin.hits_for("/geo");
    let r = send(
        edge.viewer,
        "GET",
        &domain,
        "/geo/page",
        &[("x-forwarded-for", "2.125.160.216")],
        b"",
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("https://{domain}/geo/uk/page").as_str())
    );
    assert_eq!(
        r.header("x-cache"),
        Some("FunctionGeneratedResponse from cloudfront")
    );
    assert_eq!(origin.hits_for("/geo"), before);
    // A viewer cannot spoof the country header.
    let r = send(
        edge.viewer,
        "GET",
        &domain,
        "/geo/page",
        &[("cloudfront-viewer-country", "GB")],
        b"",
    )
    .await;
    assert_eq!((r.status, r.text()), (200, "origin:/geo/page".to_owned()));
    let r = send(
        edge.viewer,
        "GET",
        &domain,
        "/geo/page",
        &[("x-forwarded-for", "214.1.1.1")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);

    // Security headers on a 200 (miss and hit), none on the origin's 404.
    for want in ["Miss from cloudfront", "Hit from cloudfront"] {
        let r = get(edge.viewer, &domain, "/secure/page.html").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-cache"), Some(want));
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=63072000; includeSubdomains; preload")
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("same-origin"));
        assert_eq!(r.header("x-xss-protection"), Some("1; mode=block"));
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .starts_with("default-src 'none'")
        );
        assert_eq!(r.text(), "origin:/secure/page.html");
    }
    let r = get(edge.viewer, &domain, "/secure/missing").await;
    assert_eq!(r.status, 404);
    assert!(r.header("strict-transport-security").is_none());
    assert!(r.header("x-frame-options").is_none());

    // A/B: without a cookie a bucket is assigned and set; with one, it is used and not set.
    let r = get(edge.viewer, &domain, "/ab/page").await;
    assert_eq!(r.status, 200);
    let ab_cookies = |r: &crate::common::Resp| -> Vec<String> {
        r.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .filter(|c| c.starts_with("ab="))
            .collect()
    };
    // The origin's own cookies stay.
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v == "origin=1")
    );
    let cookie = ab_cookies(&r).pop().expect("assigned bucket");
    let bucket = if cookie == "ab=a; Path=/; Max-Age=86400" {
        "a"
    } else {
        "b"
    };
    assert_eq!(cookie, format!("ab={bucket}; Path=/; Max-Age=86400"));
    assert_eq!(r.text(), format!("origin:/{bucket}/ab/page"));
    assert_eq!(origin.last().headers.get("x-ab-assigned").unwrap(), bucket);
    let r = send(
        edge.viewer,
        "GET",
        &domain,
        "/ab/page",
        &[("cookie", "ab=b")],
        b"",
    )
    .await;
    assert_eq!(r.text(), "origin:/b/ab/page");
    assert!(ab_cookies(&r).is_empty());

    // Query normalisation: the origin sees the sorted string; values stay encoded.
    for (q, want) in [
        ("?b=2&a=1", "a=1&b=2"),
        ("?a=2&b=1&a=1", "a=1&a=2&b=1"),
        ("?q=%20x", "q=%20x"),
        ("", ""),
    ] {
        let r = get(edge.viewer, &domain, &format!("/q/x{q}")).await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(
            origin.last().path_and_query,
            if want.is_empty() {
                "/q/x".to_owned()
            } else {
                format!("/q/x?{want}")
            },
            "{q}"
        );
    }
    edge.stop().await;
}

#[tokio::test]
async fn failing_functions_get_503_and_the_edge_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let origin = TestOrigin::start().await;
    let lp = deploy(&ep, dir, "loop", "cloudfront-js-2.0", LOOP).await;
    let alloc = deploy(&ep, dir, "alloc", "cloudfront-js-2.0", ALLOC).await;
    let thr = deploy(&ep, dir, "throw", "cloudfront-js-1.0", THROW).await;
    let bad_header = deploy(
        &ep,
        dir,
        "badheader",
        "cloudfront-js-1.0",
        "function handler(event) { event.request.headers['x-forwarded-proto'] = {value: 'https'}; return event.request; }",
    )
    .await;
    let spa = deploy(&ep, dir, "ok", "cloudfront-js-2.0", SPA).await;
    let cfg = distribution(
        origin.addr.port(),
        behavior(None, CACHING_OPTIMIZED, None, &[(&spa, "viewer-request")]),
        vec![
            behavior(
                Some("/loop/*"),
                CACHING_DISABLED,
                None,
                &[(&lp, "viewer-request")],
            ),
            behavior(
                Some("/alloc/*"),
                CACHING_DISABLED,
                None,
                &[(&alloc, "viewer-request")],
            ),
            behavior(
                Some("/throw/*"),
                CACHING_DISABLED,
                None,
                &[(&thr, "viewer-response")],
            ),
            behavior(
                Some("/bad/*"),
                CACHING_DISABLED,
                None,
                &[(&bad_header, "viewer-request")],
            ),
        ],
    );
    let domain = create_distribution(&ep, dir, &cfg).await;

    let mut ids = Vec::new();
    for round in 0..2 {
        for (path, status, label) in [
            ("/loop/x", 503, "FunctionThrottledError"),
            ("/alloc/x", 503, "FunctionExecutionError"),
            ("/throw/x", 503, "FunctionExecutionError"),
            ("/bad/x", 502, "FunctionValidationError"),
        ] {
            let r = get(edge.viewer, &domain, path).await;
            assert_eq!(r.status, status, "{path} round {round}: {}", r.text());
            assert_eq!(
                r.header("x-cache"),
                Some(format!("{label} from cloudfront").as_str()),
                "{path}"
            );
            ids.push((r.header("x-amz-cf-id").unwrap().to_owned(), label));
            // The edge keeps serving the others.
            let ok = get(edge.viewer, &domain, "/fine/").await;
            assert_eq!(
                (ok.status, ok.text()),
                (200, "origin:/fine/index.html".to_owned())
            );
        }
    }
    assert_eq!(
        origin.hits_for("/loop") + origin.hits_for("/alloc") + origin.hits_for("/bad"),
        0
    );
    // The viewer-response function ran after the origin answered.
    assert_eq!(origin.hits_for("/throw"), 2);

    // The log records the function's failure as the detailed result type.
    let metrics = get(edge.admin, "localhost", "/metrics").await;
    assert_eq!(metrics.status, 200);
    let lines = journal(edge.data_dir.path());
    for (id, label) in &ids {
        let l = journal_line(&lines, id);
        assert_eq!(l[field::RESULT], "Error");
        assert_eq!(l[DETAILED], *label, "{l:?}");
    }
    edge.stop().await;
}

/// boto3 (the SDK, not the CLI): UpdateFunction's new ETag arrives through the model's
/// `ETtag` header, and TestFunction's result parses.
#[tokio::test]
async fn boto3_reads_the_update_etag_and_test_results() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("EDGEGATE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests/.venv/bin/python"));
    let script = r#"
import json, sys, boto3
cf = boto3.client("cloudfront", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
code = b"function handler(event) { console.log('seen ' + event.request.uri); return event.request; }"
c = cf.create_function(Name="b3", FunctionConfig={"Comment": "", "Runtime": "cloudfront-js-2.0"}, FunctionCode=code)
u = cf.update_function(Name="b3", IfMatch=c["ETag"], FunctionConfig={"Comment": "v2", "Runtime": "cloudfront-js-2.0"}, FunctionCode=code)
d = cf.describe_function(Name="b3")
ev = {"version": "1.0", "context": {"eventType": "viewer-request"}, "viewer": {"ip": "1.2.3.4"},
      "request": {"method": "GET", "uri": "/x", "querystring": {}, "headers": {}, "cookies": {}}}
t = cf.test_function(Name="b3", IfMatch=u["ETag"], EventObject=json.dumps(ev).encode())["TestResult"]
print(json.dumps({"created": c["ETag"], "updated": u.get("ETag"), "described": d["ETag"],
                  "logs": t["FunctionExecutionLogs"], "error": t["FunctionErrorMessage"],
                  "output": json.loads(t["FunctionOutput"])}))
"#;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&ep)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("python runs (use scripts/test)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let updated = v["updated"]
        .as_str()
        .expect("boto3 found the ETag in ETtag");
    assert_ne!(updated, v["created"].as_str().unwrap());
    assert_eq!(v["described"], updated);
    assert_eq!(v["logs"], json!(["seen /x"]));
    assert_eq!(v["error"], "");
    assert_eq!(v["output"]["request"]["uri"], "/x");
    edge.stop().await;
}

/// The `cloudfront` module's origin-selection helpers (functions.md §5.4) through the real
/// edge with two real origins: a function selects the second origin by Id, points the request
/// at another domain (with origin path, custom header, `Host` and port), builds a failover
/// group, names an origin the distribution lacks (502), and catches a refused argument. What
/// is not acted on (`originShield`) is named in the function's logs (`test-function`).
#[tokio::test]
async fn functions_select_the_origin_of_this_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let first = TestOrigin::start().await;
    let second = TestOrigin::start().await;
    let code = format!(
        r#"import cf from 'cloudfront';
function handler(event) {{
    var r = event.request;
    if (r.uri.startsWith('/byid/')) {{
        cf.selectRequestOriginById('second');
    }} else if (r.uri.startsWith('/alias/')) {{
        cf.overrideRequestOrigin('second', {{hostHeader: 'alias.example'}});
    }} else if (r.uri.startsWith('/domain/')) {{
        cf.updateRequestOrigin({{domainName: 'localhost', originPath: '/moved',
            customOriginConfig: {{port: {port}, protocol: 'http'}},
            customHeaders: {{'x-chosen': 'domain'}}, hostHeader: 'b.example',
            timeouts: {{readTimeout: 5, connectionTimeout: 2}},
            originShield: {{enabled: true, region: 'us-east-1'}}}});
    }} else if (r.uri.startsWith('/group/')) {{
        cf.createRequestOriginGroup({{
            originIds: [{{originId: 'web', originOverrides: {{originPath: '/down'}}}}, 'second'],
            failoverCriteria: {{statusCodes: [500, 503]}}}});
    }} else if (r.uri.startsWith('/nosuch/')) {{
        cf.selectRequestOriginById('nope');
    }} else if (r.uri.startsWith('/bad/')) {{
        try {{ cf.updateRequestOrigin({{domainName: '10.0.0.1'}}); }}
        catch (e) {{ r.headers['x-refused'] = {{value: e.name}}; }}
    }}
    return r;
}}"#,
        port = second.addr.port()
    );
    let arn = deploy(&ep, dir, "origins", "cloudfront-js-2.0", &code).await;
    let mut cfg = distribution(
        first.addr.port(),
        behavior(
            None,
            CACHING_DISABLED,
            Some(ALL_VIEWER),
            &[(&arn, "viewer-request")],
        ),
        vec![],
    );
    let mut second_origin = cfg["Origins"]["Items"][0].clone();
    second_origin["Id"] = json!("second");
    second_origin["CustomOriginConfig"]["HTTPPort"] = json!(second.addr.port());
    cfg["Origins"]["Items"]
        .as_array_mut()
        .unwrap()
        .push(second_origin);
    cfg["Origins"]["Quantity"] = json!(2);
    let domain = create_distribution(&ep, dir, &cfg).await;

    // No helper called: the behavior's origin.
    let r = get(edge.viewer, &domain, "/plain/x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (first.hits_for("/plain/"), second.hits_for("/plain/")),
        (1, 0)
    );

    // By Id, and through the alias with a Host.
    let r = get(edge.viewer, &domain, "/byid/x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (first.hits_for("/byid/"), second.hits_for("/byid/")),
        (0, 1)
    );
    let r = get(edge.viewer, &domain, "/alias/x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = second.seen_for("/alias/");
    assert_eq!((first.hits_for("/alias/"), seen.len()), (0, 1));
    assert_eq!(seen[0].headers["host"], "alias.example");

    // Another domain, port, origin path, custom header and Host.
    let r = get(edge.viewer, &domain, "/domain/x?q=1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(first.hits_for("/moved/"), 0);
    let seen = second.seen_for("/moved/");
    assert_eq!(seen.len(), 1, "{:?}", second.seen_for("/"));
    assert_eq!(seen[0].path_and_query, "/moved/domain/x?q=1");
    assert_eq!(seen[0].headers["x-chosen"], "domain");
    assert_eq!(seen[0].headers["host"], "b.example");

    // A group built by the function fails over from the first origin's 500 to the second.
    first.program("/down/group/", 500, &[]);
    let r = get(edge.viewer, &domain, "/group/x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/group/x");
    assert_eq!(first.hits_for("/down/group/"), 1);
    assert_eq!(second.hits_for("/group/"), 1);

    // An origin the distribution does not have: the function's validation error.
    let r = get(edge.viewer, &domain, "/nosuch/x").await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.header("x-cache"),
        Some("FunctionValidationError from cloudfront")
    );
    assert_eq!(first.hits_for("/nosuch/") + second.hits_for("/nosuch/"), 0);

    // A refused argument throws a TypeError the function can catch; the request goes on.
    let r = get(edge.viewer, &domain, "/bad/x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = first.seen_for("/bad/");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["x-refused"], "TypeError");

    // test-function runs the code (it applies no origin change) and logs what is not acted on.
    let etag = cli_json(&ep, &["describe-function", "--name", "origins"]).await["ETag"]
        .as_str()
        .unwrap()
        .to_owned();
    let evf = event_file(
        dir,
        "origins.json",
        &json!({"version": "1.0", "context": {"eventType": "viewer-request"},
                "viewer": {"ip": "192.0.2.1"},
                "request": {"method": "GET", "uri": "/domain/x", "querystring": {},
                            "headers": {}, "cookies": {}}}),
    );
    let t = cli_json(
        &ep,
        &[
            "test-function",
            "--name",
            "origins",
            "--if-match",
            &etag,
            "--event-object",
            &evf,
        ],
    )
    .await;
    let r = &t["TestResult"];
    assert_eq!(r["FunctionErrorMessage"], "", "{r}");
    let logs = r["FunctionExecutionLogs"].to_string();
    assert!(
        logs.contains("cloudfront.updateRequestOrigin: originShield is not acted on"),
        "{logs}"
    );
}

/// `request.rawQueryString()` (2.0) and a generated response's `statusDescription` as the
/// HTTP/1.1 reason phrase on the wire.
#[tokio::test]
async fn raw_query_strings_and_reason_phrases_through_the_edge() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let origin = TestOrigin::start().await;
    let code = r#"function handler(event) {
    var raw = event.request.rawQueryString();
    return {statusCode: 403, statusDescription: 'Go Away Please',
            headers: {'x-raw': {value: raw === undefined ? '(none)' : '[' + raw + ']'}}};
}"#;
    let arn = deploy(&ep, dir, "raw", "cloudfront-js-2.0", code).await;
    let cfg = distribution(
        origin.addr.port(),
        behavior(None, CACHING_DISABLED, None, &[(&arn, "viewer-request")]),
        vec![],
    );
    let domain = create_distribution(&ep, dir, &cfg).await;
    for (path, want) in [
        ("/a?b=2&a=%20&a", "[b=2&a=%20&a]"),
        ("/a?", "[]"),
        ("/a", "(none)"),
    ] {
        let r = get(edge.viewer, &domain, path).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.header("x-raw"), Some(want), "{path}");
    }
    assert_eq!(origin.hits(), 0);
    // The reason phrase, read off the wire.
    let mut s = tokio::net::TcpStream::connect(edge.viewer).await.unwrap();
    s.write_all(
        format!("GET /a HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 403 Go Away Please\r\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_log_lines_reach_the_edges_log_with_the_request_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let origin = TestOrigin::start().await;
    let log_path = dir.join("edgegate.log");
    let mut edge = crate::common::process::spawn(
        crate::common::process::serve_command()
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("EDGEGATE_LOG", "info")
            .stderr(std::fs::File::create(&log_path).unwrap()),
        Some(&log_path),
    );
    let (viewer, admin) = (edge.viewer, edge.admin);
    let ep = format!("http://{admin}");
    let code = "function handler(event) {\n    console.log('seen ' + event.request.uri);\n    return event.request;\n}\n";
    let arn = deploy(&ep, dir, "talk", "cloudfront-js-2.0", code).await;
    let cfg = distribution(
        origin.addr.port(),
        behavior(None, CACHING_DISABLED, None, &[(&arn, "viewer-request")]),
        vec![],
    );
    let domain = create_distribution(&ep, dir, &cfg).await;
    let r = get(viewer, &domain, "/said/this").await;
    assert_eq!(r.status, 200);
    let id = r.header("x-amz-cf-id").expect("a request id").to_owned();
    // The line is written as the function returns; give the log writer a moment.
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&log_path).unwrap();
        if log.contains("seen /said/this") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = edge.child.kill();
    let _ = edge.child.wait();
    let found = log
        .lines()
        .find(|l| l.contains("seen /said/this"))
        .unwrap_or_else(|| panic!("no console.log line in the edge's log:\n{log}"));
    assert!(
        !found.contains('\u{1b}'),
        "no colour codes in a log file: {found}"
    );
    assert!(found.contains("cloudfront_function"), "{found}");
    assert!(found.contains("function=\"talk\""), "{found}");
    assert!(found.contains(&id), "the request id {id} in {found}");
}

#[tokio::test]
async fn edge_location_is_set_in_viewer_request_and_empty_in_viewer_response() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let origin = TestOrigin::start().await;
    // One function at both events: each gets its own instance and its own cf.edgeLocation.
    let code = r#"import cf from 'cloudfront';
function handler(event) {
    var loc = JSON.stringify(cf.edgeLocation);
    if (event.context.eventType === 'viewer-request') {
        event.request.headers['x-req-loc'] = {value: loc};
        return event.request;
    }
    var r = event.response;
    r.headers['x-resp-loc'] = {value: loc};
    var q = event.request.headers['x-req-loc'];
    r.headers['x-req-loc'] = {value: q ? q.value : '(none)'};
    return r;
}"#;
    let arn = deploy(&ep, dir, "where", "cloudfront-js-2.0", code).await;
    let cfg = distribution(
        origin.addr.port(),
        behavior(
            None,
            CACHING_DISABLED,
            None,
            &[(&arn, "viewer-request"), (&arn, "viewer-response")],
        ),
        vec![],
    );
    let domain = create_distribution(&ep, dir, &cfg).await;
    for _ in 0..2 {
        let r = get(edge.viewer, &domain, "/here").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-resp-loc"),
            Some("{}"),
            "empty in viewer-response"
        );
        let req: Value = serde_json::from_str(r.header("x-req-loc").unwrap()).unwrap();
        assert_eq!(req["name"], "IAD", "{req}");
        assert!(
            req["serverIp"].is_string() && req["region"].is_string(),
            "{req}"
        );
    }
}
