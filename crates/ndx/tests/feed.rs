//! The change feed end to end (issue 13): a province's system follows the population
//! register under its agreement — pages after a position, then a Server-Sent Events stream
//! that resumes after `Last-Event-ID`, sees a change of address and a death (a deletion) as
//! they commit, carries the agreed fields only, and stops when the agreement is revoked (idle
//! or not).
//! Every page is audited with its data subjects; refusals have their codes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ADDRESS, POP, PURPOSE, Server};
use serde_json::{Value, json};

fn province_key(s: &Server) -> String {
    s.key("consumer-01")
}

fn changes(s: &Server, key: &str, query: &str) -> common::Resp {
    s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/changes?{query}"),
        Some(key),
        &[("Ndx-Purpose", PURPOSE)],
        None,
    )
}

/// Every change after `after`, page by page: (position, key, op, data).
fn follow(s: &Server, key: &str, after: u64) -> (Vec<(u64, String, String, Value)>, u64) {
    follow_query(s, key, after, "limit=7")
}

/// Every change after `after` that `query` (limit, filters) lets through, page by page.
fn follow_query(
    s: &Server,
    key: &str,
    mut after: u64,
    query: &str,
) -> (Vec<(u64, String, String, Value)>, u64) {
    let mut out = Vec::new();
    loop {
        let r = changes(s, key, &format!("after={after}&{query}"));
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        for c in page["changes"].as_array().expect("changes") {
            out.push((
                c["position"].as_u64().expect("position"),
                c["key"].as_str().expect("key").to_owned(),
                c["op"].as_str().expect("op").to_owned(),
                c["data"].clone(),
            ));
        }
        let next = page["next"].as_u64().expect("next");
        if next == after {
            return (out, next);
        }
        after = next;
    }
}

