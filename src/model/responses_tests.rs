//! Tests for the response builders: shapes, item element names and timestamps.

use time::macros::datetime;

use super::*;
use crate::model::diag::Diagnostics;
use crate::model::tree::{from_json, from_xml};

fn example_config() -> DistributionConfig {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/caching-md-example.json")).unwrap();
    let mut d = Diagnostics::new();
    DistributionConfig::from_tree(&from_json(&v).unwrap(), &mut d).unwrap()
}

fn meta() -> DistributionMeta {
    DistributionMeta {
        id: "E2QWRUHEXAMPLE".into(),
        arn: "arn:aws:cloudfront::111122223333:distribution/E2QWRUHEXAMPLE".into(),
        status: "Deployed".into(),
        last_modified_time: datetime!(2024-01-02 03:04:05.678 UTC),
        in_progress_invalidation_batches: 0,
        domain_name: "d111111abcdef8.cloudfront.net".into(),
        etag: Some("E1ETAG".into()),
    }
}

#[test]
fn timestamps_are_utc_with_millis() {
    assert_eq!(
        timestamp(datetime!(2024-01-02 03:04:05.678 UTC)),
        "2024-01-02T03:04:05.678Z"
    );
    assert_eq!(
        timestamp(datetime!(2024-01-02 05:04:05 +02:00)),
        "2024-01-02T03:04:05.000Z"
    );
}

#[test]
fn distribution_document() {
    let mut cfg = example_config();
    cfg.default_cache_behavior.trusted_key_groups = crate::model::distribution::TrustedList {
        enabled: true,
        items: vec!["kg-1".into()],
    };
    let groups = [ActiveKeyGroup {
        key_group_id: "kg-1".into(),
        key_pair_ids: vec!["K2JCJMDEHXQW5F".into()],
    }];
    let t = distribution(&meta(), &cfg, &[], &groups);
    let xml = t.to_xml("Distribution");
    assert!(xml.contains("<Distribution xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Id>E2QWRUHEXAMPLE</Id><ARN>arn:aws:cloudfront::111122223333:distribution/E2QWRUHEXAMPLE</ARN><Status>Deployed</Status><LastModifiedTime>2024-01-02T03:04:05.678Z</LastModifiedTime><InProgressInvalidationBatches>0</InProgressInvalidationBatches><DomainName>d111111abcdef8.cloudfront.net</DomainName>"));
    assert!(xml.contains("<ActiveTrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></ActiveTrustedSigners>"));
    assert!(xml.contains("<ActiveTrustedKeyGroups><Enabled>true</Enabled><Quantity>1</Quantity><Items><KeyGroup><KeyGroupId>kg-1</KeyGroupId><KeyPairIds><Quantity>1</Quantity><Items><KeyPairId>K2JCJMDEHXQW5F</KeyPairId></Items></KeyPairIds></KeyGroup></Items></ActiveTrustedKeyGroups>"));
    // With trusted signers: one Signer per account, with its key pair ids.
    let mut signed = cfg.clone();
    signed.default_cache_behavior.trusted_signers = crate::model::distribution::TrustedList {
        enabled: true,
        items: vec!["self".into()],
    };
    let signers = [ActiveSigner {
        aws_account_number: "self".into(),
        key_pair_ids: vec!["APKAEIBAERJR2EXAMPLE".into()],
    }];
    let xml2 = distribution(&meta(), &signed, &signers, &groups).to_xml("Distribution");
    assert!(xml2.contains("<ActiveTrustedSigners><Enabled>true</Enabled><Quantity>1</Quantity><Items><Signer><AwsAccountNumber>self</AwsAccountNumber><KeyPairIds><Quantity>1</Quantity><Items><KeyPairId>APKAEIBAERJR2EXAMPLE</KeyPairId></Items></KeyPairIds></Signer></Items></ActiveTrustedSigners>"), "{xml2}");
    // The embedded config decodes back to the same value.
    let (_, back) = from_xml(xml.as_bytes()).unwrap();
    let mut d = Diagnostics::new();
    let inner = DistributionConfig::from_tree(back.get("DistributionConfig").unwrap(), &mut d);
    // CloudFront adds `CloudFrontDefaultCertificate: false` beside an ACM certificate; nothing
    // else of the complete example changes.
    let mut want = cfg;
    if let Some(vc) = want.viewer_certificate.as_mut() {
        vc.cloudfront_default_certificate = Some(false);
    }
    assert_eq!(inner, Some(want));
}

