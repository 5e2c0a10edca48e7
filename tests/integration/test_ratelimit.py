"""Local rate limits and quotas: exact under parallel load across workers,
burst, headers, per-client keys, directive defaults, reload."""

import concurrent.futures
import os
import subprocess
import time

import pytest

import harness
from apigw_checks import assert_error, gateway

CLI = os.path.join(harness.BUILD, "apigw")


def spec(tmp, whisk, store="local", fail="local", burst=99):
    return harness.render_spec("ratelimit.yaml", str(tmp), WHISK=whisk.url,
                               STORE=store, FAIL=fail, BURST=burst)


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ratelimit")
    return module_nginx_factory(
        gateway("apigw_spec %s;" % spec(tmp, whisk)), workers=2).start()


def fire(port, target, n, headers=None, threads=20):
    """n requests from `threads` clients at once; the list of responses."""
    def one(_):
        return harness.request(port, "GET", target, headers)
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, range(n)))


def statuses(responses):
    out = {}
    for r in responses:
        out[r.status] = out.get(r.status, 0) + 1
    return out


def test_exact_under_parallel_load(gw, whisk):
    """100 allowed at once (burst 99); 300 requests from 20 clients on two
    workers: exactly 100 reach the backend."""
    whisk.reset()
    rs = fire(gw.port, "/rl/exact", 300)
    assert statuses(rs) == {200: 100, 429: 200}
    assert whisk.stats()["raw_calls"] == 100
    for r in rs:
        if r.status == 429:
            assert_error(r, 429, "Error: Rate limit exceeded")


def test_burst_headers_and_retry_after(gw):
    h = [("X-Client", "burst-1")]
    for left in (4, 3, 2, 1, 0):
        r = gw.request("GET", "/rl/client", h)
        assert r.status == 200, r
        assert r.header("RateLimit-Limit") == "5"
        assert r.header("RateLimit-Remaining") == str(left)
        assert r.header("RateLimit-Policy") == "1;w=3600;burst=4"
        assert 0 < int(r.header("RateLimit-Reset")) <= 5 * 3600
        assert r.header("Retry-After") is None
        assert r.header("X-RateLimit-Limit") is None
    r = gw.request("GET", "/rl/client", h)
    assert_error(r, 429, "Error: Rate limit exceeded")
    assert r.header("RateLimit-Remaining") == "0"
    assert r.header("RateLimit-Limit") == "5"
    # one emission per hour: the next request fits in at most an hour
    assert 3500 < int(r.header("Retry-After")) <= 3600
    # rejected requests do not consume: the wait does not grow
    r2 = gw.request("GET", "/rl/client", h)
    assert r2.status == 429
    assert int(r2.header("Retry-After")) <= int(r.header("Retry-After"))


def test_clients_are_separate(gw):
    for _ in range(5):
        assert gw.request("GET", "/rl/client",
                          [("X-Client", "sep-a")]).status == 200
    assert gw.request("GET", "/rl/client",
                      [("X-Client", "sep-a")]).status == 429
    assert gw.request("GET", "/rl/client",
                      [("X-Client", "sep-b")]).status == 200
    assert gw.request("GET", "/rl/client",
                      [("X-Client", "SEP-A")]).status == 200


def test_no_key_header_falls_back_to_address(gw):
    # no X-Client: keyed by 127.0.0.1, one bucket for all of them
    codes = [gw.request("GET", "/rl/client").status for _ in range(6)]
    assert codes == [200] * 5 + [429]


def test_consumer_key_without_credentials_is_the_address(gw):
    codes = [gw.request("GET", "/rl/consumer").status for _ in range(3)]
    assert codes == [200, 200, 429]