/// The stored record of a citizen, changed to live elsewhere, as one NDJSON line.
fn moved(s: &Server, provider: &str, citizen: &str, street: &str) -> Vec<u8> {
    let r = s.get(
        &format!("/api/v1/datasets/{POP}/records/{citizen}"),
        Some(provider),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut data = r.json()["data"].clone();
    data["street_address"] = json!(street);
    let mut line = serde_json::to_vec(&data).expect("json");
    line.push(b'\n');
    line
}

#[test]
fn a_province_pages_through_the_feed_with_agreed_fields_and_each_subject_is_audited() {
    let s = Server::demo(30);
    let province = s.key("consumer-01");
    let provider = s.key("population-provider");
    let (all, head) = follow(&s, &province, 0);
    assert!(all.len() >= 30, "{} changes", all.len());
    assert_eq!(head, all.last().expect("some").0);
    for (i, (position, _, op, data)) in all.iter().enumerate() {
        assert_eq!(*position, i as u64 + 1, "positions are gap-free from 1");
        assert_eq!(op, "upsert");
        let fields: Vec<&String> = data.as_object().expect("data").keys().collect();
        assert!(
            fields.iter().all(|f| ADDRESS.contains(&f.as_str())),
            "{fields:?}"
        );
    }
    // A move and a death reach the feed, in commit order, after the head.
    let (citizen, gone) = (all[3].1.clone(), all[5].1.clone());
    let line = moved(&s, &provider, &citizen, "12 Tràng Tiền");
    let r = s.ingest(POP, "", &provider, "application/x-ndjson", &line, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.request(
        "DELETE",
        &format!("/api/v1/datasets/{POP}/records/{gone}"),
        Some(&provider),
        &[],
        None,
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.body);
    let (new, _) = follow(&s, &province, head);
    assert_eq!(new.len(), 2, "{new:?}");
    assert_eq!(
        (new[0].0, new[0].1.as_str(), new[0].2.as_str()),
        (head + 1, citizen.as_str(), "upsert")
    );
    assert_eq!(new[0].3["street_address"], "12 Tràng Tiền");
    assert_eq!(
        (new[1].0, new[1].1.as_str(), new[1].2.as_str()),
        (head + 2, gone.as_str(), "delete")
    );
    assert_eq!(new[1].3, json!({}));
    // Nothing new: an empty page whose next is where it started.
    let page = changes(&s, &province, &format!("after={}", head + 2)).json();
    assert_eq!(page["changes"], json!([]));
    assert_eq!(page["next"], head + 2);
    assert_eq!(page["head"], head + 2);
    // Each page's event names its citizens: the moved citizen sees the province's read.
    assert!(
        s.accesses(&citizen)
            .iter()
            .any(|a| a["operation"] == "exchange.subscribe" && a["purpose"] == PURPOSE)
    );
    // Refusals, each with its code.
    changes(&s, &province, "after=x").problem(400, "feed-position-invalid");
    changes(&s, &province, "after=-1").problem(400, "feed-position-invalid");
    changes(&s, &province, &format!("after={}", head + 3)).problem(400, "feed-position-invalid");
    changes(&s, &province, "limit=0").problem(400, "limit-invalid");
    changes(&s, &province, "limit=1001").problem(400, "limit-invalid");
    // Any other parameter is a filter, on released fields only.
    changes(&s, &province, "bogus=1").problem(403, "field-not-covered");
    changes(&s, &province, "fields=citizen_id").problem(403, "field-not-covered");
    s.get(
        &format!("/api/v1/exchange/datasets/{POP}/changes"),
        Some(&province),
    )
    .problem(400, "purpose-missing");
    // The civil-service register may look up, search and extract, not follow the feed.
    s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/changes"),
        Some(&s.key("civil-service-consumer")),
        &[("Ndx-Purpose", "cross-checking")],
        None,
    )
    .problem(403, "operation-not-covered");
    changes(&s, "ndx_nope", "after=0").problem(401, "key-unknown");
    // A province follows only its own citizens: a filter on a released field keeps the
    // changes whose new or previous version has the value (a move away still arrives).
    let province_of = |data: &Value| data["province_code"].as_str().map(str::to_owned);
    // The province of the citizen who died, so that the deletion must pass the filter.
    let home = province_of(&all[5].3).expect("a province code");
    let (filtered, _) = follow_query(
        &s,
        &province_key(&s),
        0,
        &format!("limit=9&province_code={home}"),
    );
    let filtered: Vec<u64> = filtered.iter().map(|(p, _, _, _)| *p).collect();
    let expected: Vec<u64> = all
        .iter()
        .filter(|(_, _, _, d)| province_of(d).as_deref() == Some(home.as_str()))
        .map(|(p, _, _, _)| *p)
        .collect();
    let got: Vec<u64> = filtered.iter().copied().filter(|p| *p <= head).collect();
    assert_eq!(got, expected, "the demo's changes of province {home}");
    // The move and the death: a deletion has no data, so its previous version decides.
    let later: Vec<u64> = filtered.iter().copied().filter(|p| *p > head).collect();
    let mut expected_later = Vec::new();
    if province_of(&all[3].3).as_deref() == Some(home.as_str()) {
        expected_later.push(head + 1);
    }
    if province_of(&all[5].3).as_deref() == Some(home.as_str()) {
        expected_later.push(head + 2);
    }
    assert_eq!(later, expected_later);
    // A filtered page reads on until it has its matches: the first page of 2 holds the first
    // two changes of the province, wherever they are.
    let page = changes(
        &s,
        &province_key(&s),
        &format!("after=0&limit=2&province_code={home}"),
    )
    .json();
    let first_two: Vec<u64> = page["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["position"].as_u64().expect("position"))
        .collect();
    let every: Vec<u64> = expected.iter().chain(&expected_later).copied().collect();
    assert_eq!(first_two, every[..2.min(every.len())].to_vec());
    assert_eq!(page["next"].as_u64(), first_two.last().copied());
    changes(&s, &province_key(&s), "province_code=ZZ").problem(422, "filter-value-invalid");
    changes(&s, &province_key(&s), "citizen_id=001").problem(403, "field-not-covered");
    // An extract names the feed position it is consistent with, to re-baseline from.
    let r = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/extract"),
        Some(&s.key("civil-service-consumer")),
        &[("Ndx-Purpose", "cross-checking")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("ndx-feed-position"),
        Some((head + 2).to_string().as_str())
    );
    // A consumer asks only for some agreed fields.
    let page = changes(&s, &province, "after=0&limit=3&fields=full_name").json();
    for c in page["changes"].as_array().expect("changes") {
        assert_eq!(
            c["data"]
                .as_object()
                .expect("data")
                .keys()
                .collect::<Vec<_>>(),
            vec!["full_name"]
        );
    }
}

/// A Server-Sent Events client on a plain socket: the status line, then events as they come.
struct Stream {
    lines: BufReader<TcpStream>,
}

impl Stream {
    fn open(s: &Server, key: &str, last_event_id: Option<u64>) -> (u16, Stream) {
        let addr = s.base_url().trim_start_matches("http://").to_owned();
        let mut socket = TcpStream::connect(&addr).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            socket,
            "GET /api/v1/exchange/datasets/{POP}/changes HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {key}\r\nNdx-Purpose: {PURPOSE}\r\n\
             Accept: text/event-stream\r\n{resume}\r\n"
        )
        .expect("request");
        let mut lines = BufReader::new(socket);
        let mut status = String::new();
        lines.read_line(&mut status).expect("status line");
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        // Skip the response head.
        loop {
            let mut h = String::new();
            lines.read_line(&mut h).expect("header");
            if h == "\r\n" {
                break;
            }
        }
        (code, Stream { lines })
    }

    /// The next event (`id`, `event`, `data`), skipping comments and chunk framing; `None` at
    /// the end of the stream.
    fn next(&mut self) -> Option<(Option<u64>, String, Value)> {
        let (mut id, mut event, mut data) = (None, String::from("message"), None);
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).expect("read") == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).expect("event data"));
            } else if line.is_empty() {
                if let Some(d) = data.take() {
                    return Some((id, event, d));
                }
            } else if line == "0" {
                return None; // the last chunk
            }
            // Anything else: a chunk size or a comment.
        }
    }
}

