"""`apigw check` over every document of the npm package @readme/oas-examples.

The package is fetched with npm into a cache outside the repository
($XDG_CACHE_HOME/apigw or ~/.cache/apigw), once, and reused.  `build/apigw`
must have been built (`make cli`).

Every .json / .yaml file of the package must be checked without a crash or
a hang: exit status 0 or 1, never a signal, within a timeout.

The files the package itself asserts to be valid OpenAPI must give zero
errors (warnings are fine: these examples have no backends, so each
operation warns "no backend").  Which files those are is taken from the
package's own test (test/index.test.ts): `{2.0,3.0,3.1}/json/*.json` and
`{2.0,3.0,3.1}/yaml/*.yaml`, i.e. the files directly in those directories.
Files in deeper directories (3.0/json/openapi-workshop/) are fragments of a
workshop that the package does not validate, so for them only "no crash" is
asserted.
"""

import os
import subprocess
from pathlib import Path

import pytest

import npm_cache

PACKAGE = "@readme/oas-examples"
# Pinned so that a new release cannot change what this test asserts;
# APIGW_OAS_EXAMPLES_VERSION overrides it.
VERSION = os.environ.get("APIGW_OAS_EXAMPLES_VERSION", "8.2.2")

REPO = Path(__file__).resolve().parents[2]
APIGW = REPO / "build" / "apigw"
TIMEOUT = 60


def fetch():
    return npm_cache.fetch(PACKAGE, VERSION, "oas-examples")


def documents(root):
    files = []

    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)

        if p.suffix not in (".json", ".yaml") or not p.is_file():
            continue

        if rel.parts[0] not in ("2.0", "3.0", "3.1"):
            continue        # package.json, test/tsconfig.json

        valid = (len(rel.parts) == 3
                 and rel.parts[1] == rel.suffix[1:])   # 3.0/json/x.json
        files.append((str(rel), valid))

    return files


ROOT, FETCH_ERROR = fetch()
CASES = documents(ROOT) if ROOT else []


def test_package_fetched():
    if FETCH_ERROR:
        pytest.fail(FETCH_ERROR, pytrace=False)

    # the package layout this test relies on
    assert sum(1 for _, valid in CASES if valid) >= 100, CASES
    assert any(not valid for _, valid in CASES)


def run_check(path):
    if not APIGW.is_file():
        pytest.fail("%s is missing: run `make cli` first" % APIGW,
                    pytrace=False)

    try:
        return subprocess.run([str(APIGW), "check", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("apigw check %s took more than %d s" % (path, TIMEOUT))


@pytest.mark.parametrize("rel,valid", CASES, ids=[c[0] for c in CASES])
def test_check(rel, valid):
    r = run_check(ROOT / rel)
    out = r.stdout + r.stderr

    assert r.returncode >= 0, "killed by signal %d:\n%s" % (-r.returncode,
                                                           out)
    assert r.returncode in (0, 1), out
    assert r.stdout.rstrip().splitlines()[-1].startswith(
        ("ok: ", "failed: ")), out

    if not valid:
        return

    errors = [line for line in r.stdout.splitlines()
              if ": warning: " not in line
              and not line.startswith(("ok: ", "failed: "))]

    assert errors == [] and r.returncode == 0, out
    assert r.stdout.rstrip().splitlines()[-1].startswith("ok: "), out
