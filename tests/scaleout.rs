//! Many edges, one bucket: three edgegate processes (the built binary) share their state in
//! LocalStack's S3 (`--state s3://…`) in front of one real loopback origin. Changes made through
//! one edge are served by the others, conflicting updates lose nothing, invalidations reach every
//! edge before they are `Completed`, and a SIGKILLed edge stops counting and catches up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgegate::state::store::{Kind, s3};
use edgegate::state::{StateStore, StoreError};
use object_store::StaticCredentialProvider;
use object_store::aws::AwsCredential;

use crate::api_codes::boto3;
use crate::common::awscli::{aws_command, credentials};
use crate::common::localstack::{create_bucket, s3_endpoint, unique_bucket};
use crate::common::origin::TestOrigin;
use crate::common::process::FleetEdge;
use crate::common::*;

/// Edges started with no flags beyond the fleet's own.
const NO_FLAGS: &[&str] = &[];

/// How long a convergence may take before the test fails (many polls, on a loaded machine).
const CONVERGE: Duration = Duration::from_secs(90);

/// The state store the edges use, opened by the test itself with the test credentials.
fn store(bucket: &str) -> StateStore {
    let (key_id, secret_key) = credentials();
    let creds = Arc::new(StaticCredentialProvider::new(AwsCredential {
        key_id,
        secret_key,
        token: None,
    }));
    s3(
        &format!("s3://{bucket}/state"),
        Some(&s3_endpoint()),
        Some(creds),
    )
    .expect("s3 state store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_honours_both_write_conditions() {
    let bucket = unique_bucket("state-cond");
    create_bucket(&bucket);
    let a = store(&bucket);
    let b = store(&bucket);
    assert!(a.generation_changed().await.unwrap(), "first poll");
    assert!(
        !a.generation_changed().await.unwrap(),
        "nothing written yet"
    );

    // Create: If-None-Match: *. The second creator of the same record loses.
    a.put(Kind::KeyGroup, "K1", Bytes::from_static(b"v1"))
        .await
        .expect("create");
    let e = b
        .put(Kind::KeyGroup, "K1", Bytes::from_static(b"other"))
        .await
        .expect_err("a second create of the same record must fail");
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    assert!(a.generation_changed().await.unwrap(), "a write bumps it");

    // Update: If-Match on the version read. Both have read v1; the first update wins.
    assert_eq!(b.load_all(Kind::KeyGroup).await.unwrap()[0].1, "v1");
    a.put(Kind::KeyGroup, "K1", Bytes::from_static(b"v2"))
        .await
        .expect("update on the version written");
    let e = b
        .put(Kind::KeyGroup, "K1", Bytes::from_static(b"v2-from-b"))
        .await
        .expect_err("an update on a stale version must fail");
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");

    // Nothing was lost: v2 is stored, and b succeeds once it has read it.
    let fresh = store(&bucket);
    assert_eq!(fresh.load_all(Kind::KeyGroup).await.unwrap()[0].1, "v2");
    assert_eq!(b.load_all(Kind::KeyGroup).await.unwrap()[0].1, "v2");
    b.put(Kind::KeyGroup, "K1", Bytes::from_static(b"v3"))
        .await
        .expect("update after re-reading");
    assert_eq!(fresh.load_all(Kind::KeyGroup).await.unwrap()[0].1, "v3");

    // Delete: conditional too (a tombstone with If-Match, then the delete). a last saw v2, so
    // its delete must not remove b's v3; once a has read v3 it goes through.
    let e = a
        .delete(Kind::KeyGroup, "K1")
        .await
        .expect_err("a delete on a stale version must fail");
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    assert_eq!(fresh.load_all(Kind::KeyGroup).await.unwrap()[0].1, "v3");
    assert_eq!(a.load_all(Kind::KeyGroup).await.unwrap()[0].1, "v3");
    a.delete(Kind::KeyGroup, "K1")
        .await
        .expect("delete after re-reading");
    assert!(fresh.load_all(Kind::KeyGroup).await.unwrap().is_empty());
}

/// Polls `check` (every 200 ms) until it returns `Some`, or fails naming `what` after
/// [`CONVERGE`].
async fn until<T, F, Fut>(what: &str, edges: &[&FleetEdge], mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + CONVERGE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = edges.iter().map(|e| e.log()).collect();
            panic!(
                "{what}: not reached in {CONVERGE:?}; edge logs:\n{}",
                logs.join("\n----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The body an edge serves for `path` of `host`, when it answers 200.
async fn served(edge: &FleetEdge, host: &str, path: &str) -> Option<String> {
    let r = get(edge.viewer, host, path).await;
    (r.status == 200).then(|| r.text())
}

/// The `<Status>` GetDistribution (or GetInvalidation) answers on `edge`, straight over HTTP.
async fn status(edge: &FleetEdge, path: &str) -> String {
    let r = get(edge.admin, "localhost", &format!("/2020-05-31/{path}")).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let text = r.text();
    let start = text.find("<Status>").expect("a Status") + "<Status>".len();
    let end = text[start..].find("</Status>").expect("</Status>") + start;
    text[start..end].to_owned()
}

/// The distribution's config as one edge stores it, with its ETag.
async fn config(edge: &FleetEdge, id: &str) -> serde_json::Value {
    boto3(
        &edge.admin_url(),
        &format!(
            "r = cf.get_distribution_config(Id={id:?})\n\
             out['etag'] = r['ETag']\nout['config'] = r['DistributionConfig']"
        ),
    )
    .await
}

/// Updates the distribution's OriginPath through `edge` with `etag`: the new ETag, or the error
/// code.
async fn set_origin_path(edge: &FleetEdge, id: &str, etag: &str, path: &str) -> serde_json::Value {
    boto3(
        &edge.admin_url(),
        &format!(
            "cfg = cf.get_distribution_config(Id={id:?})['DistributionConfig']\n\
             cfg['Origins']['Items'][0]['OriginPath'] = {path:?}\n\
             try:\n\
             \x20   out['etag'] = cf.update_distribution(Id={id:?}, IfMatch={etag:?}, DistributionConfig=cfg)['ETag']\n\
             except botocore.exceptions.ClientError as e:\n\
             \x20   out['code'] = e.response['Error']['Code']\n\
             \x20   out['status'] = e.response['ResponseMetadata']['HTTPStatusCode']\n"
        ),
    )
    .await
}

/// Waits until every edge serves paths under `path` from the origin under `origin_path`. Each
/// attempt asks for a path never asked before: a path cached under the previous configuration
/// would keep its old answer (a configuration change does not purge the cache, on CloudFront
/// either).
async fn all_serve(edges: &[&FleetEdge], host: &str, path: &str, origin_path: &str) {
    let attempt = &std::sync::atomic::AtomicUsize::new(0);
    for (i, e) in edges.iter().enumerate() {
        let what = format!("edge {i} serves {path}/… from origin:{origin_path}{path}/…");
        until(&what, edges, || async move {
            let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = format!("{path}/{i}-{n}");
            (served(e, host, &p).await? == format!("origin:{origin_path}{p}")).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_edges_share_one_bucket() {
    let origin = TestOrigin::start().await;
    let bucket = unique_bucket("state-fleet");
    create_bucket(&bucket);
    let dirs = tempfile::tempdir().unwrap();
    let dir = |n: &str| {
        let d = dirs.path().join(n);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let log = |n: &str| dirs.path().join(format!("{n}.log"));
    let (pa, pb, pc) = (
        FleetEdge::start(&dir("a"), log("a"), &bucket, "a", NO_FLAGS),
        FleetEdge::start(&dir("b"), log("b"), &bucket, "b", NO_FLAGS),
        FleetEdge::start(&dir("c"), log("c"), &bucket, "c", NO_FLAGS),
    );
    let (a, b, c) = (&pa, &pb, &pc);

    // Create through A; B and C serve it.
    let created = boto3(
        &a.admin_url(),
        &format!(
            "cfg = dist('fleet', origin_domain='localhost')\n\
             cfg['Origins']['Items'][0]['CustomOriginConfig']['HTTPPort'] = {}\n\
             r = cf.create_distribution(DistributionConfig=cfg)['Distribution']\n\
             out['id'] = r['Id']; out['domain'] = r['DomainName']; out['status'] = r['Status']",
            origin.addr.port()
        ),
    )
    .await;
    let id = &created["id"].as_str().unwrap().to_owned();
    let host = &created["domain"].as_str().unwrap().to_owned();
    all_serve(&[a, b, c], host, "/one", "").await;
    until("Deployed on A once every edge has it", &[a, b, c], || async move {
        (status(a, &format!("distribution/{id}")).await == "Deployed").then_some(())
    })
    .await;
    // The CLI's waiter returns.
    let ep = a.admin_url();
    let id2 = id.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        aws_command(&[
            "--endpoint-url",
            &ep,
            "cloudfront",
            "wait",
            "distribution-deployed",
            "--id",
            &id2,
        ])
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "wait distribution-deployed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Update through C while B is stopped: InProgress until B has applied it, then Deployed
    // (boto3's waiter, polling every second, waits for real).
    let etag = config(c, id).await["etag"].as_str().unwrap().to_owned();
    b.signal("-STOP");
    let updated = set_origin_path(c, id, &etag, "/v2").await;
    let etag = &updated["etag"]
        .as_str()
        .expect("update through C")
        .to_owned();
    assert_eq!(
        status(c, &format!("distribution/{id}")).await,
        "InProgress",
        "B, stopped, has not applied the change"
    );
    let waiter = {
        let ep = c.admin_url();
        let id = id.to_owned();
        tokio::spawn(async move {
            boto3(
                &ep,
                &format!(
                    "cf.get_waiter('distribution_deployed').wait(Id={id:?}, WaiterConfig={{'Delay': 1, 'MaxAttempts': 90}})\n\
                     out['status'] = cf.get_distribution(Id={id:?})['Distribution']['Status']"
                ),
            )
            .await
        })
    };
    b.signal("-CONT");
    let waited = waiter.await.unwrap();
    assert_eq!(waited["status"], "Deployed");
    all_serve(&[a, b, c], host, "/two", "/v2").await;

    // Conflicting updates through A and B at once: one wins, the other is refused, nothing is
    // lost.
    until("A and B agree on the ETag", &[a, b, c], || async move {
        let ea = config(a, id).await["etag"].clone();
        let eb = config(b, id).await["etag"].clone();
        (ea == etag.as_str() && eb == etag.as_str()).then_some(())
    })
    .await;
    let (ra, rb) = tokio::join!(
        set_origin_path(a, id, etag, "/from-a"),
        set_origin_path(b, id, etag, "/from-b")
    );
    let (winner, loser_edge, loser, lost_path) = match (&ra["etag"], &rb["etag"]) {
        (serde_json::Value::String(_), serde_json::Value::Null) => {
            (ra.clone(), b, rb.clone(), "/from-b")
        }
        (serde_json::Value::Null, serde_json::Value::String(_)) => {
            (rb.clone(), a, ra.clone(), "/from-a")
        }
        _ => panic!("exactly one update must win: A {ra}, B {rb}"),
    };
    assert_eq!(loser["code"], "PreconditionFailed", "{loser}");
    assert_eq!(loser["status"], 412, "{loser}");
    let win_path = if lost_path == "/from-a" {
        "/from-b"
    } else {
        "/from-a"
    };
    all_serve(&[a, b, c], host, "/three", win_path).await;
    let winner_etag = &winner["etag"].as_str().unwrap().to_owned();
    for e in [a, b, c] {
        until(
            "every edge has the winner's version",
            &[a, b, c],
            || async move {
                let v = config(e, id).await;
                (v["etag"] == winner_etag.as_str()).then_some(v)
            },
        )
        .await;
    }
    // The loser retries on the version it now sees, and that is not lost either.
    let retried = set_origin_path(loser_edge, id, winner_etag, lost_path).await;
    assert!(retried["etag"].is_string(), "{retried}");
    all_serve(&[a, b, c], host, "/four", lost_path).await;

    // An invalidation through B is executed on every edge before it is Completed.
    for e in [a, b, c] {
        served(e, host, "/inv/x").await.expect("first request");
        let again = get(e.viewer, host, "/inv/x").await;
        assert_eq!(again.header("x-cache"), Some("Hit from cloudfront"));
    }
    let before = origin.hits_for(&format!("{lost_path}/inv/"));
    assert_eq!(before, 3, "one miss per edge");
    let inv = boto3(
        &b.admin_url(),
        &format!(
            "r = cf.create_invalidation(DistributionId={id:?}, InvalidationBatch={{'Paths': {{'Quantity': 1, 'Items': ['/inv/*']}}, 'CallerReference': 'inv1'}})\n\
             out['id'] = r['Invalidation']['Id']\n\
             cf.get_waiter('invalidation_completed').wait(DistributionId={id:?}, Id=r['Invalidation']['Id'], WaiterConfig={{'Delay': 1, 'MaxAttempts': 90}})\n\
             out['status'] = cf.get_invalidation(DistributionId={id:?}, Id=r['Invalidation']['Id'])['Invalidation']['Status']"
        ),
    )
    .await;
    assert_eq!(inv["status"], "Completed");
    let inv_id = inv["id"].as_str().unwrap().to_owned();
    // The CLI's waiter, through another edge, returns too.
    let (ep, dist, inv2) = (c.admin_url(), id.to_owned(), inv_id.clone());
    let out = tokio::task::spawn_blocking(move || {
        aws_command(&[
            "--endpoint-url",
            &ep,
            "cloudfront",
            "wait",
            "invalidation-completed",
            "--distribution-id",
            &dist,
            "--id",
            &inv2,
        ])
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "wait invalidation-completed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for e in [a, b, c] {
        let r = get(e.viewer, host, "/inv/x").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-cache"),
            Some("Miss from cloudfront"),
            "purged on every edge"
        );
        assert_eq!(
            status(e, &format!("distribution/{id}/invalidation/{inv_id}")).await,
            "Completed"
        );
    }
    assert_eq!(origin.hits_for(&format!("{lost_path}/inv/")), 6);

    // C killed with SIGKILL: a change through A still reaches Deployed (C stops counting after
    // the dead-edge timeout), and C catches up when it comes back.
    let etag = config(a, id).await["etag"].as_str().unwrap().to_owned();
    pc.sigkill();
    let updated = set_origin_path(a, id, &etag, "/v5").await;
    assert!(updated["etag"].is_string(), "{updated}");
    until("Deployed without the dead edge", &[a, b], || async move {
        (status(a, &format!("distribution/{id}")).await == "Deployed").then_some(())
    })
    .await;
    all_serve(&[a, b], host, "/five", "/v5").await;
    let pc = FleetEdge::start(&dir("c"), log("c"), &bucket, "c", NO_FLAGS);
    let c = &pc;
    all_serve(&[a, b, c], host, "/six", "/v5").await;
    assert_eq!(status(c, &format!("distribution/{id}")).await, "Deployed");
}
