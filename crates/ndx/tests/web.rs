//! The web UI over HTTP: the public pages in both languages, their headers, the language
//! switch, escaping, the open-data portal's search, facets and package pages, signing in and
//! out (and the refusals: wrong secrets, cross-site forms, floods), and the citizen's own
//! data, on the demo country.

mod common;

use common::Server;
use serde_json::json;

fn html(s: &Server, path: &str, headers: &[(&str, &str)]) -> common::Resp {
    let r = s.request("GET", path, None, headers, None);
    assert_eq!(
        r.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{path}: {}",
        r.body
    );
    r
}

#[test]
fn the_home_page_speaks_vietnamese_by_default_and_english_when_asked() {
    let s = Server::demo(300);
    let r = html(&s, "/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("<!doctype html>"), "{}", r.body);
    assert!(r.body.contains("<html lang=\"vi\">"));
    assert!(r.body.contains("Dữ liệu của Nhà nước, phục vụ người dân"));
    assert!(
        r.body
            .contains("<strong>4</strong> <a href=\"/open-data\">gói dữ liệu mở</a>")
    );
    assert_eq!(r.header("content-language"), Some("vi"));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    // No inline script or style anywhere: the policy would block it.
    assert!(!r.body.contains("<script") && !r.body.contains("style="));

    let en = html(&s, "/", &[("Accept-Language", "fr, en-GB;q=0.8, vi;q=0.5")]);
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(
        en.body.contains("The state&#39;s data, serving the people")
            || en.body.contains("The state's data, serving the people"),
        "{}",
        en.body
    );
    // The cookie wins over the header.
    let vi = html(
        &s,
        "/",
        &[("Accept-Language", "en"), ("Cookie", "ndx_lang=vi")],
    );
    assert!(vi.body.contains("<html lang=\"vi\">"));

    // The stylesheet is embedded, named by its digest, cached for a year, 304 when held.
    let href = r
        .body
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet")
        .to_owned();
    let css = s.get(&href, None);
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(
        css.header("cache-control")
            .unwrap_or_default()
            .contains("immutable")
    );
    let etag = css.header("etag").expect("etag").to_owned();
    let again = s.request("GET", &href, None, &[("If-None-Match", &etag)], None);
    assert_eq!(again.status, 304);
    s.get("/assets/ndx-000000000000.css", None)
        .problem(404, "not-found");
}

#[test]
fn the_language_switch_keeps_the_choice_and_never_leaves_the_node() {
    let s = Server::demo(20);
    let r = s.get("/language/en?next=/open-data%3Fq%3Ddan%2520so", None);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/open-data?q=dan%20so"));
    let cookie = r.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.starts_with("ndx_lang=en;") && cookie.contains("Max-Age=31536000"),
        "{cookie}"
    );
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let r = s.get(
            &format!("/language/vi?next={}", evil.replace('/', "%2F")),
            None,
        );
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("/"), "{evil}");
    }
    let r = html(&s, "/language/fr?next=/", &[]);
    assert_eq!(r.status, 404);
    // The switch on a page names the other language and comes back to the same page.
    let page = html(&s, "/open-data?q=ha%20noi", &[]);
    assert!(
        page.body
            .contains("href=\"/language/en?next=%2Fopen-data%3Fq%3Dha%2520noi\""),
        "{}",
        page.body
    );
}

#[test]
fn the_portal_finds_packages_without_diacritics_and_refines_them_by_facets() {
    let s = Server::demo(300);
    let r = html(&s, "/open-data?q=dan%20so", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Dân số theo tỉnh, nhóm tuổi và giới tính"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("href=\"/open-data/dan-so-theo-tinh-do-tuoi-gioi-tinh\"")
    );
    assert!(
        !r.body
            .contains("href=\"/open-data/don-vi-hanh-chinh-2025\""),
        "not about population"
    );
    // Every package, then only the Ministry of Finance's through its facet link.
    let all = html(&s, "/open-data", &[("Accept-Language", "en")]);
    assert!(
        all.body.contains("<h2 id=\"found\">4 packages</h2>"),
        "{}",
        all.body
    );
    let facet = all
        .body
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.starts_with("/open-data?organization="))
        .map(|href| href.replace("&amp;", "&"))
        .expect("a publisher facet");
    let refined = html(&s, &facet, &[("Accept-Language", "en")]);
    assert!(refined.body.contains("Filtered by"), "{}", refined.body);
    assert!(!refined.body.contains("<h2 id=\"found\">4 packages</h2>"));
    let by_btc = html(
        &s,
        "/open-data?organization=btc",
        &[("Accept-Language", "en")],
    );
    assert!(
        by_btc.body.contains("<h2 id=\"found\">1 packages</h2>"),
        "{}",
        by_btc.body
    );
    assert!(
        by_btc
            .body
            .contains("Businesses by province, industry section and status")
    );
    // Nothing found is said, not an empty page; a hostile query is text.
    let none = html(&s, "/open-data?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", &[]);
    assert_eq!(none.status, 200);
    assert!(none.body.contains("Không tìm thấy gói dữ liệu nào"));
    assert!(
        none.body
            .contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62;\"")
            || none
                .body
                .contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "{}",
        none.body
    );
    assert!(!none.body.contains("<script>alert(1)"));
}

