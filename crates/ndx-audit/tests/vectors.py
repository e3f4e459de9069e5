#!/usr/bin/env python3
"""Independent test vectors for ndx-audit, written straight from the RFC definitions.

Run from anywhere: `python3 crates/ndx-audit/tests/vectors.py`. It rewrites `vectors.json` next
to itself. Python 3 standard library only. The Rust test `tests/vectors.rs` checks the crate
against every vector.

- Merkle: RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 PROOF/SUBPROOF, recursively, over
  LEAVES: the root of every size 0..=N, the inclusion proof of every (index, size), the
  consistency proof of every (first, second) with 1 <= first <= second <= N.
- Entries: canonical audit events as `json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)` writes them.
"""

import hashlib
import json
import os


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries):
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hash(entries[0])
    k = split(n)
    return node_hash(mth(entries[:k]), mth(entries[k:]))


def path(m, entries):
    n = len(entries)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return path(m, entries[:k]) + [mth(entries[k:])]
    return path(m - k, entries[k:]) + [mth(entries[:k])]


def subproof(m, entries, b):
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries)]
    k = split(n)
    if m <= k:
        return subproof(m, entries[:k], b) + [mth(entries[k:])]
    return subproof(m - k, entries[k:], False) + [mth(entries[:k])]


def proof(m, entries):
    return subproof(m, entries, True)


LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41",
    b"\x50\x51\x52\x53",
    b"\x60\x61\x62\x63\x64\x65\x66\x67",
    b"\x70",
    b"\x80\x81",
    b"\x90\x91\x92",
    b"\xa0" * 31,
    b"\xb0" * 32,
    b"\xc0" * 33,
    b"\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf",
    b"\x01" * 64,
    b"leaf sixteen",
    b"\xe0\xe1",
    bytes(range(256)),
    b"\xff",
]


def merkle_vectors():
    n = len(LEAVES)
    hx = lambda hashes: [h.hex() for h in hashes]
    return {
        "leaves": [leaf.hex() for leaf in LEAVES],
        "leaf_hashes": [leaf_hash(leaf).hex() for leaf in LEAVES],
        # roots[s] is the root of the first s leaves.
        "roots": [mth(LEAVES[:s]).hex() for s in range(n + 1)],
        "inclusion": [
            {"index": m, "size": s, "proof": hx(path(m, LEAVES[:s]))}
            for s in range(1, n + 1)
            for m in range(s)
        ],
        "consistency": [
            {"first": m, "second": s, "proof": hx(proof(m, LEAVES[:s]))}
            for s in range(1, n + 1)
            for m in range(1, s + 1)
        ],
    }


def event(**changes):
    base = {
        "v": 1,
        "time": "2025-07-01T08:30:00.000000Z",
        "request_id": "r-0001",
        "actor": {"member": "mof", "system": "tax-portal"},
        "operation": "record.read",
        "dataset": "citizens",
        "keys": ["001090000001"],
        "query": None,
        "fields": ["full_name", "birth_date"],
        "purpose": "tax assessment",
        "legal_basis": "Decree 47/2024/ND-CP",
        "outcome": {"allowed": True, "reason": None},
        "subjects": ["001090000001"],
    }
    base.update(changes)
    return base


EVENTS = [
    event(),
    # An unauthenticated, refused call: nulls and empty arrays everywhere they are allowed.
    event(
        time="1970-01-01T00:00:00.000001Z",
        actor=None,
        dataset=None,
        keys=[],
        fields=[],
        purpose=None,
        legal_basis=None,
        outcome={"allowed": False, "reason": "unauthenticated"},
        subjects=[],
    ),
    # Strings that escaping gets wrong.
    event(
        time="2025-12-31T23:59:59.999999Z",
        request_id='quote " backslash \\ slash / tab \t newline \n',
        query="control \x00\x01\x07\x08\x0b\x0c\x0d\x1f del \x7f end",
        purpose="Tra cứu hồ sơ công dân – Nguyễn Văn Ánh, Hà Nội, Đà Nẵng",
        legal_basis="line\u2028separator\u2029paragraph",
        keys=["e\u0301", "\u00e9", "😀", "\ufeffbom", "\ud7ff\ue000\uffff"],
        fields=["<script>&amp;</script>", "{}[]:,"],
        outcome={"allowed": False, "reason": "từ chối: thiếu căn cứ pháp lý"},
        subjects=["", " ", "079200001234"],
    ),
]


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def main():
    vectors = {
        "merkle": merkle_vectors(),
        "events": [
            {"event": e, "canonical": canonical(e).decode(), "leaf_hash": leaf_hash(canonical(e)).hex()}
            for e in EVENTS
        ],
    }
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    with open(target, "w", encoding="utf-8") as out:
        # One line per top-level vector keeps the file diffable without bloating it.
        json.dump(vectors, out, ensure_ascii=False, separators=(",", ":"))
        out.write("\n")


if __name__ == "__main__":
    main()
