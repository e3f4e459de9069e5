#!/usr/bin/env python3
"""An independent check of ndx's DCAT-AP 3 output with rdflib: the catalogue in JSON-LD and in
Turtle parse as RDF and are the same graph; the catalogue, every dataset, distribution, agent,
contact point and checksum carries the properties DCAT-AP 3 marks mandatory (and those it
recommends that ndx promises); a distribution's checksum is the SHA-256 of what its download
URL serves; the strategy's lists parse too and hold as many datasets as their JSON form.
Prints one line per check; exits non-zero on the first failure."""

import hashlib
import json
import sys
import urllib.request

from rdflib import Graph, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")

# DCAT-AP 3.0: mandatory, then the recommended properties ndx fills.
REQUIRED = {
    DCAT.Catalog: [DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCAT.dataset,
                   FOAF.homepage, DCTERMS.language, DCTERMS.modified, DCTERMS.issued,
                   DCTERMS.spatial, DCAT.themeTaxonomy],
    DCAT.Dataset: [DCTERMS.title, DCTERMS.description, DCAT.contactPoint, DCAT.distribution,
                   DCAT.keyword, DCTERMS.publisher, DCTERMS.spatial, DCAT.theme],
    DCAT.Distribution: [DCAT.accessURL, DCATAP.availability, DCTERMS.description,
                        DCTERMS.format, DCTERMS.license, DCAT.downloadURL, DCAT.byteSize,
                        SPDX.checksum, DCAT.mediaType],
    FOAF.Agent: [FOAF.name, DCTERMS.type],
    VCARD.Kind: [VCARD.fn, VCARD.hasEmail],
    SPDX.Checksum: [SPDX.algorithm, SPDX.checksumValue],
}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url) as f:
        return f.read()


def parse(data: bytes, fmt: str, base: str) -> Graph:
    g = Graph()
    g.parse(data=data, format=fmt, publicID=base)
    return g


# What the strategy's lists promise: the mandatory properties, a publisher and access rights.
LISTED = {
    DCAT.Catalog: [DCTERMS.title, DCTERMS.description, DCTERMS.publisher],
    DCAT.Dataset: [DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCTERMS.accessRights,
                   DCTERMS.conformsTo],
    FOAF.Agent: [FOAF.name, DCTERMS.type],
}


def check_properties(g: Graph, name: str, required=REQUIRED) -> None:
    for cls, props in required.items():
        for node in g.subjects(RDF.type, cls):
            for p in props:
                assert (node, p, None) in g, f"{name}: {node} ({cls}) lacks {p}"
    for node in g.subjects(RDF.type, DCAT.Dataset):
        for lang in ("vi", "en"):
            titles = [t for t in g.objects(node, DCTERMS.title) if t.language == lang]
            assert titles, f"{name}: {node} has no title in {lang}"


def main() -> int:
    base, min_datasets = sys.argv[1], int(sys.argv[2])
    jsonld = parse(fetch(f"{base}/catalog.jsonld"), "json-ld", base)
    turtle = parse(fetch(f"{base}/catalog.ttl"), "turtle", base)
    print("parsed", len(jsonld), "triples from JSON-LD,", len(turtle), "from Turtle")
    assert len(jsonld) > 0 and isomorphic(jsonld, turtle), "the two forms differ"
    print("same graph")
    catalogs = list(turtle.subjects(RDF.type, DCAT.Catalog))
    assert len(catalogs) == 1, catalogs
    datasets = list(turtle.objects(catalogs[0], DCAT.dataset))
    assert len(datasets) >= min_datasets, datasets
    check_properties(turtle, "catalog")
    print("mandatory and recommended properties of", len(datasets), "datasets")

    # A distribution's checksum is the SHA-256 of its download.
    checked = 0
    for dist in turtle.subjects(RDF.type, DCAT.Distribution):
        url = str(turtle.value(dist, DCAT.downloadURL))
        checksum = turtle.value(dist, SPDX.checksum)
        value = str(turtle.value(checksum, SPDX.checksumValue))
        body = fetch(url)
        assert hashlib.sha256(body).hexdigest() == value, (url, value)
        assert int(turtle.value(dist, DCAT.byteSize)) == len(body), url
        checked += 1
    assert checked >= min_datasets, checked
    print("checksums of", checked, "downloads")

    # The strategy's lists.
    index = json.loads(fetch(f"{base}/api/v1/data-lists"))
    for entry in index:
        name = entry["list"]
        rows = json.loads(fetch(f"{base}/api/v1/data-lists/{name}.json"))
        assert len(rows) == entry["datasets"], (name, len(rows), entry["datasets"])
        for fmt, ext in (("turtle", "ttl"), ("json-ld", "jsonld")):
            g = parse(fetch(f"{base}/api/v1/data-lists/{name}.{ext}"), fmt, base)
            check_properties(g, f"{name}.{ext}", LISTED)
            listed = {str(g.value(d, DCTERMS.identifier)) for d in g.subjects(RDF.type, DCAT.Dataset)}
            assert listed == {r["dataset"] for r in rows}, (name, ext, listed)
        print("list", name, len(rows), "datasets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