#[test]
fn a_stream_resumes_after_the_last_event_sees_changes_as_they_commit_and_stops_when_revoked() {
    let s = Server::demo(20);
    let province = s.key("consumer-01");
    let provider = s.key("population-provider");
    let (all, head) = follow(&s, &province, 0);
    // Resumes after Last-Event-ID: the two last changes, then nothing until a commit.
    let (status, mut stream) = Stream::open(&s, &province, Some(head - 2));
    assert_eq!(status, 200);
    for expected in [head - 1, head] {
        let (id, event, data) = stream.next().expect("an event");
        assert_eq!((id, event.as_str()), (Some(expected), "change"));
        assert_eq!(data["position"], expected);
    }
    let citizen = all[2].1.clone();
    let started = Instant::now();
    let line = moved(&s, &provider, &citizen, "7 Lê Lợi");
    let r = s.ingest(POP, "", &provider, "application/x-ndjson", &line, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let (id, event, data) = stream.next().expect("the move");
    assert_eq!((id, event.as_str()), (Some(head + 1), "change"));
    let metrics = s.get("/metrics", None).body;
    assert!(
        metrics.contains("ndx_feed_streams_open{dataset=\"population\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ndx_feed_changes_sent_total{dataset=\"population\"}"));
    assert_eq!(data["key"], citizen.as_str());
    assert_eq!(data["data"]["street_address"], "7 Lê Lợi");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The province revokes its agreement: the next change is not sent, the stream ends with
    // the refusal.
    let id = s.approved_agreement(&province, POP);
    let r = s.post_json(
        &format!("/api/v1/agreements/{id}/revoke"),
        Some(&province),
        &json!({"reason": "the system is retired"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // An idle stream sees the revocation by itself (the catalogue changed: it decides again).
    let revoked = Instant::now();
    let (_, event, problem) = stream.next().expect("the refusal");
    assert_eq!(event, "error");
    assert_eq!(problem["code"], "agreement-revoked");
    assert!(revoked.elapsed() < Duration::from_secs(10));
    let line = moved(&s, &provider, &citizen, "9 Lê Lợi");
    let r = s.ingest(POP, "", &provider, "application/x-ndjson", &line, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(stream.next().is_none(), "the stream ends");
    let closed = Instant::now();
    while !s
        .get("/metrics", None)
        .body
        .contains("ndx_feed_streams_open{dataset=\"population\"} 0")
    {
        assert!(
            closed.elapsed() < Duration::from_secs(5),
            "the stream is still counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A stream refused at the start is a problem with its status.
    let (status, _) = Stream::open(&s, &province, None);
    assert_eq!(status, 403);
}
