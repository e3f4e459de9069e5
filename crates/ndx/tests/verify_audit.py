#!/usr/bin/env python3
"""Verify a running ndx node's tamper-evident audit log over HTTP.

This verifier is independent of ndx's Rust code: it is written only from the format the
`ndx-audit` crate documents (canonical RFC 8785 entries, RFC 9162 Merkle trees, Ed25519 signed
tree heads) and the RFCs themselves, using the Python standard library plus `cryptography` for
Ed25519. It checks that

1. every signed tree head's signature verifies under the log's public key (the node's, or the
   one pinned with --public-key);
2. every entry is in canonical form and its leaf hash is SHA-256(0x00 || bytes);
3. every head's root equals the RFC 9162 root recomputed from the entries it covers;
4. a sample of RFC 9162 inclusion proofs and the consistency proofs between consecutive heads
   verify.

It prints a one-line summary and exits 0, or prints the first failure and exits 1.

    python3 verify_audit.py --url http://127.0.0.1:8080 --key <auditor API key> [--public-key HEX]
"""

import argparse
import base64
import datetime
import hashlib
import json
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

PAGE = 1000  # the most entries or heads one request returns


class Failure(Exception):
    pass


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(entry):
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


class Tree:
    """RFC 9162 §2.1.1 MTH over leaf hashes; complete subtrees are cached since they never change."""

    def __init__(self, leaves):
        self.leaves, self.cache = leaves, {}

    def root(self, start=0, end=None):
        end = len(self.leaves) if end is None else end
        n = end - start
        if n == 0:
            return sha256(b"")
        if n == 1:
            return self.leaves[start]
        if (start, end) in self.cache:
            return self.cache[(start, end)]
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n
        h = node_hash(self.root(start, start + k), self.root(start + k, end))
        if n & (n - 1) == 0:
            self.cache[(start, end)] = h
        return h


def verify_inclusion(leaf_index, tree_size, leaf, path, root):
    """RFC 9162 §2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 §2.1.4.2; a proof between equal sizes, or from size 0, is empty."""
    if first == 0:
        return not proof
    if first == second:
        return not proof and first_root == second_root
    if first > second or not proof:
        return False
    if first & (first - 1) == 0:  # an exact power of two
        proof = [first_root] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


