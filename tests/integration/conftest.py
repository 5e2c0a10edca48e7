import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Nginx, Whisk  # noqa: E402
from redis_fixture import redis_server  # noqa: E402,F401


@pytest.fixture(scope="session")
def whisk():
    w = Whisk()
    yield w
    w.stop()


def _factory():
    """Start nginx instances; each is stopped at teardown, and a worker
    crash (signal) or an [alert] in its error log fails the test."""
    started = []

    def make(http_conf, **kw):
        n = Nginx(http_conf, **kw)
        started.append(n)
        return n

    yield make
    logs = [n.stop() for n in started]     # all stopped, then checked
    for log in logs:
        assert "exited on signal" not in log, log
        assert "[alert]" not in log, log
        # sanitizer reports land in the error log (nginx's stderr); apigw's
        # sources have absolute paths, nginx's own relative ones (nginx has
        # known benign reports, e.g. misaligned loads in its parser)
        assert "AddressSanitizer" not in log, log
        assert not re.search(r"^/\S+: runtime error:", log, re.M), log


@pytest.fixture
def nginx_factory():
    yield from _factory()


@pytest.fixture(scope="module")
def module_nginx_factory():
    """Like nginx_factory, for instances shared by the tests of a module."""
    yield from _factory()
