//! Every operation of botocore's CloudFront model, sent to the real server: an operation edgegate
//! supports is routed to its handler (whatever it then answers, never `UnsupportedOperation`);
//! every other one answers 400 `UnsupportedOperation` naming the operation.

use crate::common::*;

fn element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))?;
    Some(&body[start..start + end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_of_the_model_is_supported_or_names_itself_unsupported() {
    let edge = TestEdge::start("").await;
    let host = edge.admin.to_string();
    let ops = edgegate::control::model_table::OPERATIONS;
    assert_eq!(ops.len(), 167, "the model's operations");
    let supported = edgegate::control::unsupported::SUPPORTED;
    let (mut n_supported, mut n_unsupported) = (0, 0);
    for op in ops {
        // Labels get a value no resource has; literal queries are sent as the model writes them.
        let path: String = op
            .path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "EEXAMPLE0NOSUCH"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let path = match op.query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let r = send(edge.admin, op.method, &host, &path, &[], b"").await;
        let body = r.text();
        let code = element(&body, "Code").unwrap_or("");
        assert_ne!(r.status, 500, "{}: {body}", op.name);
        if supported.contains(&op.name) {
            assert_ne!(
                code, "UnsupportedOperation",
                "{} is supported but answered {body}",
                op.name
            );
            n_supported += 1;
        } else {
            assert_eq!(
                (r.status, code),
                (400, "UnsupportedOperation"),
                "{} {}: {body}",
                op.method,
                path
            );
            let message = element(&body, "Message").unwrap_or("");
            assert!(
                message.contains(&format!("operation {} (", op.name)),
                "{}: the message does not name it: {message}",
                op.name
            );
            n_unsupported += 1;
        }
    }
    assert_eq!(n_supported, supported.len());
    assert_eq!(n_supported + n_unsupported, 167);
    // A path outside the model is UnsupportedOperation too, and says so.
    let r = send(
        edge.admin,
        "GET",
        &host,
        "/2020-05-31/no-such-thing",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(element(&r.text(), "Code"), Some("UnsupportedOperation"));
    assert!(r.text().contains("not an operation of the CloudFront API"));
    edge.stop().await;
}
