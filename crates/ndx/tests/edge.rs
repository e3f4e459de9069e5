//! The HTTP edge answers what it refuses with precise problems (issue 11): a wrong method on a
//! known route (405), a target too long (414), header fields too large (431), a path that is
//! not UTF-8 once decoded, a control byte or a non-ASCII byte in Content-Type, a charset ndx
//! does not decode (415), and the keys of a system that does not exist (404). Some of these are
//! refused by hyper before any handler runs, so they are sent over raw sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Resp, Server};
use serde_json::Value;

/// Sends raw bytes and reads the answer until the server closes (the request says
/// `Connection: close`, or the server refuses the head and closes).
fn raw(s: &Server, request: &[u8]) -> Resp {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The server may answer and close before it has read all of a long head.
    let _ = stream.write_all(request);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if bytes.is_empty() => panic!("no answer: {e}"),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn detail(p: &Value) -> &str {
    p["detail"].as_str().unwrap_or_default()
}

#[test]
fn a_wrong_method_on_a_known_route_is_a_405_problem_with_allow() {
    let s = Server::fresh();
    let r = s.request("DELETE", "/health", None, &[], None);
    let p = r.problem(405, "method-not-allowed");
    assert!(detail(&p).contains("DELETE"), "{p}");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "{r:?}"
    );
    let op = s.operator_key();
    s.request("PATCH", "/api/v1/members", Some(&op), &[], None)
        .problem(405, "method-not-allowed");
}

