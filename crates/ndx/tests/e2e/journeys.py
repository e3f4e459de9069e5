"""Browser journeys of the web UI: a real headless Chromium (Debian's chromium and
chromedriver) drives a running ndx through each user's main journey, injects axe-core into
every main page at desktop and phone widths (no violation of serious or critical impact may
remain), and saves a screenshot of each page at both widths.

Usage: journeys.py BASE_URL KEYS_JSON AXE_JS SCREENSHOT_DIR
Exit status 0 when every journey and every accessibility check passes; the failures are
printed otherwise.
"""

import csv
import io
import json
import os
import sys
import tempfile
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait

BASE, KEYS, AXE, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
WIDTHS = {"desktop": (1280, 900), "phone": (375, 812)}
failures = []


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--lang=vi", "--window-size=1280,900"]:
        options.add_argument(arg)
    # The portal speaks Vietnamese first, as a browser set to Vietnamese asks.
    options.add_experimental_option("prefs", {"intl.accept_languages": "vi-VN,vi"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


AXE_SOURCE = open(AXE, encoding="utf-8").read()


def check_page(d, name):
    """axe-core and a screenshot at each width."""
    for width_name, (w, h) in WIDTHS.items():
        d.set_window_size(w, h)
        d.execute_script(AXE_SOURCE)
        result = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations));"
        )
        bad = [v for v in result if v.get("impact") in ("serious", "critical")]
        for v in bad:
            nodes = [n.get("target") for n in v.get("nodes", [])][:3]
            failures.append(f"{name} ({width_name}): axe {v['id']} [{v['impact']}] {v['help']} at {nodes}")
        d.save_screenshot(os.path.join(SHOTS, f"{name}-{width_name}.png"))
    d.set_window_size(*WIDTHS["desktop"])


def expect(cond, what):
    if not cond:
        failures.append(what)
    return cond


def follow(d, element):
    """Follows a link or submits a form and waits for the next page: a navigation started
    before the last one finishes would cancel it, and a check would read the old page. A mark
    left on the old page's window is gone once the new document has loaded."""
    d.execute_script("window.ndxOldPage = true")
    if element.tag_name in ("a", "button"):
        element.click()
    else:
        element.submit()
    WebDriverWait(d, 10).until(lambda d: d.execute_script(
        "return window.ndxOldPage === undefined && document.readyState === 'complete'"))


def public_journey(d):
    """The public finds and downloads an open dataset with a diacritic-free search."""
    d.get(BASE + "/")
    check_page(d, "home")
    box = d.find_element(By.ID, "q")
    box.send_keys("dan so")
    follow(d, box)
    expect("/open-data" in d.current_url, f"search went to {d.current_url}")
    check_page(d, "open-data")
    links = [a for a in d.find_elements(By.CSS_SELECTOR, ".results h3 a")]
    titles = [a.text for a in links]
    expect(any("Dân số" in t for t in titles), f"'dan so' found {titles}")
    follow(d, links[0])
    check_page(d, "package")
    downloads = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#downloads ~ div a[download]")]
    expect(len(downloads) == 3, f"three downloads, found {downloads}")
    if downloads:
        with urllib.request.urlopen(downloads[0]) as r:
            expect(r.status == 200 and len(r.read()) > 0, f"download {downloads[0]}")
    d.get(BASE + "/dictionary")
    check_page(d, "dictionary")
    d.get(BASE + "/dictionary/code-lists/admin-ward-2025?q=ba+dinh")
    expect("Phường Ba Đình" in d.page_source, "the ward list finds Ba Đình")
    check_page(d, "code-list")
    # The language switch persists.
    follow(d, d.find_element(By.CSS_SELECTOR, "a.lang-switch[hreflang='en']"))
    expect(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "switched to English")
    d.get(BASE + "/open-data")
    expect(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "English is kept")
    d.delete_all_cookies()