def test_quota_and_most_restrictive_headers(gw):
    h = [("X-Client", "quota-1")]
    for left in (2, 1, 0):
        r = gw.request("GET", "/rl/quota", h)
        assert r.status == 200, r
        # the quota is the most restrictive of the two limits
        assert r.header("RateLimit-Limit") == "3"
        assert r.header("RateLimit-Remaining") == str(left)
        assert 0 < int(r.header("RateLimit-Reset")) <= 86400
        assert r.header("RateLimit-Policy") == \
            '3;w=86400;comment="quota per day", 100;w=1;burst=99'
    r = gw.request("GET", "/rl/quota", h)
    assert_error(r, 429, "Error: Rate limit exceeded")
    # until midnight UTC
    now = time.time()
    midnight = (int(now) // 86400 + 1) * 86400
    assert abs(int(r.header("Retry-After")) - (midnight - now)) <= 2


def test_unlimited_operation_has_no_headers(gw):
    r = gw.request("GET", "/rl/free")
    assert r.status == 200
    assert r.header("RateLimit-Limit") is None
    assert r.header("RateLimit-Policy") is None


def test_directive_defaults_and_x_headers(nginx_factory, whisk, tmp_path):
    """apigw_rate_limit applies to operations without limits of their own;
    apigw_rate_limit_headers both adds X-RateLimit-*."""
    n = nginx_factory(gateway(
        "apigw_spec %s;" % spec(tmp_path, whisk),
        extra_server="apigw_rate_limit rate=2r/m burst=1 key=header:X-Client;"
                     "apigw_rate_limit_headers both;")).start()
    h = [("X-Client", "d")]
    r = n.request("GET", "/rl/free", h)
    assert r.status == 200
    assert r.header("RateLimit-Limit") == "2"
    assert r.header("X-RateLimit-Limit") == "2"
    assert r.header("X-RateLimit-Remaining") == "1"
    assert r.header("RateLimit-Policy") == "2;w=60;burst=1"
    assert n.request("GET", "/rl/free", h).status == 200
    r = n.request("GET", "/rl/free", h)
    assert_error(r, 429, "Error: Rate limit exceeded")
    assert 1 <= int(r.header("Retry-After")) <= 30
    # an operation with its own limit keeps it
    r = n.request("GET", "/rl/client", h)
    assert r.header("RateLimit-Limit") == "5"


def test_reload_keeps_counters(nginx_factory, whisk, tmp_path):
    n = nginx_factory(gateway("apigw_spec %s;" % spec(tmp_path, whisk)),
                      workers=2).start()
    h = [("X-Client", "reload")]
    codes = [n.request("GET", "/rl/client", h).status for _ in range(3)]
    assert codes == [200, 200, 200]
    n.reload_and_wait(2)
    time.sleep(0.3)                     # the old workers finish
    codes = [n.request("GET", "/rl/client", h).status for _ in range(3)]
    assert codes == [200, 200, 429]


def test_bad_limits_fail_nginx_t(nginx_factory, whisk, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""
openapi: 3.0.3
info: {title: Bad, version: "1"}
x-apigw-backend: {url: "http://127.0.0.1:9/x"}
x-apigw-rate-limit: {rate: 0, per: fortnight}
paths:
  /a:
    get:
      x-apigw-rate-limit: [{quota: 5, per: hour}]
      responses: {"200": {description: ok}}
""")
    rc, out = nginx_factory(gateway("apigw_spec %s;" % bad)).test()
    assert rc != 0
    assert "/x-apigw-rate-limit/rate: must be a whole number" in out, out
    assert "/x-apigw-rate-limit/per: must be second" in out, out
    assert "/paths/~1a/get/x-apigw-rate-limit/0/per: a quota is per" \
        in out, out

    rc, out = nginx_factory(gateway(
        "apigw_spec %s; apigw_rate_limit rate=5r/x;"
        % spec(tmp_path, whisk))).test()
    assert rc != 0 and "apigw_rate_limit: invalid rate period" in out, out

    rc, out = nginx_factory(gateway(
        "apigw_spec %s;" % spec(tmp_path, whisk, store="redis"))).test()
    assert rc != 0 and "need \"apigw_limit_redis\"" in out, out

    rc, out = nginx_factory(gateway(
        "apigw_spec %s;" % spec(tmp_path, whisk),
        extra_http="apigw_zone apigw 1k;")).test()
    assert rc != 0 and "invalid apigw_zone size" in out, out


TYPO_SPEC = """
openapi: 3.0.3
info: {title: Typos, version: "1"}
x-apigw-backend: {url: "http://127.0.0.1:9/x"}
x-apigw-rate-limit: {rate: 10, per: minute, brust: 5, x-note: kept}
paths:
  /a:
    get:
      x-apigw-rate-limit:
        - {quota: 5, per_: day, per: day}
        - {rate: 1, quota: 100, per: day}
      x-gateway-rate-limit: [{rate: 3, unit: minute, other: ignored}]
      responses: {"200": {description: ok}}
"""


def test_unknown_fields_and_rate_with_quota_fail(nginx_factory, tmp_path):
    """A typo in apigw's own extension would change the limit silently; a
    limit with both a rate and a quota is ambiguous: both fail nginx -t and
    apigw check, each with its pointer.  x- fields and the compat forms'
    fields (other tools' vocabulary) are not apigw's to refuse."""
    bad = tmp_path / "typo.yaml"
    bad.write_text(TYPO_SPEC)
    rc, out = nginx_factory(gateway("apigw_spec %s;" % bad)).test()
    assert rc != 0, out
    problems = [
        '/x-apigw-rate-limit/brust: unknown field "brust": a rate limit has '
        'rate or quota, per, burst, key, scope, store, on-redis-failure and '
        'id',
        '/paths/~1a/get/x-apigw-rate-limit/0/per_: unknown field "per_"',
        '/paths/~1a/get/x-apigw-rate-limit/1/quota: a limit is a rate or a '
        'quota, not both: give two limits for both',
    ]
    for pr in problems:
        assert "%s: %s" % (bad, pr) in out, out
    assert "x-note" not in out and "other" not in out, out

    p = subprocess.run([CLI, "check", str(bad)], capture_output=True,
                       text=True)
    assert p.returncode == 1, p
    for pr in problems:
        assert pr in p.stdout + p.stderr, p
    assert "failed: 3 errors" in p.stdout + p.stderr, p


@pytest.mark.parametrize("args,message", [
    ("rate=5r/m quota=100/day", "rate= and quota= together: a limit is a "
     "rate or a quota, use one apigw_rate_limit for each"),
    ("quota=100/day key=address rate=5r/m", "rate= and quota= together"),
    ("rate=5r/m burst=1 burst=2", 'duplicate parameter "burst"'),
    ("rate=5r/m rate=6r/m", 'duplicate parameter "rate"'),
    ("rate=5r/m brust=3", 'invalid parameter "brust=3"'),
    ("rate=5r/m on-redis-failure=open",
     'invalid parameter "on-redis-failure=open"'),
])
def test_directive_one_limit_each(nginx_factory, whisk, tmp_path, args,
                                  message):
    """apigw_rate_limit is one limit: a rate with a quota, a parameter
    given twice or one it does not know fails nginx -t, naming it."""
    rc, out = nginx_factory(gateway(
        "apigw_spec %s; apigw_rate_limit %s;"
        % (spec(tmp_path, whisk), args))).test()
    assert rc != 0, out
    assert "[emerg]" in out and "apigw_rate_limit: " + message in out, out


def test_full_zone_evicts_least_recently_used(nginx_factory, whisk,
                                              tmp_path):
    """A zone of 8 pages holds a few dozen counters: new clients evict the
    least recently used ones (which start afresh), nothing fails."""
    n = nginx_factory(gateway("apigw_spec %s;" % spec(tmp_path, whisk),
                              extra_http="apigw_zone apigw 32k;")).start()
    old = [("X-Client", "old")]
    assert [n.request("GET", "/rl/client", old).status
            for _ in range(6)] == [200] * 5 + [429]
    rs = [n.request("GET", "/rl/client", [("X-Client", "c%d" % i)])
          for i in range(400)]
    assert statuses(rs) == {200: 400}
    # "old" was evicted long ago: its counter starts afresh
    assert n.request("GET", "/rl/client", old).status == 200
    assert "no memory" not in n.log()


def test_compat_limit_is_api_wide(nginx_factory, whisk, tmp_path):
    """x-gateway-rate-limit: 3 per hour for the whole API (an idle client
    may use all 3 at once, not one per 20 minutes); an operation's own
    limit applies as well."""
    s = harness.render_spec("ratelimit-compat.json", str(tmp_path),
                            WHISK=whisk.url)
    n = nginx_factory(gateway("apigw_spec %s;" % s)).start()
    codes = [n.request("GET", p).status for p in ("/compat/a", "/compat/a",
                                                    "/compat/b", "/compat/b",
                                                    "/compat/a")]
    assert codes == [200, 200, 200, 429, 429]
    r = n.request("GET", "/compat/b")
    assert r.header("RateLimit-Policy") == \
        "3;w=3600;burst=2, 10;w=3600;burst=9"
    assert r.header("RateLimit-Limit") == "3"


def test_consumer_keys_from_credentials(nginx_factory, whisk, tmp_path):
    """key: consumer counts per consumer: two API keys of one consumer
    share a counter, another consumer has its own; a request without
    credentials is refused (401) before any limit counts it."""
    import hashlib
    import json

    def h(k):
        return hashlib.sha256(k.encode()).hexdigest()

    keys = tmp_path / "keys.txt"
    keys.write_text("key %s id=a1 consumer=alice\n"
                    "key %s id=a2 consumer=alice\n"
                    "key %s id=b1 consumer=bob\n"
                    % (h("alice-key-1"), h("alice-key-2"), h("bob-key-1")))
    s = tmp_path / "keyed.json"
    s.write_text(json.dumps({
        "swagger": "2.0", "info": {"title": "Keyed", "version": "1"},
        "basePath": "/keyed",
        "securityDefinitions": {
            "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        "security": [{"key": []}],
        "x-apigw-backend": {"url": whisk.url + "/raw/keyed"},
        "x-apigw-rate-limit": {"rate": 2, "per": "hour", "burst": 1},
        "paths": {"/r": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }))
    n = nginx_factory(gateway("apigw_spec %s;" % s,
                              extra_http="apigw_keys_file %s;" % keys)).start()

    def get(key=None):
        return n.request("GET", "/keyed/r",
                         [("X-Api-Key", key)] if key else []).status

    assert [get() for _ in range(3)] == [401] * 3
    assert [get("alice-key-1"), get("alice-key-1")] == [200, 200]
    assert get("alice-key-1") == 429
    assert get("alice-key-2") == 429          # the same consumer
    assert [get("bob-key-1"), get("bob-key-1"), get("bob-key-1")] == \
        [200, 200, 429]


def test_the_gateway_limit_replaces_the_backends_headers(nginx_factory,
                                                         whisk, tmp_path):
    spec = tmp_path / "lh.yaml"
    spec.write_text("""openapi: 3.0.3
info: {title: lh, version: '1'}
servers: [{url: /lh}]
x-apigw-rate-limit: {rate: 5, per: minute}
paths:
  /x:
    get:
      x-apigw-backend: {url: '%s/raw/limits'}
""" % whisk.url)
    n = nginx_factory(gateway("apigw_spec %s; apigw_rate_limit_headers "
                              "both;" % spec)).start()
    r = n.request("GET", "/lh/x")
    assert r.status == 200, r
    assert r.header_all("RateLimit-Limit") == ["5"]
    assert r.header_all("RateLimit-Remaining") == ["4"]
    assert r.header_all("X-RateLimit-Limit") == ["5"]


def test_apis_with_the_same_base_path_count_apart(nginx_factory, whisk,
                                                  tmp_path):
    # two APIs on two servers, the same basePath, path and limit: each has
    # its own counter ("api": all operations of *the* API share it)
    specs = []
    for name in ("shop", "blog"):
        p = tmp_path / ("%s.yaml" % name)
        p.write_text("""openapi: 3.0.3
info: {title: %s, version: '1'}
servers: [{url: /same}]
x-apigw-rate-limit: {rate: 2, per: hour, burst: 1, key: global}
paths:
  /users:
    get:
      x-apigw-backend: {url: '%s/raw/%s'}
""" % (name, whisk.url, name))
        specs.append(p)
    other = harness.free_port()
    n = nginx_factory(gateway("apigw_spec %s;" % specs[0], extra_http="""
server {
    listen 127.0.0.1:%d;
    location / { apigw; apigw_spec %s; }
}""" % (other, specs[1]))).start()
    assert [n.request("GET", "/same/users").status
            for _ in range(3)] == [200, 200, 429]
    assert [harness.request(other, "GET", "/same/users").status
            for _ in range(3)] == [200, 200, 429]
