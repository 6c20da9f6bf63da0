//! Tags, policy updates and deletes, and the `ListDistributionsBy…` family through real clients
//! (the AWS CLI and boto3), with the data plane observing a policy change on the real server.

use crate::api_codes::{account_of, boto3};
use crate::common::awscli::aws;
use crate::common::origin::TestOrigin;
use crate::common::*;

async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aws(&refs)
    })
    .await
    .unwrap()
}

fn cf(endpoint: &str, rest: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--endpoint-url".to_owned(),
        endpoint.to_owned(),
        "--output".to_owned(),
        "json".to_owned(),
        "cloudfront".to_owned(),
    ];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

async fn cli_json(args: Vec<String>) -> serde_json::Value {
    let out = cli(args.clone()).await;
    assert!(
        out.status.success(),
        "aws {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_via_aws_cli_persist_with_the_distribution_and_keep_its_etag() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let account = account_of(&edge, &ep).await;
    let tmp = tempfile::tempdir().unwrap();
    let doc = serde_json::json!({
        "DistributionConfig": {
            "CallerReference": "tagged-1", "Comment": "", "Enabled": true,
            "Origins": {"Quantity": 1, "Items": [{"Id": "o1", "DomainName": "origin.example.com",
                "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "o1", "ViewerProtocolPolicy": "allow-all",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}
        },
        "Tags": {"Items": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "edge"}]}
    });
    let file = tmp.path().join("with-tags.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let created = cli_json(cf(
        &ep,
        &[
            "create-distribution-with-tags",
            "--distribution-config-with-tags",
            &format!("file://{}", file.display()),
        ],
    ))
    .await;
    let id = created["Distribution"]["Id"].as_str().unwrap().to_owned();
    let etag = created["ETag"].as_str().unwrap().to_owned();
    assert_eq!(
        created["Distribution"]["DistributionConfig"]["CallerReference"],
        "tagged-1"
    );
    let arn = format!("arn:aws:cloudfront::{account}:distribution/{id}");
    assert_eq!(created["Distribution"]["ARN"], arn.as_str());

    let tags = |v: &serde_json::Value| -> Vec<(String, String)> {
        v["Tags"]["Items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        (
                            t["Key"].as_str().unwrap().to_owned(),
                            t["Value"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let listed = cli_json(cf(&ep, &["list-tags-for-resource", "--resource", &arn])).await;
    assert_eq!(tags(&listed), [pair("env", "prod"), pair("team", "edge")]);

    // Tag: a new key is added, an existing key's value replaced.
    cli_json(cf(
        &ep,
        &[
            "tag-resource",
            "--resource",
            &arn,
            "--tags",
            "Items=[{Key=env,Value=staging},{Key=cost centre,Value=42}]",
        ],
    ))
    .await;
    let listed = cli_json(cf(&ep, &["list-tags-for-resource", "--resource", &arn])).await;
    assert_eq!(
        tags(&listed),
        [
            pair("env", "staging"),
            pair("team", "edge"),
            pair("cost centre", "42")
        ]
    );
    // Untag: named keys go, unknown keys are ignored.
    cli_json(cf(
        &ep,
        &[
            "untag-resource",
            "--resource",
            &arn,
            "--tag-keys",
            "Items=team,nosuchkey",
        ],
    ))
    .await;
    // Tags are not part of the config: the ETag is unchanged.
    let got = cli_json(cf(&ep, &["get-distribution", "--id", &id])).await;
    assert_eq!(got["ETag"], etag.as_str());

    // Limits: a bad key, and more than 50 tags on the resource.
    let out = cli(cf(
        &ep,
        &[
            "tag-resource",
            "--resource",
            &arn,
            "--tags",
            "Items=[{Key=a*b,Value=x}]",
        ],
    ))
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidTagging"));
    let many: Vec<String> = (0..49).map(|i| format!("{{Key=k{i},Value=v}}")).collect();
    let out = cli(cf(
        &ep,
        &[
            "tag-resource",
            "--resource",
            &arn,
            "--tags",
            &format!("Items=[{}]", many.join(",")),
        ],
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("InvalidTagging") && err.contains("at most 50"),
        "{err}"
    );
    let out = cli(cf(
        &ep,
        &[
            "list-tags-for-resource",
            "--resource",
            &format!("arn:aws:cloudfront::{account}:distribution/ENOSUCH"),
        ],
    ))
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchResource"));

    // The tags survive a restart.
    let data = edge.stop().await;
    let edge = TestEdge::start_in("", data).await;
    let ep = format!("http://{}", edge.admin);
    let listed = cli_json(cf(&ep, &["list-tags-for-resource", "--resource", &arn])).await;
    assert_eq!(
        tags(&listed),
        [pair("env", "staging"), pair("cost centre", "42")]
    );
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_updates_reach_the_data_plane_and_deletes_follow_cloudfronts_rules() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let script = format!(
        r#"
port = {port}
params = lambda qs: {{"EnableAcceptEncodingGzip": False,
    "HeadersConfig": {{"HeaderBehavior": "none"}}, "CookiesConfig": {{"CookieBehavior": "none"}},
    "QueryStringsConfig": {{"QueryStringBehavior": qs}}}}
cp = cf.create_cache_policy(CachePolicyConfig={{"Name": "short", "MinTTL": 0, "DefaultTTL": 0,
    "MaxTTL": 0, "ParametersInCacheKeyAndForwardedToOrigin": params("none")}})
orp = cf.create_origin_request_policy(OriginRequestPolicyConfig={{"Name": "probe",
    "HeadersConfig": {{"HeaderBehavior": "none"}}, "CookiesConfig": {{"CookieBehavior": "none"}},
    "QueryStringsConfig": {{"QueryStringBehavior": "none"}}}})
cfg = dist("policies", origin_domain="localhost")
cfg["Origins"]["Items"][0]["CustomOriginConfig"]["HTTPPort"] = port
cfg["DefaultCacheBehavior"]["CachePolicyId"] = cp["CachePolicy"]["Id"]
cfg["CacheBehaviors"] = {{"Quantity": 1, "Items": [{{"PathPattern": "/orp/*", "TargetOriginId": "o1",
    "ViewerProtocolPolicy": "allow-all", "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
    "OriginRequestPolicyId": orp["OriginRequestPolicy"]["Id"]}}]}}
d = cf.create_distribution(DistributionConfig=cfg)
out["domain"] = d["Distribution"]["DomainName"]
out["dist"] = d["Distribution"]["Id"]
out["dist_etag"] = d["ETag"]
out["cp"] = cp["CachePolicy"]["Id"]
out["cp_etag"] = cp["ETag"]
out["orp"] = orp["OriginRequestPolicy"]["Id"]
out["orp_etag"] = orp["ETag"]
"#,
        port = origin.addr.port()
    );
    let v = boto3(&ep, &script).await;
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    let (domain, cp, orp) = (s("domain"), s("cp"), s("orp"));

    // TTL 0: nothing is cached.
    for _ in 0..2 {
        let r = get(edge.viewer, &domain, "/page").await;
        assert_eq!(
            r.header("x-cache"),
            Some("Miss from cloudfront"),
            "{}",
            r.text()
        );
    }
    let r = get(edge.viewer, &domain, "/orp/x").await;
    assert_eq!(r.status, 200);
    assert!(origin.last().headers.get("x-probe").is_none());

    // Update both policies through boto3 (a stale If-Match first).
    let v = boto3(
        &ep,
        &format!(
            r#"
params = lambda qs: {{"EnableAcceptEncodingGzip": False,
    "HeadersConfig": {{"HeaderBehavior": "none"}}, "CookiesConfig": {{"CookieBehavior": "none"}},
    "QueryStringsConfig": {{"QueryStringBehavior": qs}}}}
new = {{"Name": "short", "MinTTL": 0, "DefaultTTL": 3600, "MaxTTL": 3600,
       "ParametersInCacheKeyAndForwardedToOrigin": params("all")}}
err("stale", cf.update_cache_policy, Id="{cp}", IfMatch="ESTALE", CachePolicyConfig=new)
err("taken", cf.update_cache_policy, Id="{cp}", IfMatch="{cp_etag}",
    CachePolicyConfig=dict(new, Name="Managed-CachingOptimized"))
u = cf.update_cache_policy(Id="{cp}", IfMatch="{cp_etag}", CachePolicyConfig=new)
out["cp_etag"] = u["ETag"]
out["ttl"] = u["CachePolicy"]["CachePolicyConfig"]["DefaultTTL"]
out["read_back"] = cf.get_cache_policy(Id="{cp}")["CachePolicy"]["CachePolicyConfig"]["DefaultTTL"]
o = cf.update_origin_request_policy(Id="{orp}", IfMatch="{orp_etag}", OriginRequestPolicyConfig={{
    "Name": "probe", "HeadersConfig": {{"HeaderBehavior": "whitelist", "Headers": {{"Quantity": 1, "Items": ["X-Probe"]}}}},
    "CookiesConfig": {{"CookieBehavior": "none"}}, "QueryStringsConfig": {{"QueryStringBehavior": "none"}}}})
out["orp_etag"] = o["ETag"]
err("cp_in_use", cf.delete_cache_policy, Id="{cp}", IfMatch=u["ETag"])
err("orp_in_use", cf.delete_origin_request_policy, Id="{orp}", IfMatch=o["ETag"])
err("managed_orp", cf.delete_origin_request_policy, Id="216adef6-5c7f-47e4-b989-5492eafa07d3", IfMatch="x")
"#,
            cp_etag = s("cp_etag"),
            orp_etag = s("orp_etag"),
        ),
    )
    .await;
    assert_eq!(v["stale"]["code"], "PreconditionFailed");
    assert_eq!(v["taken"]["code"], "CachePolicyAlreadyExists");
    assert_eq!(v["ttl"], 3600);
    assert_eq!(v["read_back"], 3600);
    assert_eq!(v["cp_in_use"]["code"], "CachePolicyInUse");
    assert_eq!(v["cp_in_use"]["status"], 409);
    assert_eq!(v["orp_in_use"]["code"], "OriginRequestPolicyInUse");
    assert_eq!(v["managed_orp"]["code"], "IllegalDelete");

    // The distribution now caches for an hour, with the query string in the key.
    let r = get(edge.viewer, &domain, "/page?a=1").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    let r = get(edge.viewer, &domain, "/page?a=1").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.text(), "origin:/page?a=1");
    let r = get(edge.viewer, &domain, "/page?a=2").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    // And forwards X-Probe on /orp/*.
    let r = send(
        edge.viewer,
        "GET",
        &domain,
        "/orp/y",
        &[("x-probe", "1")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        origin.last().headers.get("x-probe").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );

    // Once no distribution uses them, both policies can be deleted.
    let v = boto3(
        &ep,
        &format!(
            r#"
cfg = cf.get_distribution_config(Id="{dist}")
c = cfg["DistributionConfig"]
c["DefaultCacheBehavior"]["CachePolicyId"] = "658327ea-f89d-4fab-a63d-7e88639e58f6"
c["CacheBehaviors"] = {{"Quantity": 0}}
cf.update_distribution(Id="{dist}", IfMatch=cfg["ETag"], DistributionConfig=c)
err("no_if_match", cf.delete_cache_policy, Id="{cp}", IfMatch="")
cf.delete_cache_policy(Id="{cp}", IfMatch="{cp_etag}")
cf.delete_origin_request_policy(Id="{orp}", IfMatch="{orp_etag}")
err("gone", cf.get_cache_policy, Id="{cp}")
err("gone_orp", cf.get_origin_request_policy, Id="{orp}")
"#,
            dist = s("dist"),
            cp_etag = v["cp_etag"].as_str().unwrap(),
            orp_etag = v["orp_etag"].as_str().unwrap(),
        ),
    )
    .await;
    assert_eq!(v["no_if_match"]["code"], "InvalidIfMatchVersion");
    assert_eq!(v["gone"]["code"], "NoSuchCachePolicy");
    assert_eq!(v["gone_orp"]["code"], "NoSuchOriginRequestPolicy");
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_distributions_by_resource_pages_like_cloudfront() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let v = boto3(
        &ep,
        r#"
pem = open(os.environ["EG_PEM"]).read()
pk = cf.create_public_key(PublicKeyConfig={"CallerReference": "k", "Name": "k", "EncodedKey": pem})
kg = cf.create_key_group(KeyGroupConfig={"Name": "g", "Items": [pk["PublicKey"]["Id"]]})["KeyGroup"]["Id"]
cp = cf.create_cache_policy(CachePolicyConfig={"Name": "cp", "MinTTL": 0, "DefaultTTL": 60, "MaxTTL": 600,
    "ParametersInCacheKeyAndForwardedToOrigin": {"EnableAcceptEncodingGzip": False,
    "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"},
    "QueryStringsConfig": {"QueryStringBehavior": "none"}}})["CachePolicy"]["Id"]
ids = []
for i in range(3):
    c = dist("l%d" % i, WebACLId="arn:aws:wafv2:us-east-1:123456789012:global/webacl/w/1" if i == 1 else "")
    c["DefaultCacheBehavior"]["CachePolicyId"] = cp
    if i == 2:
        c["DefaultCacheBehavior"]["TrustedKeyGroups"] = {"Enabled": True, "Quantity": 1, "Items": [kg]}
        c["DefaultCacheBehavior"]["OriginRequestPolicyId"] = "216adef6-5c7f-47e4-b989-5492eafa07d3"
        c["DefaultCacheBehavior"]["ResponseHeadersPolicyId"] = "67f7725c-6f97-4210-82d7-5512b31e9d03"
    ids.append(cf.create_distribution(DistributionConfig=c)["Distribution"]["Id"])
cf.create_distribution(DistributionConfig=dist("other"))
out["ids"] = sorted(ids)
p1 = cf.list_distributions_by_cache_policy_id(CachePolicyId=cp, MaxItems="2")["DistributionIdList"]
p2 = cf.list_distributions_by_cache_policy_id(CachePolicyId=cp, MaxItems="2", Marker=p1["NextMarker"])["DistributionIdList"]
out["p1"] = p1
out["p2"] = p2
out["kg"] = cf.list_distributions_by_key_group(KeyGroupId=kg)["DistributionIdList"]
out["orp"] = cf.list_distributions_by_origin_request_policy_id(OriginRequestPolicyId="216adef6-5c7f-47e4-b989-5492eafa07d3")["DistributionIdList"]
out["orp_unused"] = cf.list_distributions_by_origin_request_policy_id(OriginRequestPolicyId="b689b0a8-53d0-40ab-baf2-68738e2966ac")["DistributionIdList"]
out["rhp"] = cf.list_distributions_by_response_headers_policy_id(ResponseHeadersPolicyId="67f7725c-6f97-4210-82d7-5512b31e9d03")["DistributionIdList"]
out["waf"] = cf.list_distributions_by_web_acl_id(WebACLId="arn:aws:wafv2:us-east-1:123456789012:global/webacl/w/1")["DistributionList"]
err("kg_missing", cf.list_distributions_by_key_group, KeyGroupId="nope")
"#,
    )
    .await;
    let ids: Vec<&str> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    let items = |l: &serde_json::Value| -> Vec<String> {
        l["Items"]
            .as_array()
            .map(|a| a.iter().map(|i| i.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let p1 = &v["p1"];
    assert_eq!(items(p1), ids[..2]);
    assert_eq!(p1["IsTruncated"], true);
    assert_eq!(p1["MaxItems"], 2);
    assert_eq!(p1["Quantity"], 2);
    assert_eq!(p1["Marker"], "");
    assert_eq!(p1["NextMarker"], ids[1]);
    let p2 = &v["p2"];
    assert_eq!(items(p2), ids[2..]);
    assert_eq!(p2["IsTruncated"], false);
    assert_eq!(p2["Marker"], ids[1]);
    assert!(p2.get("NextMarker").is_none());
    let last = |n: &str| -> Vec<String> { items(&v[n]) };
    assert_eq!(last("kg").len(), 1);
    assert_eq!(last("kg"), last("orp"));
    assert_eq!(last("kg"), last("rhp"));
    assert!(ids.contains(&last("kg")[0].as_str()));
    assert_eq!(v["orp_unused"]["Quantity"], 0);
    let waf = &v["waf"];
    assert_eq!(waf["Quantity"], 1);
    assert_eq!(
        waf["Items"][0]["WebACLId"],
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/w/1"
    );
    assert_ne!(waf["Items"][0]["Id"], last("kg")[0].as_str());
    assert_eq!(v["kg_missing"]["code"], "NoSuchResource");
    edge.stop().await;
}