def sth_message(tree_size, timestamp_ms, root):
    return b"ndx-audit-sth-v1" + tree_size.to_bytes(8, "big") + timestamp_ms.to_bytes(8, "big") + root


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the node, e.g. http://127.0.0.1:8080")
    ap.add_argument("--key", required=True, help="an auditor or operator API key")
    ap.add_argument("--public-key", help="the log's Ed25519 public key to trust (64 hex digits)")
    args = ap.parse_args()
    base = args.url.rstrip("/")

    def get(path, auth=False):
        req = urllib.request.Request(base + path)
        if auth:
            req.add_header("Authorization", "Bearer " + args.key)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            raise Failure(f"GET {path}: HTTP {e.code}: {e.read().decode(errors='replace')}")
        except urllib.error.URLError as e:
            raise Failure(f"GET {path}: {e.reason}")

    # 1. The public key; a pinned key is trusted instead of the published one.
    pk = get("/api/v1/audit/public-key")
    if pk.get("algorithm") != "Ed25519":
        raise Failure(f"unexpected key algorithm {pk.get('algorithm')!r}")
    published = bytes.fromhex(pk["public_key"])
    pem_raw = load_pem_public_key(pk["pem"].encode()).public_bytes(Encoding.Raw, PublicFormat.Raw)
    if pem_raw != published:
        raise Failure("the published PEM key differs from the published hex key")
    trusted = bytes.fromhex(args.public_key) if args.public_key else published
    if len(trusted) != 32:
        raise Failure("--public-key must be 64 hex digits")
    key = Ed25519PublicKey.from_public_bytes(trusted)
    if trusted != published:
        print(f"note: the node publishes key {published.hex()}, not the pinned key", file=sys.stderr)

    # 2. The latest head, then every head (ascending, unique sizes), which must include it.
    try:
        sth = get("/api/v1/audit/sth")
    except Failure as e:
        if "HTTP 404" in str(e):
            print("audit log verified: empty, no signed heads yet")
            return
        raise
    heads, frm = [], 0
    while True:
        page = get(f"/api/v1/audit/heads?from={frm}&limit={PAGE}")
        if not page:
            break
        heads += page
        frm = page[-1]["tree_size"] + 1
    if sth not in heads:
        raise Failure(f"the latest head (size {sth['tree_size']}) is not among the listed heads")

    # 3. Signatures, and the timestamp string against the signed milliseconds.
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    for prev, h in zip([None] + heads, heads):
        name = f"head of size {h['tree_size']} ({h['timestamp']})"
        if prev is not None and h["tree_size"] <= prev["tree_size"]:
            raise Failure(f"{name} follows a head of size {prev['tree_size']}: sizes must grow")
        ms = h["timestamp_ms"]
        t = epoch + datetime.timedelta(milliseconds=ms)
        if h["timestamp"] != t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z":
            raise Failure(f"{name}: timestamp does not match timestamp_ms {ms}")
        msg = sth_message(h["tree_size"], ms, bytes.fromhex(h["root_hash"]))
        try:
            key.verify(bytes.fromhex(h["signature"]), msg)
        except InvalidSignature:
            raise Failure(f"{name}: the signature does not verify under public key {trusted.hex()}")

    # 4. Every entry the latest head covers: canonical, with the right leaf hash.
    latest = heads[-1]
    size = latest["tree_size"]
    leaves = []
    while len(leaves) < size:
        start = len(leaves)
        page = get(f"/api/v1/audit/entries?start={start}&end={min(start + PAGE, size)}", auth=True)
        if not page:
            raise Failure(f"the log ends at entry {start} but a signed head covers {size}")
        for e in page:
            i = len(leaves)
            if e["index"] != i:
                raise Failure(f"expected entry {i}, got entry {e['index']}")
            raw = base64.b64decode(e["canonical"], validate=True)
            try:
                event = json.loads(raw)
            except ValueError as err:
                raise Failure(f"entry {i} is not JSON: {err}")
            if canonical(event) != raw:
                raise Failure(f"entry {i} is not canonical: {raw!r}")
            if event != e["event"]:
                raise Failure(f"entry {i}: the parsed event differs from its canonical bytes")
            if bytes.fromhex(e["leaf_hash"]) != leaf_hash(raw):
                raise Failure(f"entry {i}: leaf_hash {e['leaf_hash']} is not SHA-256(0x00 || entry)")
            leaves.append(leaf_hash(raw))

    # 5. Every head's root recomputed from the entries.
    tree = Tree(leaves)
    for h in heads:
        root = tree.root(0, h["tree_size"])
        if root.hex() != h["root_hash"].lower():
            raise Failure(f"head of size {h['tree_size']}: root {h['root_hash']} differs from "
                          f"the recomputed root {root.hex()}")

    # 6. Inclusion proofs of a sample of entries in the latest head.
    latest_root = bytes.fromhex(latest["root_hash"])
    sample = sorted({0, size - 1} | {i * (size - 1) // 11 for i in range(1, 11)})
    for i in sample:
        p = get(f"/api/v1/audit/proof/inclusion?leaf_index={i}&tree_size={size}")
        path = [bytes.fromhex(x) for x in p["audit_path"]]
        if not verify_inclusion(i, size, leaves[i], path, latest_root):
            raise Failure(f"the inclusion proof of entry {i} in the head of size {size} does not verify")

    # 7. Consistency proofs between consecutive heads.
    for a, b in zip(heads, heads[1:]):
        m, n = a["tree_size"], b["tree_size"]
        p = get(f"/api/v1/audit/proof/consistency?first={m}&second={n}")
        proof = [bytes.fromhex(x) for x in p["proof"]]
        if not verify_consistency(m, n, bytes.fromhex(a["root_hash"]), bytes.fromhex(b["root_hash"]), proof):
            raise Failure(f"the consistency proof between the heads of sizes {m} and {n} does not verify")

    print(f"audit log verified: {size} entries, {len(heads)} signed heads, {len(sample)} inclusion "
          f"proofs, {len(heads) - 1} consistency proofs; latest root {latest['root_hash']}, "
          f"public key {trusted.hex()}")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"audit log verification FAILED: {e}")
        sys.exit(1)