#[test]
fn a_package_page_shows_its_files_digests_privacy_and_first_rows_and_counts_a_view() {
    let s = Server::demo(300);
    let name = "mau-du-lieu-dan-cu-an-danh";
    let before = s
        .get(&format!("/api/v1/packages/{name}/usage"), None)
        .ok(200);
    let r = html(
        &s,
        &format!("/open-data/{name}"),
        &[("Accept-Language", "en")],
    );
    assert_eq!(r.status, 200);
    let release = s
        .get(&format!("/api/v1/packages/{name}/releases/1"), None)
        .ok(200);
    for f in release["files"].as_array().expect("files") {
        let href = format!("/download/{name}/1/{}", f["name"].as_str().expect("name"));
        assert!(r.body.contains(&href), "{href}");
        assert!(r.body.contains(f["sha256"].as_str().expect("digest")));
        assert_eq!(s.get(&href, None).status, 200);
    }
    assert!(r.body.contains("k-anonymity reached"));
    assert!(
        r.body.contains("<th scope=\"col\">ethnic_group</th>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Anonymised population micro-data sample"));
    // Counted as a view, as the API's package_show is (flushed to the store within 10 s).
    let views = |u: &serde_json::Value| u["views"].as_u64().unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let after = s
            .get(&format!("/api/v1/packages/{name}/usage"), None)
            .ok(200);
        if views(&after) > views(&before) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no view counted: {after}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let missing = html(&s, "/open-data/no-such-package", &[]);
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Không tìm thấy trang"));
}

#[test]
fn what_a_publisher_writes_is_shown_as_text_never_as_markup() {
    let s = Server::demo_with(20, &["--no-open-data"]);
    let key = s.key("population-provider");
    let r = s.put_json(
        "/api/v1/packages/escaping",
        Some(&key),
        &json!({
            "name": "escaping",
            "title_vi": "Dân số <img src=x onerror=alert(1)>",
            "title_en": "Population \"quoted\" & <b>bold</b>",
            "description_vi": "<script>alert('x')</script>",
            "licence": "cc-by-4.0", "theme": "SOCI", "publisher": "BCA",
            "keywords": ["<i>tag</i>"],
            "contact": {"name": "BCA", "email": "opendata@bca.gov.vn"},
            "view": {"dataset": "population", "shape": "counts", "columns": [
                {"name": "sex", "field": "sex"}]},
        }),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    for path in ["/open-data", "/open-data/escaping"] {
        let page = html(&s, path, &[]);
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}: {}", page.body);
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(!page.body.contains("<i>tag</i>"), "{path}");
    }
}

#[test]
fn the_dictionary_lists_elements_code_lists_and_schemas_and_filters_a_list_without_diacritics() {
    let s = Server::demo(20);
    let r = html(&s, "/dictionary", &[]);
    assert_eq!(r.status, 200);
    for needle in [
        "href=\"/dictionary/datasets/population\"",
        "href=\"/dictionary/code-lists/vsic-section\"",
        "<code>citizen-id</code>",
    ] {
        assert!(r.body.contains(needle), "{needle}: {}", r.body);
    }
    let wards = html(
        &s,
        "/dictionary/code-lists/admin-ward-2025?q=ba%20dinh",
        &[],
    );
    assert_eq!(wards.status, 200, "{}", wards.body);
    assert!(wards.body.contains("Phường Ba Đình"), "{}", wards.body);
    assert!(!wards.body.contains("Phường Hoàn Kiếm"));
    let schema = html(
        &s,
        "/dictionary/datasets/population",
        &[("Accept-Language", "en")],
    );
    assert_eq!(schema.status, 200);
    assert!(schema.body.contains("<code>citizen_id</code>"));
    assert!(schema.body.contains("Ministry of Public Security"));
    assert_eq!(html(&s, "/dictionary/datasets/nope", &[]).status, 404);
    assert_eq!(html(&s, "/dictionary/code-lists/nope", &[]).status, 404);
}

/// The value a `Set-Cookie` header gives cookie `name`.
fn set_cookie_value(r: &common::Resp, name: &str) -> Option<String> {
    let header = r.header("set-cookie")?;
    let (k, rest) = header.split_once('=')?;
    (k == name).then(|| rest.split(';').next().unwrap_or_default().to_owned())
}

/// The value of the first hidden `_csrf` field of a page.
fn form_token(body: &str) -> String {
    body.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned()
}

