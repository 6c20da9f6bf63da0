//! The CloudFront Functions event object, both ways: any request (method, path, query, header
//! bytes) becomes an event that is valid JSON, and any "function result" (the input's tail,
//! as JSON or not) is applied to it without a panic, as a request or a response.
#![no_main]

use edgegate::functions::event::{self, EventContext, RequestView};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let path = parts.next().unwrap_or("/");
    let query = parts.next();
    let raw_headers = parts.next().unwrap_or("");
    let result = parts.next().unwrap_or("");
    let mut headers = HeaderMap::new();
    for line in raw_headers.split('\r') {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_bytes(v.as_bytes()),
            )
        {
            headers.append(k, v);
        }
    }
    let cx = EventContext {
        distribution_domain: "d1.cloudfront.net",
        distribution_id: "E1",
        request_id: "r",
        viewer_ip: "192.0.2.1".parse().unwrap(),
    };
    let view = RequestView {
        method: "GET",
        uri: path,
        query,
        headers: &headers,
    };
    let ev = event::request_event(&cx, &view);
    let parsed: serde_json::Value = serde_json::from_str(&ev).expect("the event is JSON");
    // The unchanged request changes nothing.
    let same = parsed["request"].to_string();
    let _ = event::apply_request(&same, &view);
    let _ = event::apply_request(result, &view);
    let resp = event::response_event(&cx, &view, StatusCode::OK, &headers);
    serde_json::from_str::<serde_json::Value>(&resp).expect("the event is JSON");
    let _ = event::apply_response(result, StatusCode::OK, &headers);
});