def citizen_journey(d, keys):
    """A citizen signs in and sees an access that a consumer just made."""
    d.get(BASE + "/me")
    expect("/sign-in" in d.current_url, f"/me asks to sign in: {d.current_url}")
    check_page(d, "sign-in")
    d.find_element(By.ID, "citizen_id").send_keys(keys["web:citizen-id"])
    d.find_element(By.ID, "secret").send_keys("wrong password here")
    follow(d, d.find_element(By.ID, "secret"))
    expect(d.find_element(By.ID, "citizen-error").is_displayed(), "the error shows next to the field")
    check_page(d, "sign-in-error")
    d.find_element(By.ID, "secret").send_keys(keys["web:citizen"])
    follow(d, d.find_element(By.ID, "secret"))
    expect(d.current_url.endswith("/me"), f"signed in to /me: {d.current_url}")
    citizen = keys["web:citizen-id"]
    req = urllib.request.Request(
        f"{BASE}/api/v1/exchange/datasets/population/records/{citizen}",
        headers={"Authorization": "Bearer " + keys["consumer-01"],
                 "Ndx-Purpose": "public-service-delivery"})
    with urllib.request.urlopen(req) as r:
        expect(r.status == 200, "the consumer's lookup")
    d.refresh()
    expect("UBND-01-PUBLIC-SERVICE" in d.page_source, "the consumer's access is on the tracker")
    expect("public-service-delivery" in d.page_source, "with its purpose")
    check_page(d, "my-data")
    # Consent: given, then withdrawn.
    grant = d.find_elements(By.CSS_SELECTOR, "button[id^=grant-]")
    expect(len(grant) > 0, "an agreement asks for consent")
    if grant:
        follow(d, grant[0])
        withdraw = d.find_elements(By.CSS_SELECTOR, "button[id^=withdraw-]")
        expect(len(withdraw) == 1, "the consent is given")
        if withdraw:
            follow(d, withdraw[0])
            expect(not d.find_elements(By.CSS_SELECTOR, "button[id^=withdraw-]"), "withdrawn")
    # An error in their data, reported to the agency.
    follow(d, d.find_element(By.CSS_SELECTOR, "a.report-link"))
    follow(d, d.find_element(By.CSS_SELECTOR, "form[action='/me/report'] button"))
    expect(d.find_element(By.ID, "description-error").is_displayed(), "the missing description is said")
    check_page(d, "report-error")
    Select(d.find_element(By.ID, "field")).select_by_index(2)
    d.find_element(By.ID, "description").send_keys("Tôi đã chuyển nhà")
    follow(d, d.find_element(By.CSS_SELECTOR, "form[action='/me/report'] button"))
    expect("Tôi đã chuyển nhà" in d.page_source, "the report is listed on my data")
    follow(d, d.find_element(By.CSS_SELECTOR, "form[action='/sign-out'] button"))
    d.get(BASE + "/me")
    expect("/sign-in" in d.current_url, "signed out")
    d.delete_all_cookies()


def sign_in_account(d, keys, login):
    d.get(BASE + "/sign-in")
    d.find_element(By.ID, "login").send_keys(login)
    d.find_element(By.ID, "password").send_keys(keys["web:" + login])
    follow(d, d.find_element(By.ID, "password"))
    expect("/sign-in" not in d.current_url, f"{login} signed in: {d.current_url}")


def sign_out(d):
    follow(d, d.find_element(By.CSS_SELECTOR, "form[action='/sign-out'] button"))
    d.delete_all_cookies()


