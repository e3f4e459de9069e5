#!/usr/bin/env python3
"""Checks, from outside ndx, that every record released by governed exchange is accounted for.

Reads every audit entry of a node (as an auditor), and for each allowed exchange event
(`exchange.lookup`, `exchange.search`, `exchange.extract`, `exchange.subscribe` — a page of a
change feed; entry format 2, which names its
agreement) checks against the node's public API that:

1. the agreement exists, belongs to the event's consumer system and dataset, and is for the
   event's purpose;
2. every released field is one the agreement names;
3. every data subject the event names has this very entry on their own data tracker
   (`/api/v1/subjects/{id}/accesses`), with the same operation, purpose and agreement.

Standard library only. Exit status 0 when everything holds, 1 with the first failure.
Usage: verify_exchange_audit.py --url http://127.0.0.1:8080 --key <auditor key>
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request

PAGE = 1000
EXCHANGE = {"exchange.lookup", "exchange.search", "exchange.extract", "exchange.subscribe"}


class Failure(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True, help="an auditor API key")
    args = ap.parse_args()
    base = args.url.rstrip("/")

    def get(path):
        req = urllib.request.Request(base + path)
        req.add_header("Authorization", "Bearer " + args.key)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            raise Failure(f"GET {path}: HTTP {e.code}: {e.read().decode(errors='replace')}")

    entries, start = [], 0
    while True:
        page = get(f"/api/v1/audit/entries?start={start}&end={start + PAGE}")
        for e in page:
            raw = base64.b64decode(e["canonical"], validate=True)
            entries.append((e["index"], json.loads(raw)))
        if len(page) < PAGE:
            break
        start += PAGE

    agreements = {}
    trackers = {}
    released_events = subjects_checked = 0
    for index, ev in entries:
        if ev["operation"] not in EXCHANGE or not ev["outcome"]["allowed"]:
            continue
        released_events += 1
        if ev.get("v") != 2 or "agreement" not in ev:
            raise Failure(f"entry {index}: an allowed exchange event without its agreement (v={ev.get('v')})")
        aid = ev["agreement"]
        if aid not in agreements:
            agreements[aid] = get(f"/api/v1/agreements/{aid}")
        a = agreements[aid]
        if ev["actor"] is None or ev["actor"]["system"] != a["consumer"]:
            raise Failure(f"entry {index}: released to {ev['actor']}, but agreement {aid} is for {a['consumer']}")
        if ev["dataset"] != a["dataset"]:
            raise Failure(f"entry {index}: dataset {ev['dataset']} is not agreement {aid}'s {a['dataset']}")
        if ev["purpose"] != a["purpose"]:
            raise Failure(f"entry {index}: purpose {ev['purpose']} is not agreement {aid}'s {a['purpose']}")
        extra = [f for f in ev["fields"] if f not in a["fields"]]
        if extra:
            raise Failure(f"entry {index}: fields {extra} released beyond agreement {aid}")
        for subject in ev["subjects"]:
            if subject not in trackers:
                accesses, before = [], None
                while True:
                    q = f"/api/v1/subjects/{subject}/accesses?limit=1000"
                    if before is not None:
                        q += f"&before={before}"
                    page = get(q)
                    accesses += page["accesses"]
                    before = page.get("next_before")
                    if before is None:
                        break
                trackers[subject] = {x["entry"]: x for x in accesses}
            seen = trackers[subject].get(index)
            if seen is None:
                raise Failure(f"entry {index}: subject {subject} was released but the entry is not on their tracker")
            for k in ("operation", "purpose", "agreement"):
                if seen.get(k) != ev.get(k):
                    raise Failure(f"entry {index}: the tracker of {subject} shows {k}={seen.get(k)!r}, the log {ev.get(k)!r}")
            subjects_checked += 1

    print(f"exchange audit verified: {len(entries)} entries, {released_events} releases, "
          f"{subjects_checked} subject trackers, {len(agreements)} agreements")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"exchange audit verification FAILED: {e}")
        sys.exit(1)
