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
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = "@readme/oas-examples"
# Pinned so that a new release cannot change what this test asserts;
# APIGW_OAS_EXAMPLES_VERSION overrides it.
VERSION = os.environ.get("APIGW_OAS_EXAMPLES_VERSION", "8.2.2")

REPO = Path(__file__).resolve().parents[2]
APIGW = REPO / "build" / "apigw"
TIMEOUT = 60


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return Path(base) / "apigw" / ("oas-examples-" + VERSION)


def package_root(prefix):
    return prefix / "node_modules" / "@readme" / "oas-examples"


def fetch():
    """The package directory, installing it with npm when not cached.
    Returns (path, None) or (None, error message)."""
    prefix = cache_dir()
    root = package_root(prefix)

    if (root / "package.json").is_file():
        return root, None

    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed; it is needed to fetch " + PACKAGE

    # install next to the cache, then rename: concurrent runs stay safe
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
        return None, "npm install %s@%s timed out (is the npm registry " \
                     "reachable?)" % (PACKAGE, VERSION)

    if r.returncode != 0 or not (package_root(tmp) / "package.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        return None, ("npm install %s@%s failed (is the npm registry "
                      "reachable?):\n%s" % (PACKAGE, VERSION, r.stdout))

    try:
        os.rename(tmp, prefix)
    except OSError:
        # another run got there first
        shutil.rmtree(tmp, ignore_errors=True)

    return package_root(prefix), None


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