def business_csv(keys):
    """The first business of the register as it is, then a copy with a bad date."""
    req = urllib.request.Request(
        f"{BASE}/api/v1/datasets/businesses/records?limit=1",
        headers={"Authorization": "Bearer " + keys["business-provider"]})
    with urllib.request.urlopen(req) as r:
        record = json.load(r)["records"][0]["data"]
    out = io.StringIO()
    w = csv.writer(out)
    names = list(record)
    w.writerow(names)
    text = lambda v: "" if v is None else (v if isinstance(v, str) else json.dumps(v))
    w.writerow([text(record[n]) for n in names])
    w.writerow(["not-a-date" if n == "registered_on" else text(record[n]) for n in names])
    path = os.path.join(tempfile.mkdtemp(), "doanh-nghiep.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(out.getvalue())
    return path


def provider_journey(d, keys):
    """A provider uploads a CSV and sees its rejected rows."""
    sign_in_account(d, keys, "hoa.btc")
    d.get(BASE + "/provider")
    check_page(d, "provider")
    follow(d, d.find_element(By.CSS_SELECTOR, "a[href='/provider/datasets/businesses']"))
    check_page(d, "provider-dataset")
    d.find_element(By.ID, "file").send_keys(business_csv(keys))
    follow(d, d.find_element(By.CSS_SELECTOR, "form[enctype='multipart/form-data'] button"))
    expect("/provider/imports/" in d.current_url, f"the import's page: {d.current_url}")
    # A large file shows its progress and the page reloads itself until it is done.
    WebDriverWait(d, 30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-refresh-seconds]"))
    rows = d.find_elements(By.CSS_SELECTOR, "#rejected-rows tbody tr")
    expect(len(rows) == 1, f"one rejected row, found {len(rows)}")
    expect(any("registered_on" in r.text for r in rows), "the rejected row names its field")
    check_page(d, "import")
    sign_out(d)


def agreement_journey(d, keys):
    """A consumer requests an agreement and a provider approves it."""
    sign_in_account(d, keys, "thu.hanoi")
    d.get(BASE + "/catalogue")
    check_page(d, "catalogue")
    follow(d, d.find_element(By.CSS_SELECTOR, "a[href='/catalogue/businesses/request']"))
    follow(d, d.find_element(By.CSS_SELECTOR, "form[action='/catalogue/businesses/request'] button[type=submit]"))
    expect(d.find_element(By.ID, "fields-error").is_displayed(), "a missing field is said next to it")
    expect("Hãy chọn ít nhất một trường" in d.page_source, "in Vietnamese")
    check_page(d, "agreement-request-errors")
    for field in ("tax_code", "name", "status"):
        d.find_element(By.CSS_SELECTOR, f"input[name=fields][value={field}]").click()
    d.find_element(By.CSS_SELECTOR, "input[name=operations][value=lookup]").click()
    Select(d.find_element(By.ID, "purpose")).select_by_value("public-service-delivery")
    d.find_element(By.ID, "legal_text").send_keys("Kiểm tra tình trạng doanh nghiệp khi cấp phép")
    d.find_element(By.ID, "legal_reference").send_keys("Nghị định 47/2024/NĐ-CP, Điều 12")
    follow(d, d.find_element(By.CSS_SELECTOR, "form[action='/catalogue/businesses/request'] button[type=submit]"))
    expect("/agreements/" in d.current_url, f"the agreement's page: {d.current_url}")
    agreement = d.current_url
    expect(d.find_element(By.ID, "agreement-status").text == "Chờ quyết định", "requested")
    sign_out(d)
    sign_in_account(d, keys, "hoa.btc")
    d.get(BASE + "/agreements")
    check_page(d, "agreements")
    d.get(agreement)
    check_page(d, "agreement")
    follow(d, d.find_element(By.ID, "action-approve"))
    expect(d.find_element(By.ID, "agreement-status").text == "Đã phê duyệt", "approved")
    sign_out(d)


def steward_journey(d, keys):
    """A steward accepts a correction a reconciliation proposed."""
    req = urllib.request.Request(
        f"{BASE}/api/v1/reconciliations", method="POST",
        data=json.dumps({"target": "civil-servants", "reference": "population"}).encode(),
        headers={"Authorization": "Bearer " + keys["civil-service-consumer"],
                 "Ndx-Purpose": "cross-checking", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        run = json.load(r)["id"]
    sign_in_account(d, keys, "an.steward")
    d.get(BASE + "/reconciliations")
    check_page(d, "reconciliations")
    WebDriverWait(d, 60, poll_frequency=1).until(
        lambda d: d.refresh() or "Hoàn tất" in d.page_source)
    d.get(f"{BASE}/reconciliations/{run}")
    check_page(d, "reconciliation")
    accept = d.find_elements(By.CSS_SELECTOR, "button[name=decision][value=accept]")
    expect(len(accept) > 0, "corrections are proposed")
    if accept:
        target = accept[0].get_attribute("id").removeprefix("accept-")
        follow(d, accept[0])
        row = d.find_element(By.ID, f"row-{target}")
        expect("Đã sửa theo đề xuất" in row.text, f"{target} corrected: {row.text}")
    sign_out(d)


def operator_journey(d, keys):
    """An operator sees the indicators change."""
    sign_in_account(d, keys, "binh.operator")
    d.get(BASE + "/indicators")
    check_page(d, "indicators")
    count = lambda: int(d.find_element(By.ID, "shared-today").text.replace(".", "").replace(",", ""))
    before = count()
    req = urllib.request.Request(
        f"{BASE}/api/v1/exchange/datasets/population/records/{keys['web:citizen-id']}",
        headers={"Authorization": "Bearer " + keys["consumer-01"],
                 "Ndx-Purpose": "public-service-delivery"})
    with urllib.request.urlopen(req) as r:
        expect(r.status == 200, "a province's lookup")
    d.refresh()
    expect(count() == before + 1, f"today's sharing went from {before} to {count()}")
    links = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "a[href$='.csv']")]
    expect(len(links) == 5, f"a CSV per chart: {links}")
    sign_out(d)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    keys = json.load(open(KEYS, encoding="utf-8"))
    d = browser()
    try:
        for journey in (public_journey, lambda d: citizen_journey(d, keys),
                        lambda d: provider_journey(d, keys), lambda d: agreement_journey(d, keys),
                        lambda d: steward_journey(d, keys), lambda d: operator_journey(d, keys)):
            try:
                journey(d)
            except Exception as e:  # a journey that breaks is a failure, the next one runs
                failures.append(f"journey broke: {type(e).__name__}: {str(e).splitlines()[0]}")
                d.delete_all_cookies()
    finally:
        d.quit()
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


main()
