#!/usr/bin/env python3
"""The real ckanapi client (PyPI) against a running ndx: list, search (without diacritics),
show a package and download a resource, checking its SHA-256. Prints one line per step;
exits non-zero on the first thing that differs from what a CKAN site would answer."""

import hashlib
import sys
import urllib.request

import ckanapi


def main() -> int:
    base, expected = sys.argv[1], sys.argv[2]
    ckan = ckanapi.RemoteCKAN(base, user_agent="ndx-test/1 (ckanapi)")
    names = ckan.action.package_list()
    assert expected in names, names
    print("package_list", names)
    found = ckan.action.package_search(q="ha noi", rows=5, **{"facet.field": ["organization", "res_format"]})
    assert found["count"] >= 1 and found["results"][0]["name"] == expected, found
    assert "organization" in found["search_facets"], found["search_facets"]
    print("package_search", found["count"], [r["name"] for r in found["results"]])
    package = ckan.action.package_show(id=expected)
    assert package["name"] == expected and package["resources"], package
    print("package_show", package["title"], len(package["resources"]), "resources")
    org = ckan.action.organization_show(id=package["owner_org"])
    print("organization_show", org["name"], org["package_count"])
    resource = next(r for r in package["resources"] if r["format"] == "CSV")
    same = ckan.action.resource_show(id=resource["id"])
    assert same["url"] == resource["url"], same
    with urllib.request.urlopen(resource["url"]) as f:
        body = f.read()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert digest == resource["hash"], (digest, resource["hash"])
    assert len(body) == resource["size"], (len(body), resource["size"])
    print("download", len(body), "bytes", digest)
    rows = ckan.action.datastore_search(resource_id=resource["id"], limit=2, sort="_id desc")
    lines = body.decode("utf-8").strip().splitlines()
    assert rows["total"] == len(lines) - 1, (rows["total"], len(lines))
    assert [f["id"] for f in rows["fields"]][0] == "_id", rows["fields"]
    assert len(rows["records"]) == 2, rows["records"]
    assert rows["records"][0]["_id"] == rows["total"], rows["records"]
    print("datastore_search", rows["total"], "rows")
    try:
        ckan.action.package_show(id="no-such-package")
    except ckanapi.NotFound:
        print("NotFound as CKAN raises it")
    else:
        raise AssertionError("a missing package was found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
