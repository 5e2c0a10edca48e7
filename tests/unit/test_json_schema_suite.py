"""apigw's JSON validator against the official JSON Schema Test Suite.

The npm package `json-schema-test-suite` (the suite's draft 3 and draft 4
files; OpenAPI 3.0 schemas are a draft 4 dialect) is fetched with npm into a
cache outside the repository ($XDG_CACHE_HOME/apigw or ~/.cache/apigw), once,
and reused, like test_oas_examples.py does.

The cases are run by `build/unit/test_validate --suite DIR` (built by
`make unit`), which compiles each group's schema with apigw's schema
compiler and checks every instance.  Which files and groups run, and which
are deliberately left out (tuple `items`, remote references, uniqueItems,
dependencies, additionalItems, the draft 4 optional formats), is listed in
tests/unit/test_validate.c (SUITE_FILES, SUITE_SKIP).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

import npm_cache

PACKAGE = "json-schema-test-suite"
VERSION = os.environ.get("APIGW_JSON_SCHEMA_SUITE_VERSION", "0.0.10")

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "build" / "unit" / "test_validate"


def fetch():
    return npm_cache.fetch(PACKAGE, VERSION, "json-schema-test-suite")


def test_draft4_suite():
    root, err = fetch()
    if err:
        pytest.fail(err, pytrace=False)
    if not RUNNER.is_file():
        pytest.fail("%s is missing: run `make unit` first" % RUNNER,
                    pytrace=False)

    r = subprocess.run([str(RUNNER), "--suite",
                        str(root / "tests" / "draft4")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout
    m = re.search(r"(\d+) passed, (\d+) failed, (\d+) skipped", r.stdout)
    assert m, r.stdout
    passed, failed, skipped = map(int, m.groups())
    # the suite's cases for the keywords apigw supports are all run
    assert failed == 0 and passed >= 200, r.stdout
    assert skipped <= 10, r.stdout