#[test]
fn distribution_list_has_every_required_summary_member() {
    let mut cfg = example_config();
    cfg.viewer_certificate = None;
    cfg.restrictions = None;
    cfg.price_class = None;
    cfg.http_version = None;
    let page = Page {
        marker: String::new(),
        next_marker: Some("E2".into()),
        max_items: 1,
        is_truncated: true,
    };
    let t = distribution_list(&page, &[(meta(), cfg)]);
    let xml = t.to_xml("DistributionList");
    assert!(xml.contains("<DistributionList xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Marker></Marker><NextMarker>E2</NextMarker><MaxItems>1</MaxItems><IsTruncated>true</IsTruncated><Quantity>1</Quantity><Items><DistributionSummary><Id>"));
    let summary = &t.get("Items").unwrap().as_list().unwrap()[0];
    for member in [
        "Id",
        "ARN",
        "ETag",
        "Status",
        "LastModifiedTime",
        "DomainName",
        "Aliases",
        "Origins",
        "DefaultCacheBehavior",
        "CacheBehaviors",
        "CustomErrorResponses",
        "Comment",
        "PriceClass",
        "Enabled",
        "ViewerCertificate",
        "Restrictions",
        "WebACLId",
        "HttpVersion",
        "IsIPV6Enabled",
        "Staging",
    ] {
        assert!(summary.get(member).is_some(), "missing {member}");
    }
    assert_eq!(
        summary.at("Restrictions.GeoRestriction.RestrictionType"),
        Some(&Tree::leaf("none"))
    );
    assert_eq!(summary.get("HttpVersion"), Some(&Tree::leaf("HTTP2")));
    assert_eq!(summary.get("IsIPV6Enabled"), Some(&Tree::leaf(true)));
    assert_eq!(
        summary.get("PriceClass"),
        Some(&Tree::leaf("PriceClass_All"))
    );
}

#[test]
fn invalidation_documents() {
    let batch = InvalidationBatch {
        paths: vec!["/a".into(), "/b/*".into()],
        caller_reference: "r".into(),
    };
    let xml = invalidation(
        "IDFDVBD632BHDS5",
        "InProgress",
        datetime!(2019-01-01 00:00 UTC),
        &batch,
    )
    .to_xml("Invalidation");
    assert!(xml.contains("<Id>IDFDVBD632BHDS5</Id><Status>InProgress</Status><CreateTime>2019-01-01T00:00:00.000Z</CreateTime><InvalidationBatch><Paths><Quantity>2</Quantity><Items><Path>/a</Path><Path>/b/*</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>"));
    let page = Page {
        marker: "m".into(),
        next_marker: None,
        max_items: 100,
        is_truncated: false,
    };
    let rows = [InvalidationSummary {
        id: "I1".into(),
        create_time: datetime!(2019-01-01 00:00 UTC),
        status: "Completed".into(),
    }];
    let xml = invalidation_list(&page, &rows).to_xml("InvalidationList");
    assert!(xml.contains("<Marker>m</Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>1</Quantity><Items><InvalidationSummary><Id>I1</Id><CreateTime>2019-01-01T00:00:00.000Z</CreateTime><Status>Completed</Status></InvalidationSummary></Items>"));
    let empty = invalidation_list(&page, &[]).to_xml("InvalidationList");
    assert!(empty.contains("<Quantity>0</Quantity></InvalidationList>"));
}

#[test]
fn key_documents() {
    let t0 = datetime!(2024-05-06 07:08:09.010 UTC);
    let pk = PublicKeyConfig {
        caller_reference: "r".into(),
        name: "k".into(),
        encoded_key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
        comment: None,
    };
    let xml = public_key("K2JCJMDEHXQW5F", t0, &pk).to_xml("PublicKey");
    assert!(xml.contains("<Id>K2JCJMDEHXQW5F</Id><CreatedTime>2024-05-06T07:08:09.010Z</CreatedTime><PublicKeyConfig><CallerReference>r</CallerReference>"));
    let xml = public_key_list(None, 100, &[("K1".into(), t0, pk)]).to_xml("PublicKeyList");
    assert!(xml.contains("<MaxItems>100</MaxItems><Quantity>1</Quantity><Items><PublicKeySummary><Id>K1</Id><Name>k</Name><CreatedTime>2024-05-06T07:08:09.010Z</CreatedTime><EncodedKey>"));

    let kg = KeyGroupConfig {
        name: "g".into(),
        items: vec!["K1".into()],
        comment: Some("c".into()),
    };
    let xml = key_group("kg-uuid", t0, &kg).to_xml("KeyGroup");
    assert!(xml.contains("<KeyGroupConfig><Name>g</Name><Items><PublicKey>K1</PublicKey></Items><Comment>c</Comment></KeyGroupConfig>"));
    let xml = key_group_list(Some("n"), 10, &[("kg-uuid".into(), t0, kg)]).to_xml("KeyGroupList");
    assert!(xml.contains("<NextMarker>n</NextMarker><MaxItems>10</MaxItems><Quantity>1</Quantity><Items><KeyGroupSummary><KeyGroup><Id>kg-uuid</Id>"));
}