fn post_form(
    s: &Server,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> common::Resp {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut headers = vec![("Cookie", cookie)];
    headers.extend_from_slice(extra);
    s.request(
        "POST",
        path,
        None,
        &headers,
        Some(("application/x-www-form-urlencoded", body.as_bytes())),
    )
}

/// Signs in through the form; the session cookie.
fn sign_in(s: &Server, fields: &[(&str, &str)]) -> Result<String, common::Resp> {
    let form = html(s, "/sign-in", &[]);
    let token = set_cookie_value(&form, "ndx_csrf").expect("a form cookie");
    assert_eq!(form_token(&form.body), token);
    let mut all = vec![("_csrf", token.as_str())];
    all.extend_from_slice(fields);
    let r = post_form(s, "/sign-in", &format!("ndx_csrf={token}"), &all, &[]);
    match set_cookie_value(&r, "ndx_session") {
        Some(session) if r.status == 303 => Ok(format!("ndx_session={session}")),
        _ => Err(r),
    }
}

#[test]
fn a_citizen_signs_in_and_sees_their_records_and_the_access_a_consumer_just_made() {
    let s = Server::demo(300);
    let keys = s.keys();
    let id = keys["web:citizen-id"].clone();
    let secret = keys["web:citizen"].clone();
    // Signed out, "my data" asks to sign in and comes back.
    let r = s.get("/me", None);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/sign-in?next=%2Fme"));
    let form = html(&s, "/sign-in?next=%2Fme", &[]);
    assert!(
        form.body.contains("name=\"next\" value=\"/me\""),
        "{}",
        form.body
    );
    let cookie = form.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let session = sign_in(
        &s,
        &[
            ("kind", "citizen"),
            ("citizen_id", &id),
            ("secret", &secret),
            ("next", "/me"),
        ],
    )
    .unwrap_or_else(|r| panic!("sign-in refused: {} {}", r.status, r.body));
    // A province's public-service system looks the citizen up…
    let lookup = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/population/records/{id}"),
        Some(&s.key("consumer-01")),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    );
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    let name = lookup.json()["data"]["full_name"]
        .as_str()
        .expect("a name")
        .to_owned();
    // …and the citizen sees it, with their own record.
    let me = html(
        &s,
        "/me",
        &[("Cookie", &session), ("Accept-Language", "en")],
    );
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.header("cache-control"), Some("no-store"));
    assert!(me.body.contains(&id));
    assert!(me.body.contains(&name), "their own record: {}", me.body);
    assert!(me.body.contains("public-service-delivery"), "{}", me.body);
    assert!(me.body.contains("UBND-01-PUBLIC-SERVICE"), "{}", me.body);
    assert!(me.body.contains("Signed in as"));
    assert!(
        me.body.contains("<title>My data · ndx</title>"),
        "{}",
        me.body
    );
    // Nobody else's: a citizen page names one citizen only.
    let listed = s
        .get(
            "/api/v1/datasets/population/records?limit=5",
            Some(&s.key("population-provider")),
        )
        .ok(200);
    for r in listed["records"].as_array().expect("records") {
        let other = r["key"].as_str().expect("key");
        if other != id {
            assert!(!me.body.contains(other), "{other} on {id}'s page");
        }
    }
    // Signing out ends the session for good.
    let token = form_token(&me.body);
    let out = post_form(&s, "/sign-out", &session, &[("_csrf", &token)], &[]);
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(set_cookie_value(&out, "ndx_session").as_deref(), Some(""));
    assert_eq!(
        s.request("GET", "/me", None, &[("Cookie", &session)], None)
            .status,
        303
    );
}

