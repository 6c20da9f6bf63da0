//! Tests for the local-directory origin: serving, conditional answers and every refusal.

use http::HeaderMap;
use http_body_util::BodyExt;

use super::*;
use crate::origin::Origin;

fn site() -> (tempfile::TempDir, LocalDirOrigin) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("css")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(root.join("css/site.css"), "body{}").unwrap();
    std::fs::write(root.join("data.bin"), [0u8, 1, 2]).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
    let origin = LocalDirOrigin::new(root).unwrap();
    (dir, origin)
}

fn request(method: Method, path: &str) -> OriginRequest {
    OriginRequest {
        method,
        path_and_query: path.to_owned(),
        headers: HeaderMap::new(),
        body: Body::empty(),
        viewer_https: false,
    }
}

async fn get(origin: &LocalDirOrigin, path: &str) -> Result<Response<Body>, OriginError> {
    origin.fetch(request(Method::GET, path)).await
}

async fn body(resp: Response<Body>) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

fn header<'a>(resp: &'a Response<Body>, name: &str) -> &'a str {
    resp.headers().get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn serves_files_with_type_length_validators() {
    let (_dir, origin) = site();
    let resp = get(&origin, "/index.html?v=3").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "content-type"), "text/html");
    assert_eq!(header(&resp, "content-length"), "11");
    let etag = header(&resp, "etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
        "{etag}"
    );
    assert!(httpdate::parse_http_date(header(&resp, "last-modified")).is_ok());
    assert_eq!(body(resp).await, b"<h1>hi</h1>");

    let css = get(&origin, "/css/site.css").await.unwrap();
    assert_eq!(header(&css, "content-type"), "text/css");
    let bin = get(&origin, "/data.bin").await.unwrap();
    assert_eq!(header(&bin, "content-type"), "application/octet-stream");
    assert_eq!(body(bin).await, [0u8, 1, 2]);
}

#[tokio::test]
async fn percent_encoded_names_are_decoded_once() {
    let (_dir, origin) = site();
    std::fs::write(origin.root().join("a b.txt"), "space").unwrap();
    std::fs::write(origin.root().join("100%.txt"), "percent").unwrap();
    assert_eq!(
        body(get(&origin, "/a%20b.txt").await.unwrap()).await,
        b"space"
    );
    assert_eq!(
        body(get(&origin, "/100%25.txt").await.unwrap()).await,
        b"percent"
    );
    // Decoded once only: %2525 names the file "100%25.txt", which does not exist.
    assert_eq!(
        get(&origin, "/100%2525.txt").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let (_dir, origin) = site();
    let resp = origin
        .fetch(request(Method::HEAD, "/index.html"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "content-length"), "11");
    assert!(body(resp).await.is_empty());
}

#[tokio::test]
async fn missing_files_and_directories_are_404() {
    let (_dir, origin) = site();
    for path in ["/nope.html", "/css", "/css/", "/", "/index.html/more"] {
        let resp = get(&origin, path).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&resp, "content-type"), "application/xml");
        let text = String::from_utf8(body(resp).await).unwrap();
        assert!(text.contains("<Code>NoSuchKey</Code>"), "{text}");
    }
}

#[tokio::test]
async fn other_methods_are_405() {
    let (_dir, origin) = site();
    for method in [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
    ] {
        let resp = origin
            .fetch(request(method.clone(), "/index.html"))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(header(&resp, "allow"), "GET, HEAD");
    }
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let (_dir, origin) = site();
    let first = get(&origin, "/index.html").await.unwrap();
    let etag = header(&first, "etag").to_owned();
    let last_modified = header(&first, "last-modified").to_owned();

    let mut req = request(Method::GET, "/index.html");
    req.headers
        .insert(header::IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
    let resp = origin.fetch(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&resp, "etag"), etag);
    assert!(body(resp).await.is_empty());

    let mut req = request(Method::GET, "/index.html");
    req.headers
        .insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
    assert_eq!(origin.fetch(req).await.unwrap().status(), StatusCode::OK);

    let mut req = request(Method::GET, "/index.html");
    req.headers.insert(
        header::IF_MODIFIED_SINCE,
        HeaderValue::from_str(&last_modified).unwrap(),
    );
    assert_eq!(
        origin.fetch(req).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );

    let mut req = request(Method::GET, "/index.html");
    req.headers.insert(
        header::IF_MODIFIED_SINCE,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
    );
    assert_eq!(origin.fetch(req).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn large_files_stream_in_64k_chunks() {
    let (_dir, origin) = site();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(origin.root().join("big.bin"), &data).unwrap();
    let resp = get(&origin, "/big.bin").await.unwrap();
    assert_eq!(header(&resp, "content-length"), "300000");
    let mut stream = resp.into_body();
    let mut got = Vec::new();
    let mut frames = 0;
    while let Some(frame) = stream.frame().await {
        let chunk = frame.unwrap().into_data().unwrap();
        assert!(chunk.len() <= CHUNK, "a frame of {} bytes", chunk.len());
        got.extend_from_slice(&chunk);
        frames += 1;
    }
    assert!(frames >= 5, "{frames} frames");
    assert_eq!(got, data);
}

#[tokio::test]
async fn escapes_are_refused() {
    let (_dir, origin) = site();
    let cases = [
        "/../secret.txt",
        "/css/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/./index.html",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/css%2fsite.css",
        "/..%5csecret.txt",
        "/..%5Csecret.txt",
        "/..\\secret.txt",
        "/index.html%00.png",
        "/%ff%fe",
    ];
    for path in cases {
        match get(&origin, path).await {
            Err(OriginError::Refused(msg)) => assert!(msg.contains("path"), "{path}: {msg}"),
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_out_of_the_root_are_refused_inside_are_served() {
    let (dir, origin) = site();
    std::os::unix::fs::symlink(
        dir.path().join("secret.txt"),
        origin.root().join("leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.path(), origin.root().join("parent")).unwrap();
    std::os::unix::fs::symlink(
        origin.root().join("index.html"),
        origin.root().join("home.html"),
    )
    .unwrap();
    for path in ["/leak.txt", "/parent/secret.txt"] {
        match get(&origin, path).await {
            Err(OriginError::Refused(msg)) => assert!(msg.contains("outside"), "{path}: {msg}"),
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }
    let inside = get(&origin, "/home.html").await.unwrap();
    assert_eq!(inside.status(), StatusCode::OK);
    assert_eq!(body(inside).await, b"<h1>hi</h1>");
}

#[test]
fn root_must_be_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    assert!(LocalDirOrigin::new(dir.path().join("missing")).is_err());
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let err = LocalDirOrigin::new(file).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn content_types_by_extension() {
    for (name, ty) in [
        ("a.HTML", "text/html"),
        ("a.js", "text/javascript"),
        ("a.json", "application/json"),
        ("a.txt", "text/plain"),
        ("a.png", "image/png"),
        ("a.jpeg", "image/jpeg"),
        ("a.svg", "image/svg+xml"),
        ("noext", "application/octet-stream"),
    ] {
        assert_eq!(content_type(Path::new(name)), ty, "{name}");
    }
}

#[tokio::test]
async fn over_long_names_are_404_and_symlink_loops_refused() {
    let (_dir, origin) = site();
    let long = format!("/{}", "a".repeat(300));
    assert_eq!(
        get(&origin, &long).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("loop-b", origin.root().join("loop-a")).unwrap();
        std::os::unix::fs::symlink("loop-a", origin.root().join("loop-b")).unwrap();
        match get(&origin, "/loop-a").await {
            Err(OriginError::Refused(_)) => {}
            other => panic!("expected Refused, got {other:?}"),
        }
    }
}