#[test]
fn policy_documents() {
    let t0 = datetime!(2024-01-01 00:00 UTC);
    let managed = crate::model::policy::managed_cache_policies()[0];
    let xml = cache_policy_list(
        None,
        50,
        &[(PolicyType::Managed, managed.id.into(), t0, managed.config())],
    )
    .to_xml("CachePolicyList");
    assert!(xml.contains("<Items><CachePolicySummary><Type>managed</Type><CachePolicy><Id>658327ea-f89d-4fab-a63d-7e88639e58f6</Id><LastModifiedTime>2024-01-01T00:00:00.000Z</LastModifiedTime><CachePolicyConfig><Comment>"));
    let orp = crate::model::policy::managed_origin_request_policies()[0];
    let xml = origin_request_policy_list(
        None,
        50,
        &[(PolicyType::Custom, "x".into(), t0, orp.config())],
    )
    .to_xml("OriginRequestPolicyList");
    assert!(xml.contains(
        "<OriginRequestPolicySummary><Type>custom</Type><OriginRequestPolicy><Id>x</Id>"
    ));
    let xml = cache_policy("id", t0, &managed.config()).to_xml("CachePolicy");
    let (_, t) = from_xml(xml.as_bytes()).unwrap();
    let mut d = Diagnostics::new();
    assert_eq!(
        CachePolicyConfig::from_tree(t.get("CachePolicyConfig").unwrap(), &mut d),
        Some(managed.config())
    );
    let xml = origin_request_policy("id", t0, &orp.config()).to_xml("OriginRequestPolicy");
    assert!(xml.contains("<OriginRequestPolicyConfig><Comment>"));
}

#[test]
fn error_envelope() {
    let xml = error_xml(
        "Sender",
        "NoSuchDistribution",
        "The specified distribution does not exist.",
        "req-1",
    );
    assert_eq!(
        xml,
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>NoSuchDistribution</Code><Message>The specified distribution does not exist.</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"
    );
    assert!(
        error_xml("Receiver", "InternalError", "a <b> & c", "r")
            .contains("<Message>a &lt;b&gt; &amp; c</Message>")
    );
    let (root, t) = from_xml(xml.as_bytes()).unwrap();
    assert_eq!(root, "ErrorResponse");
    assert_eq!(t.at("Error.Code"), Some(&Tree::leaf("NoSuchDistribution")));
}

#[test]
fn generic_list_has_the_paging_members_of_each_list() {
    let t0 = datetime!(2024-01-01 00:00 UTC);
    let inv = list(
        "InvalidationList",
        None,
        Some("I2"),
        1,
        vec![invalidation_summary("I1", t0, "Completed")],
    );
    let xml = inv.to_xml("InvalidationList");
    assert!(xml.contains(
        "<Marker></Marker><NextMarker>I2</NextMarker><MaxItems>1</MaxItems><IsTruncated>true</IsTruncated><Quantity>1</Quantity><Items><InvalidationSummary><Id>I1</Id><CreateTime>2024-01-01T00:00:00.000Z</CreateTime><Status>Completed</Status></InvalidationSummary></Items>"
    ), "{xml}");
    let empty = list("DistributionList", Some("E1"), None, 100, Vec::new());
    assert_eq!(
        empty.to_xml("DistributionList"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DistributionList xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Marker>E1</Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>0</Quantity></DistributionList>"
    );

    let mut d = Diagnostics::new();
    let kg = KeyGroupConfig::from_tree(
        &Tree::Map(vec![
            ("Name".into(), Tree::leaf("g")),
            ("Items".into(), Tree::List(vec![Tree::leaf("K1")])),
        ]),
        &mut d,
    )
    .unwrap();
    let xml = list(
        "KeyGroupList",
        Some("ignored"),
        None,
        10,
        vec![key_group_summary("G1", t0, &kg)],
    )
    .to_xml("KeyGroupList");
    assert!(!xml.contains("Marker>ignored"), "{xml}");
    assert!(xml.contains("<MaxItems>10</MaxItems><Quantity>1</Quantity><Items><KeyGroupSummary><KeyGroup><Id>G1</Id>"), "{xml}");
    assert!(
        xml.contains("<Items><PublicKey>K1</PublicKey></Items>"),
        "{xml}"
    );

    let managed = &crate::model::managed_cache_policies()[0];
    let summary = policy_summary(
        "CachePolicy",
        "managed",
        cache_policy(managed.id, managed.last_modified(), &managed.config()),
    );
    let xml = list("CachePolicyList", None, None, 100, vec![summary]).to_xml("CachePolicyList");
    assert!(
        xml.contains("<Items><CachePolicySummary><Type>managed</Type><CachePolicy><Id>"),
        "{xml}"
    );
    assert!(
        xml.contains("<LastModifiedTime>2020-05-31T00:00:00.000Z</LastModifiedTime>"),
        "{xml}"
    );
    let (root, back) = Tree::from_xml(xml.as_bytes()).unwrap();
    assert_eq!(root, "CachePolicyList");
    assert_eq!(back.get("Quantity"), Some(&Tree::leaf("1")));
}