#[test]
fn sign_in_refuses_wrong_secrets_cross_site_forms_and_floods_precisely() {
    let s = Server::demo(20);
    let keys = s.keys();
    let password = keys["web:lan.bca"].clone();
    // A wrong password: the form again, the message next to the fields, nothing else said.
    let r = sign_in(
        &s,
        &[
            ("kind", "account"),
            ("login", "lan.bca"),
            ("password", "not the password"),
        ],
    )
    .expect_err("refused");
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("Thông tin đăng nhập không đúng"),
        "{}",
        r.body
    );
    assert!(r.body.contains("aria-invalid=\"true\""));
    assert!(r.body.contains("value=\"lan.bca\""), "the login is kept");
    // An unknown login is refused the same way.
    let r = sign_in(
        &s,
        &[
            ("kind", "account"),
            ("login", "nobody.here"),
            ("password", "whatever-it-is"),
        ],
    )
    .expect_err("refused");
    assert_eq!(r.status, 401);
    // Without the form's token, or from another site: refused before any check.
    let r = post_form(
        &s,
        "/sign-in",
        "",
        &[
            ("kind", "account"),
            ("login", "lan.bca"),
            ("password", &password),
        ],
        &[],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(set_cookie_value(&r, "ndx_session").is_none());
    let form = html(&s, "/sign-in", &[]);
    let token = set_cookie_value(&form, "ndx_csrf").expect("token");
    let r = post_form(
        &s,
        "/sign-in",
        &format!("ndx_csrf={token}"),
        &[
            ("_csrf", &token),
            ("kind", "account"),
            ("login", "lan.bca"),
            ("password", &password),
        ],
        &[
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(set_cookie_value(&r, "ndx_session").is_none());
    // The right password works, and an agency's person cannot open a citizen's page.
    let session = sign_in(
        &s,
        &[
            ("kind", "account"),
            ("login", "lan.bca"),
            ("password", &password),
        ],
    )
    .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    let home = html(&s, "/", &[("Cookie", &session)]);
    assert!(home.body.contains("Nguyễn Thị Lan"), "{}", home.body);
    assert_eq!(html(&s, "/me", &[("Cookie", &session)]).status, 403);
    // Five failures for one name close it for a while, even to the right password.
    for _ in 0..5 {
        let _ = sign_in(
            &s,
            &[
                ("kind", "account"),
                ("login", "hoa.btc"),
                ("password", "wrong-password-1"),
            ],
        );
    }
    let r = sign_in(
        &s,
        &[
            ("kind", "account"),
            ("login", "hoa.btc"),
            ("password", &keys["web:hoa.btc"]),
        ],
    )
    .expect_err("throttled");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // Others still sign in.
    assert!(
        sign_in(
            &s,
            &[
                ("kind", "account"),
                ("login", "an.steward"),
                ("password", &keys["web:an.steward"])
            ]
        )
        .is_ok()
    );
    // A forged session cookie is nobody.
    let r = html(
        &s,
        "/",
        &[("Cookie", &format!("ndx_session={}", "0".repeat(64)))],
    );
    assert!(!r.body.contains("Signed in") && !r.body.contains("Đã đăng nhập"));
}

/// Signs in a demo account by its login.
fn sign_in_as(s: &Server, login: &str) -> String {
    let password = s.keys()[&format!("web:{login}")].clone();
    sign_in(
        s,
        &[
            ("kind", "account"),
            ("login", login),
            ("password", &password),
        ],
    )
    .unwrap_or_else(|r| panic!("{login} refused: {} {}", r.status, r.body))
}

/// A `multipart/form-data` body of text fields and one file.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "ndxTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A CSV of the first business of the register: the record as it is, then two copies with a
/// bad date and a province that does not exist.
fn business_csv(s: &Server) -> (String, Vec<u8>) {
    let listed = s
        .get(
            "/api/v1/datasets/businesses/records?limit=1",
            Some(&s.key("business-provider")),
        )
        .ok(200);
    let record = &listed["records"][0];
    let key = record["key"].as_str().expect("key").to_owned();
    let data = record["data"].as_object().expect("data");
    let names: Vec<&String> = data.keys().collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(names.iter().map(|n| n.as_str()))
        .expect("header");
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    for (field, bad) in [
        ("", ""),
        ("registered_on", "not-a-date"),
        ("province_code", "99"),
    ] {
        w.write_record(names.iter().map(|n| {
            if n.as_str() == field {
                bad.to_owned()
            } else {
                text(&data[n.as_str()])
            }
        }))
        .expect("row");
    }
    (key, w.into_inner().expect("csv"))
}

#[test]
fn a_provider_uploads_a_csv_and_sees_its_rejected_rows_and_bad_uploads_change_nothing() {
    let s = Server::demo(200);
    // Signed out, the provider's pages ask to sign in; a consumer is told they are not theirs.
    assert_eq!(s.get("/provider", None).status, 303);
    let consumer = sign_in_as(&s, "thu.hanoi");
    let refused = html(&s, "/provider", &[("Cookie", &consumer)]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    let provider = sign_in_as(&s, "hoa.btc");
    let home = html(
        &s,
        "/provider",
        &[("Cookie", &provider), ("Accept-Language", "en")],
    );
    assert_eq!(home.status, 200, "{}", home.body);
    assert_eq!(home.header("cache-control"), Some("no-store"));
    assert!(
        home.body.contains("/provider/datasets/businesses"),
        "{}",
        home.body
    );
    assert!(
        !home.body.contains("/provider/datasets/population"),
        "BCA's is not BTC's"
    );
    // Another agency's dataset page is refused.
    let other = html(
        &s,
        "/provider/datasets/population",
        &[("Cookie", &provider)],
    );
    assert_eq!(other.status, 403, "{}", other.body);
    let page = html(
        &s,
        "/provider/datasets/businesses",
        &[("Cookie", &provider)],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let token = form_token(&page.body);
    let count = || {
        s.get(
            "/api/v1/datasets/businesses/records?limit=1",
            Some(&s.key("business-provider")),
        )
        .ok(200)["total"]
            .clone()
    };
    let before = count();
    let (key, csv) = business_csv(&s);
    let upload = |fields: &[(&str, &str)], file: Option<(&str, &[u8])>, extra: &[(&str, &str)]| {
        let (ct, body) = multipart(fields, file);
        let mut headers = vec![("Cookie", provider.as_str())];
        headers.extend_from_slice(extra);
        s.request(
            "POST",
            "/provider/datasets/businesses/imports",
            None,
            &headers,
            Some((&ct, &body)),
        )
    };
    // No file, a file of another format, an empty file: refused next to the field.
    let none = upload(&[("_csrf", &token), ("mode", "per-record")], None, &[]);
    assert_eq!(none.status, 422, "{}", none.body);
    assert!(none.body.contains("id=\"file-error\""), "{}", none.body);
    assert!(none.body.contains("Hãy chọn một tệp"), "{}", none.body);
    let pdf = upload(
        &[("_csrf", &token)],
        Some(("report.pdf", b"%PDF-1.4")),
        &[("Accept-Language", "en")],
    );
    assert_eq!(pdf.status, 422, "{}", pdf.body);
    assert!(pdf.body.contains("The file must be CSV"), "{}", pdf.body);
    let empty = upload(&[("_csrf", &token)], Some(("empty.csv", b"")), &[]);
    assert_eq!(empty.status, 422, "{}", empty.body);
    // A cross-site post and a stale token are refused before the file is read.
    let cross = upload(
        &[("_csrf", &token)],
        Some(("b.csv", &csv)),
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    let stale = upload(&[("_csrf", "0000")], Some(("b.csv", &csv)), &[]);
    assert_eq!(stale.status, 403, "{}", stale.body);
    assert_eq!(count(), before, "nothing was loaded");

    // The file: one row as it is, two refused.
    let done = upload(
        &[("_csrf", &token), ("mode", "per-record")],
        Some(("businesses.csv", &csv)),
        &[],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let at = done.header("location").expect("location").to_owned();
    assert!(at.starts_with("/provider/imports/web-"), "{at}");
    let report = html(&s, &at, &[("Cookie", &provider), ("Accept-Language", "en")]);
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(report.body.contains("Committed"), "{}", report.body);
    assert!(
        report.body.contains("id=\"rejected-rows\""),
        "{}",
        report.body
    );
    assert!(report.body.contains("registered_on"), "{}", report.body);
    assert!(report.body.contains("province_code"), "{}", report.body);
    assert!(
        report.body.contains(&format!("<code>{key}</code>")),
        "{}",
        report.body
    );
    let rejected = report
        .body
        .split("id=\"rejected-count\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("a count");
    assert_eq!(rejected, "2");
    // The dataset's page lists it; another provider cannot open it.
    let page = html(
        &s,
        "/provider/datasets/businesses",
        &[("Cookie", &provider)],
    );
    assert!(page.body.contains(&at), "{}", page.body);
    let bca = sign_in_as(&s, "lan.bca");
    assert_eq!(html(&s, &at, &[("Cookie", &bca)]).status, 404);
    assert_eq!(count(), before, "the valid row was unchanged");
}

#[test]
fn a_consumer_requests_an_agreement_and_the_provider_approves_it() {
    let s = Server::demo(100);
    let consumer = sign_in_as(&s, "thu.hanoi");
    let catalogue = html(&s, "/catalogue", &[("Cookie", &consumer)]);
    assert_eq!(catalogue.status, 200, "{}", catalogue.body);
    assert!(
        catalogue.body.contains("/catalogue/businesses/request"),
        "{}",
        catalogue.body
    );
    let form = html(
        &s,
        "/catalogue/businesses/request",
        &[("Cookie", &consumer)],
    );
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form_token(&form.body);
    let path = "/catalogue/businesses/request";
    // An empty form: a message next to each field, in the reader's language, nothing made.
    let agreements = |key: &str| {
        s.get("/api/v1/agreements", Some(&s.key(key))).ok(200)["agreements"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = agreements("business-provider");
    let empty = post_form(
        &s,
        path,
        &consumer,
        &[("_csrf", &token)],
        &[("Cookie", "ndx_lang=en")],
    );
    assert_eq!(empty.status, 422, "{}", empty.body);
    for id in [
        "fields-error",
        "operations-error",
        "purpose-error",
        "legal_text-error",
        "legal_reference-error",
    ] {
        assert!(
            empty.body.contains(&format!("id=\"{id}\"")),
            "{id}: {}",
            empty.body
        );
    }
    let bad = post_form(
        &s,
        path,
        &consumer,
        &[
            ("_csrf", &token),
            ("fields", "name"),
            ("fields", "no_such_field"),
            ("operations", "lookup"),
            ("purpose", "public-service-delivery"),
            ("legal_text", "Tra cứu hồ sơ"),
            ("legal_reference", "Nghị định 47/2024/NĐ-CP"),
            ("valid_until", "2001-01-01"),
            ("requests_per_day", "-5"),
        ],
        &[],
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("Giá trị không có trong danh sách"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("Ngày phải sau hôm nay"), "{}", bad.body);
    assert!(
        bad.body.contains("Hạn mức là số nguyên dương"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("Tra cứu hồ sơ"), "what was typed is kept");
    let cross = post_form(
        &s,
        path,
        &consumer,
        &[("_csrf", &token)],
        &[("Origin", "https://evil.example")],
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert_eq!(agreements("business-provider"), before, "nothing was asked");

    let made = post_form(
        &s,
        path,
        &consumer,
        &[
            ("_csrf", &token),
            ("fields", "tax_code"),
            ("fields", "name"),
            ("fields", "status"),
            ("operations", "lookup"),
            ("purpose", "public-service-delivery"),
            (
                "legal_text",
                "Kiểm tra tình trạng doanh nghiệp khi cấp phép",
            ),
            ("legal_reference", "Nghị định 47/2024/NĐ-CP, Điều 12"),
            ("requests_per_day", "1000"),
        ],
        &[],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    let at = made.header("location").expect("location").to_owned();
    let id = at.trim_start_matches("/agreements/").to_owned();
    let mine = html(&s, &at, &[("Cookie", &consumer), ("Accept-Language", "en")]);
    assert!(mine.body.contains("Requested"), "{}", mine.body);
    assert!(
        !mine.body.contains("action-approve"),
        "a consumer does not approve"
    );
    assert!(mine.body.contains("0 / 1,000 requests"), "{}", mine.body);

    // The provider sees the request waiting, refuses a rejection without reason, approves.
    let provider = sign_in_as(&s, "hoa.btc");
    let list = html(&s, "/agreements", &[("Cookie", &provider)]);
    assert!(list.body.contains(&at), "{}", list.body);
    let page = html(&s, &at, &[("Cookie", &provider)]);
    assert!(page.body.contains("id=\"action-approve\""), "{}", page.body);
    let ptoken = form_token(&page.body);
    let no_reason = post_form(
        &s,
        &format!("{at}/reject"),
        &provider,
        &[("_csrf", &ptoken), ("reason", " ")],
        &[],
    );
    assert_eq!(no_reason.status, 422, "{}", no_reason.body);
    assert!(
        no_reason.body.contains("id=\"reason-reject-error\""),
        "{}",
        no_reason.body
    );
    // Another provider may not decide it.
    let bca = sign_in_as(&s, "lan.bca");
    let btoken = form_token(&html(&s, "/agreements", &[("Cookie", &bca)]).body);
    let foreign = post_form(
        &s,
        &format!("{at}/approve"),
        &bca,
        &[("_csrf", &btoken)],
        &[],
    );
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    let approved = post_form(
        &s,
        &format!("{at}/approve"),
        &provider,
        &[("_csrf", &ptoken)],
        &[],
    );
    assert_eq!(approved.status, 303, "{}", approved.body);
    let agreement = s
        .get(
            &format!("/api/v1/agreements/{id}"),
            Some(&s.key("business-provider")),
        )
        .ok(200);
    assert_eq!(agreement["status"], "approved");
    assert_eq!(agreement["fields"], json!(["tax_code", "name", "status"]));
    let after = html(&s, &at, &[("Cookie", &consumer)]);
    assert!(after.body.contains("Đã phê duyệt"), "{}", after.body);
}

#[test]
fn a_steward_accepts_a_proposed_correction_and_the_record_gets_a_new_version() {
    let s = Server::demo(2000);
    let civil = s.key("civil-service-consumer");
    let body = serde_json::to_vec(&json!({"target": "civil-servants", "reference": "population"}))
        .expect("json");
    let started = s.request(
        "POST",
        "/api/v1/reconciliations",
        Some(&civil),
        &[("Ndx-Purpose", "cross-checking")],
        Some(("application/json", &body)),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    let id = started.json()["id"].as_str().expect("id").to_owned();
    for _ in 0..600 {
        let run = s
            .get(&format!("/api/v1/reconciliations/{id}"), Some(&civil))
            .ok(200);
        if run["status"] != "running" {
            assert_eq!(run["status"], "done");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A consumer's person may not open the page; the steward sees every agency's runs.
    let consumer = sign_in_as(&s, "thu.hanoi");
    assert_eq!(
        html(&s, "/reconciliations", &[("Cookie", &consumer)]).status,
        403
    );
    let steward = sign_in_as(&s, "an.steward");
    let list = html(&s, "/reconciliations", &[("Cookie", &steward)]);
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains(&format!("/reconciliations/{id}")),
        "{}",
        list.body
    );
    let page = html(
        &s,
        &format!("/reconciliations/{id}"),
        &[("Cookie", &steward)],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let target = page
        .body
        .split("name=\"target_id\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a proposed correction")
        .to_owned();
    let token = form_token(&page.body);
    let path = format!("/reconciliations/{id}/corrections");
    // A note over 1,000 characters is refused next to it; nothing is decided.
    let long = "x".repeat(1001);
    let refused = post_form(
        &s,
        &path,
        &steward,
        &[
            ("_csrf", &token),
            ("target_id", &target),
            ("decision", "accept"),
            ("note", &long),
        ],
        &[],
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(&format!("id=\"note-{target}-error\"")),
        "{}",
        refused.body
    );
    let cross = post_form(
        &s,
        &path,
        &steward,
        &[
            ("_csrf", &token),
            ("target_id", &target),
            ("decision", "accept"),
        ],
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    let history = |key: &str| {
        s.get(
            &format!("/api/v1/datasets/civil-servants/records/{target}/history"),
            Some(&s.key(key)),
        )
        .ok(200)
        .as_array()
        .map_or(0, Vec::len)
    };
    let before = history("civil-service-provider");
    let accepted = post_form(
        &s,
        &path,
        &steward,
        &[
            ("_csrf", &token),
            ("target_id", &target),
            ("decision", "accept"),
            ("note", "Theo CSDL quốc gia về dân cư"),
        ],
        &[],
    );
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(
        history("civil-service-provider"),
        before + 1,
        "a new version"
    );
    let after = html(
        &s,
        &format!("/reconciliations/{id}"),
        &[("Cookie", &steward)],
    );
    assert!(after.body.contains("Đã sửa theo đề xuất"), "{}", after.body);
    // Decided once: the same decision again is refused with the service's reason.
    let again = post_form(
        &s,
        &path,
        &steward,
        &[
            ("_csrf", &token),
            ("target_id", &target),
            ("decision", "reject"),
        ],
        &[],
    );
    assert_eq!(again.status, 422, "{}", again.body);
}

#[test]
fn the_operator_sees_the_indicators_change_and_downloads_each_chart_as_csv() {
    let s = Server::demo(200);
    let provider = sign_in_as(&s, "hoa.btc");
    assert_eq!(
        html(&s, "/indicators", &[("Cookie", &provider)]).status,
        403
    );
    let operator = sign_in_as(&s, "binh.operator");
    let shared_today = |body: &str| -> u64 {
        body.split("id=\"shared-today\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .expect("today's figure")
            .replace(['.', ','], "")
            .parse()
            .expect("a number")
    };
    let page = html(&s, "/indicators", &[("Cookie", &operator)]);
    assert_eq!(page.status, 200, "{}", page.body);
    for id in [
        "chart-datasets",
        "chart-quality",
        "chart-sharing",
        "chart-match-rate",
    ] {
        assert!(
            page.body
                .contains(&format!("<svg class=\"chart\" id=\"{id}\"")),
            "{id}"
        );
    }
    assert!(
        !page.body.contains("style="),
        "no inline style under the policy"
    );
    assert!(page.body.contains("Bộ Tài chính"), "{}", page.body);
    let before = shared_today(&page.body);
    // A province looks a citizen up: today's sharing grows by one.
    let citizen = s.keys()["web:citizen-id"].clone();
    let lookup = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/population/records/{citizen}"),
        Some(&s.key("consumer-01")),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    );
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    // A request without an agreement is refused: today's exchange errors grow by one.
    let refused_today = |body: &str| -> u64 {
        body.split("id=\"refused-today\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .expect("today's refusals")
            .replace(['.', ','], "")
            .parse()
            .expect("a number")
    };
    let refused_before = refused_today(&page.body);
    let refused = s.request(
        "GET",
        "/api/v1/exchange/datasets/businesses/records/0100000000",
        Some(&s.key("consumer-01")),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let after = html(&s, "/indicators", &[("Cookie", &operator)]);
    assert_eq!(shared_today(&after.body), before + 1);
    assert_eq!(refused_today(&after.body), refused_before + 1);
    // Each chart's data as CSV, machine-readable whatever the language.
    for (chart, header) in [
        (
            "datasets",
            "member,name_vi,name_en,datasets,original,master,open,shared,packages,systems",
        ),
        (
            "quality",
            "member,overall,accurate,complete,clean,live,unified,common_use",
        ),
        ("sharing", "day,requests,records"),
        ("errors", "day,refused"),
        ("match-rate", "member,match_rate"),
    ] {
        let r = s.request(
            "GET",
            &format!("/indicators/{chart}.csv"),
            None,
            &[("Cookie", &operator), ("Accept-Language", "en")],
            None,
        );
        assert_eq!(r.status, 200, "{chart}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(
            r.header("content-disposition")
                .is_some_and(|d| d.contains("attachment"))
        );
        let mut rows = csv::Reader::from_reader(r.body.as_bytes());
        let head: Vec<String> = rows
            .headers()
            .expect("header")
            .iter()
            .map(String::from)
            .collect();
        assert_eq!(head.join(","), header);
        let data: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("row")).collect();
        if chart == "sharing" {
            assert_eq!(data.len(), 30);
            let today: u64 = data[29][1].parse().expect("requests");
            assert_eq!(today, before + 1);
        }
        if chart == "datasets" {
            let btc = data.iter().find(|r| &r[0] == "BTC").expect("BTC");
            assert_eq!(&btc[3], "1");
        }
    }
    let unknown = s.request(
        "GET",
        "/indicators/secrets.csv",
        None,
        &[("Cookie", &operator)],
        None,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(
        s.get("/indicators/sharing.csv", None).status,
        303,
        "signed out: sign in"
    );
}

fn sign_in_citizen(s: &Server) -> String {
    let keys = s.keys();
    sign_in(
        s,
        &[
            ("kind", "citizen"),
            ("citizen_id", &keys["web:citizen-id"]),
            ("secret", &keys["web:citizen"]),
        ],
    )
    .unwrap_or_else(|r| panic!("citizen refused: {} {}", r.status, r.body))
}

#[test]
fn a_citizen_gives_and_withdraws_consent_and_the_next_lookup_follows_it() {
    let s = Server::demo(100);
    let citizen = s.keys()["web:citizen-id"].clone();
    let session = sign_in_citizen(&s);
    let hcmc = s.key("consumer-79");
    let ask = || {
        s.request(
            "GET",
            &format!("/api/v1/exchange/datasets/population/records/{citizen}"),
            Some(&hcmc),
            &[("Ndx-Purpose", "social-insurance")],
            None,
        )
    };
    assert_eq!(ask().status, 403, "no consent yet");
    let me = html(&s, "/me", &[("Cookie", &session)]);
    let agreement = me
        .body
        .split("name=\"agreement\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an agreement asking for consent")
        .to_owned();
    assert!(me.body.contains("ethnic_code"), "{}", me.body);
    assert!(me.body.contains("Chưa đồng ý"), "{}", me.body);
    let token = form_token(&me.body);
    // A cross-site post changes nothing.
    let cross = post_form(
        &s,
        "/me/consents",
        &session,
        &[("_csrf", &token), ("agreement", &agreement)],
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(cross.status, 403);
    assert_eq!(ask().status, 403);
    let granted = post_form(
        &s,
        "/me/consents",
        &session,
        &[("_csrf", &token), ("agreement", &agreement)],
        &[],
    );
    assert_eq!(granted.status, 303, "{}", granted.body);
    let r = ask();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["data"]["ethnic_code"].is_string());
    let me = html(&s, "/me", &[("Cookie", &session)]);
    assert!(me.body.contains("Đã đồng ý lúc"), "{}", me.body);
    let withdraw = me
        .body
        .split("action=\"/me/consents/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a withdraw form")
        .to_owned();
    let withdrawn = post_form(
        &s,
        &format!("/me/consents/{withdraw}"),
        &session,
        &[("_csrf", &token)],
        &[],
    );
    assert_eq!(withdrawn.status, 303, "{}", withdrawn.body);
    assert_eq!(ask().status, 403, "withdrawn: the next lookup is refused");
    // An agency's person has no consents to give.
    let operator = sign_in_as(&s, "binh.operator");
    let otoken = form_token(&html(&s, "/", &[("Cookie", &operator)]).body);
    let r = post_form(
        &s,
        "/me/consents",
        &operator,
        &[("_csrf", &otoken), ("agreement", &agreement)],
        &[],
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn a_citizen_reports_an_error_the_agency_settles_it_and_nobody_reports_on_another() {
    let s = Server::demo(100);
    let citizen = s.keys()["web:citizen-id"].clone();
    let session = sign_in_citizen(&s);
    let path = format!("/me/report?dataset=population&key={citizen}");
    let form = html(&s, &path, &[("Cookie", &session)]);
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("value=\"full_name\""), "{}", form.body);
    let token = form_token(&form.body);
    // Nothing chosen, nothing said: both refused next to their fields, in English if asked.
    let empty = post_form(
        &s,
        "/me/report",
        &session,
        &[
            ("_csrf", &token),
            ("dataset", "population"),
            ("key", &citizen),
        ],
        &[("Cookie", "ndx_lang=en")],
    );
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert!(empty.body.contains("id=\"field-error\""), "{}", empty.body);
    assert!(
        empty.body.contains("id=\"description-error\""),
        "{}",
        empty.body
    );
    // Another citizen's record: refused, nothing filed.
    let listed = s
        .get(
            "/api/v1/datasets/population/records?limit=3",
            Some(&s.key("population-provider")),
        )
        .ok(200);
    let other = listed["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_owned())
        .find(|k| *k != citizen)
        .expect("another citizen");
    assert_eq!(
        html(
            &s,
            &format!("/me/report?dataset=population&key={other}"),
            &[("Cookie", &session)]
        )
        .status,
        403
    );
    let theirs = post_form(
        &s,
        "/me/report",
        &session,
        &[
            ("_csrf", &token),
            ("dataset", "population"),
            ("key", &other),
            ("field", "full_name"),
            ("description", "x"),
        ],
        &[],
    );
    assert_eq!(theirs.status, 403, "{}", theirs.body);
    let filed = post_form(
        &s,
        "/me/report",
        &session,
        &[
            ("_csrf", &token),
            ("dataset", "population"),
            ("key", &citizen),
            ("field", "street_address"),
            ("description", "Tôi đã chuyển nhà từ tháng 3"),
            ("proposed", "12 Lê Lợi"),
        ],
        &[],
    );
    assert_eq!(filed.status, 303, "{}", filed.body);
    let me = html(&s, "/me", &[("Cookie", &session)]);
    assert!(
        me.body.contains("Tôi đã chuyển nhà từ tháng 3"),
        "{}",
        me.body
    );
    assert!(me.body.contains("Đang chờ xử lý"), "{}", me.body);
    // It reaches the owning agency (BCA), not another.
    let btc = sign_in_as(&s, "hoa.btc");
    assert!(
        !html(&s, "/provider/reports", &[("Cookie", &btc)])
            .body
            .contains("chuyển nhà")
    );
    let bca = sign_in_as(&s, "lan.bca");
    let list = html(&s, "/provider/reports", &[("Cookie", &bca)]);
    assert!(
        list.body.contains("Tôi đã chuyển nhà từ tháng 3"),
        "{}",
        list.body
    );
    assert!(list.body.contains("12 Lê Lợi"));
    let id = list
        .body
        .split("action=\"/provider/reports/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a settle form")
        .to_owned();
    let btoken = form_token(&list.body);
    let no_reason = post_form(
        &s,
        &format!("/provider/reports/{id}"),
        &bca,
        &[("_csrf", &btoken), ("decision", "declined")],
        &[],
    );
    assert_eq!(no_reason.status, 422, "{}", no_reason.body);
    assert!(
        no_reason
            .body
            .contains(&format!("id=\"answer-{id}-error\"")),
        "{}",
        no_reason.body
    );
    let ctoken = form_token(&html(&s, "/", &[("Cookie", &btc)]).body);
    let foreign = post_form(
        &s,
        &format!("/provider/reports/{id}"),
        &btc,
        &[("_csrf", &ctoken), ("decision", "corrected")],
        &[],
    );
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    let done = post_form(
        &s,
        &format!("/provider/reports/{id}"),
        &bca,
        &[
            ("_csrf", &btoken),
            ("decision", "corrected"),
            ("answer", "Đã cập nhật địa chỉ"),
        ],
        &[],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let me = html(&s, "/me", &[("Cookie", &session)]);
    assert!(me.body.contains("Đã cập nhật địa chỉ"), "{}", me.body);
    assert!(me.body.contains("badge good"), "{}", me.body);
    // Filing and settling are on the citizen's tracker.
    let ops: Vec<String> = s
        .accesses(&citizen)
        .iter()
        .filter_map(|a| a["operation"].as_str().map(String::from))
        .collect();
    assert!(ops.contains(&"subject.report".to_owned()), "{ops:?}");
    assert!(ops.contains(&"report.settle".to_owned()), "{ops:?}");
}