#[test]
fn a_target_too_long_is_a_414_problem() {
    let s = Server::fresh();
    // Over ndx's limit (8 KiB by default), which the application checks.
    let long = format!("/api/v1/datasets/{}", "a".repeat(9_000));
    let p = s.get(&long, None).problem(414, "uri-too-long");
    assert!(detail(&p).contains("8192"), "{p}");
    // Over hyper's own limit (64 KiB), refused before any handler runs.
    let longer = format!(
        "GET /api/v1/datasets/{} HTTP/1.1\r\nHost: ndx\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    raw(&s, longer.as_bytes()).problem(414, "uri-too-long");
}

#[test]
fn header_fields_too_large_are_a_431_problem() {
    let s = Server::fresh();
    let big = "b".repeat(40_000);
    s.request("GET", "/health", None, &[("X-Big", &big)], None)
        .problem(431, "headers-too-large");
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: ndx\r\nConnection: close\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    raw(&s, many.as_bytes()).problem(431, "headers-too-large");
    assert_eq!(s.get("/health", None).status, 200);
}

#[test]
fn a_path_that_is_not_utf8_once_decoded_is_a_400_problem() {
    let s = Server::demo(20);
    let key = s.key("population-provider");
    for path in [
        "/api/v1/datasets/%FF",
        "/api/v1/datasets/population/records/%C3%28",
        "/api/v1/members/%80abc",
    ] {
        let p = s.get(path, Some(&key)).problem(400, "path-invalid");
        assert!(detail(&p).contains("UTF-8"), "{p}");
    }
    // A raw non-ASCII byte in the request line is refused by the HTTP parser, with a problem.
    let p = raw(
        &s,
        b"GET /api/v1/datasets/\xFF HTTP/1.1\r\nHost: ndx\r\nConnection: close\r\n\r\n",
    )
    .problem(400, "request-malformed");
    assert!(detail(&p).contains("0xFF"), "{p}");
    // Percent-encoded UTF-8 is fine: an unknown dataset, not a bad path.
    s.get("/api/v1/datasets/d%C3%A2n", Some(&key))
        .problem(404, "dataset-not-found");
}

#[test]
fn a_control_or_non_ascii_byte_in_content_type_is_a_precise_problem() {
    let s = Server::demo(20);
    let key = s.key("population-provider");
    // DEL: refused by the HTTP parser, answered with a problem that names the header.
    let del = format!(
        "POST /api/v1/datasets/population/records HTTP/1.1\r\nHost: ndx\r\n\
         Authorization: Bearer {key}\r\nContent-Type: text/csv\x7f\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    let p = raw(&s, del.as_bytes()).problem(400, "header-invalid");
    assert!(
        detail(&p).contains("content-type") && detail(&p).contains("0x7F"),
        "{p}"
    );
    // Another control byte, in a JSON request.
    let ctl =
        b"POST /api/v1/members HTTP/1.1\r\nHost: ndx\r\nContent-Type: application/json\x01\r\n\
                Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    raw(&s, ctl).problem(400, "header-invalid");
    // A non-ASCII byte passes the HTTP parser; ndx names it.
    let mut latin = format!(
        "POST /api/v1/datasets/population/records HTTP/1.1\r\nHost: ndx\r\n\
         Authorization: Bearer {key}\r\nContent-Length: 0\r\nConnection: close\r\n"
    )
    .into_bytes();
    latin.extend_from_slice(b"Content-Type: text/csv; charset=\xFF\r\n\r\n");
    let p = raw(&s, &latin).problem(400, "header-invalid");
    assert!(
        detail(&p).contains("Content-Type") && detail(&p).contains("0xFF"),
        "{p}"
    );
}

#[test]
fn a_charset_ndx_does_not_decode_is_refused_with_415() {
    let s = Server::demo(20);
    let key = s.key("population-provider");
    for charset in ["utf-16", "latin1", "ISO-8859-1", "\"windows-1258\""] {
        let ct = format!("text/csv; charset={charset}");
        let r = s.ingest("population", "", &key, &ct, b"citizen_id\n", None);
        let p = r.problem(415, "charset-unsupported");
        let named = charset.trim_matches('"').to_ascii_lowercase();
        assert!(detail(&p).contains(&named), "{p}");
        assert!(detail(&p).contains("UTF-8"), "{p}");
        assert!(detail(&p).contains("us-ascii"), "{p}");
    }
    let r = s.ingest(
        "population",
        "",
        &key,
        "application/x-ndjson; charset=utf-16le",
        b"{}\n",
        None,
    );
    r.problem(415, "charset-unsupported");
    // UTF-8 and US-ASCII are read; an empty body is then refused for what it is.
    for ct in ["text/csv; charset=UTF-8", "text/csv; charset=us-ascii"] {
        let r = s.ingest("population", "", &key, ct, b"", None);
        assert_ne!(r.status, 415, "{ct}: {}", r.body);
    }
    // JSON bodies anywhere.
    let op = s.key("operator");
    let body = br#"{"code":"X"}"#;
    let r = s.request(
        "POST",
        "/api/v1/members",
        Some(&op),
        &[],
        Some(("application/json; charset=iso-8859-1", body)),
    );
    let p = r.problem(415, "charset-unsupported");
    assert!(detail(&p).contains("iso-8859-1"), "{p}");
}

#[test]
fn the_keys_of_an_unknown_system_are_a_404() {
    let s = Server::demo(20);
    let op = s.key("operator");
    let p = s
        .get("/api/v1/systems/NOPE/keys", Some(&op))
        .problem(404, "system-not-found");
    assert!(detail(&p).contains("NOPE"), "{p}");
    let r = s.get("/api/v1/systems/NDC-OPS/keys", Some(&op));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.json().as_array().expect("array").is_empty());
}

#[test]
fn a_refusal_sent_before_the_body_is_read_closes_the_connection_and_says_so() {
    let s = Server::fresh();
    // The head promises a body that has not come yet; the key is missing, so the answer comes
    // first. The server will not read an unknown amount to keep the connection, so the answer
    // must say `Connection: close`, or a client reuses a connection that is closing under it.
    let r = raw(
        &s,
        b"POST /api/v1/members HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
    );
    r.problem(401, "auth-missing");
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    // A request whose body was read keeps its connection.
    let op = s.operator_key();
    let r = s.request(
        "POST",
        "/api/v1/members",
        Some(&op),
        &[],
        Some(("application/json", b"{\"code\": 7}")),
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.header("connection"), None, "{r:?}");
}
