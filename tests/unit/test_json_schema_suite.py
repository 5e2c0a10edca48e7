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
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = "json-schema-test-suite"
VERSION = os.environ.get("APIGW_JSON_SCHEMA_SUITE_VERSION", "0.0.10")

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "build" / "unit" / "test_validate"


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return Path(base) / "apigw" / ("json-schema-test-suite-" + VERSION)


def package_root(prefix):
    return prefix / "node_modules" / PACKAGE


def fetch():
    """The package directory, installing it with npm when not cached."""
    prefix = cache_dir()
    root = package_root(prefix)

    if (root / "package.json").is_file():
        return root, None

    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed; it is needed to fetch " + PACKAGE

    tmp = prefix.with_name(prefix.name + ".tmp-%d" % os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    try:
        r = subprocess.run(
            [npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund",
             "--ignore-scripts", "--no-save", "--loglevel=error",
             "%s@%s" % (PACKAGE, VERSION)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=300)
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, "npm install %s@%s timed out" % (PACKAGE, VERSION)

    if r.returncode != 0 or not (package_root(tmp) / "package.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        return None, ("npm install %s@%s failed (is the npm registry "
                      "reachable?):\n%s" % (PACKAGE, VERSION, r.stdout))

    try:
        os.rename(tmp, prefix)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)

    return package_root(prefix), None


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
