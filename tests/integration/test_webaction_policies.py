"""Web actions secured without OpenAPI: API-key, JWT and rate-limit
policies bound through the management API to a namespace, a package or one
action, enforced at /api/v1/web/... and on vanity hosts, applied live in
every worker, kept in the store."""

import time

import pytest

from admin_gw import Gateway, new_store_dir
from apigw_checks import header_values
from idp import Idp

KEY_HDR = {"securitySchemes": {"key": {"type": "apiKey", "in": "header",
                                       "name": "X-Api-Key"}},
           "security": [{"key": []}]}
DEMO_HDR = {"securitySchemes": {"demo": {"type": "apiKey", "in": "header",
                                         "name": "X-Demo-Key"}},
            "security": [{"demo": []}]}
OPEN = {"security": []}

HELLO = "/api/v1/web/guest/demo/hello.json"
BOOKS = "/api/v1/web/guest/demo/books.json"
ECHO = "/api/v1/web/guest/default/echo.json"
VANITY = [("Host", "guest.example.net")]


@pytest.fixture(scope="module")
def idp():
    i = Idp()
    yield i
    i.stop()


def data_plane_conf(whisk, idp=None):
    conf = ("apigw_openwhisk_url %s; apigw_web_actions on;"
            " apigw_store_poll 20ms;"
            " apigw_vanity_domain example.net;"
            " add_header X-T-Reason $apigw_reason always;" % whisk.url)
    if idp:
        conf += (" apigw_jwks_refresh 300s 1s;"
                 " apigw_oauth2_provider default jwks_uri=%s/certs"
                 " issuer=%s audience=apigw-tests;" % (idp.issuer,
                                                       idp.issuer))
    return conf


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, idp):
    return Gateway(module_nginx_factory, new_store_dir(), workers=2,
                   extra_http=data_plane_conf(whisk, idp)).start()


def bind(gw, path, policy, tenant="guest"):
    return gw.admin("PUT", "/v2/%s/webactions/%s" % (tenant, path), policy)


def unbind(gw, path, tenant="guest"):
    return gw.admin("DELETE", "/v2/%s/webactions/%s" % (tenant, path))


def settle(gw, target, status, headers=None, times=6, timeout=8.0):
    """Requests in a row answer `status`, and still do a moment later:
    the change reached every worker (each polls the store every 20 ms)."""
    deadline = time.time() + timeout
    while True:
        got = [gw.nginx.request("GET", target, headers).status
               for _ in range(times)]
        if all(s == status for s in got):
            time.sleep(0.3)
            got = [gw.nginx.request("GET", target, headers).status
                   for _ in range(times)]
            if all(s == status for s in got):
                return got
        if time.time() > deadline:
            return got
        time.sleep(0.05)


def new_key(gw, tenant="guest", consumer="alice"):
    r = gw.admin("POST", "/v2/%s/keys" % tenant, {"consumer": consumer})
    assert r.status == 201, r
    return r.json()["key"]


def error_shape(r, status, reason):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    body = r.json()
    assert body["status"] == status and body["request_id"], body
    assert r.header("X-T-Reason") == reason, r


# ---- API keys: namespace, package, action; most specific wins ----

def test_key_bound_to_namespace_package_action(gw, whisk):
    key = new_key(gw)
    other = new_key(gw, consumer="bob")
    assert settle(gw, HELLO, 200) == [200] * 6          # open before

    r = bind(gw, "guest", KEY_HDR)
    assert r.status == 201, r
    assert r.json()["path"] == "guest" and r.json()["tenant"] == "guest"
    assert settle(gw, HELLO, 401) == [401] * 6

    # rejected requests never reach the backend
    before = whisk.calls()
    r = gw.get(HELLO)
    error_shape(r, 401, "key_missing")
    assert r.json()["message"] == "Error: Unauthorized"
    assert r.header("WWW-Authenticate") == 'ApiKey name="X-Api-Key", ' \
                                           'in="header"'
    error_shape(gw.get(ECHO, headers=[("X-Api-Key", "nope")]), 401,
                "key_invalid")
    assert whisk.calls() == before

    r = gw.get(HELLO, headers=[("X-Api-Key", key)])
    assert r.status == 200 and "greeting" in r.json()
    assert whisk.calls() == before + 1
    # the consumer reaches the backend as identity
    assert gw.get(ECHO, headers=[("X-Api-Key", other)]).status == 200
    assert header_values(whisk.last(), "X-Apigw-Consumer") == ["bob"]

    # a package binding replaces the namespace's for that package
    assert bind(gw, "guest/demo", DEMO_HDR).status == 201
    assert settle(gw, HELLO, 200, [("X-Demo-Key", key)]) == [200] * 6
    error_shape(gw.get(BOOKS, headers=[("X-Api-Key", key)]), 401,
                "key_missing")
    assert gw.get(ECHO, headers=[("X-Api-Key", key)]).status == 200
    error_shape(gw.get(ECHO), 401, "key_missing")

    # an action binding wins over both: here it opens one action
    assert bind(gw, "guest/demo/hello", OPEN).status == 201
    assert settle(gw, HELLO, 200) == [200] * 6
    # with its extension, a rest path, or none
    for t in ("/api/v1/web/guest/demo/hello",
              "/api/v1/web/guest/demo/hello.http/x/y",
              "/api/v1/web/guest/demo/hello.text"):
        r = gw.get(t)
        assert r.status not in (401, 403) and not r.header("X-T-Reason"), r
    # an unknown extension is part of the name: not the bound action
    error_shape(gw.get("/api/v1/web/guest/demo/hello.zip"), 401,
                "key_missing")
    error_shape(gw.get(BOOKS), 401, "key_missing")
    assert gw.get(BOOKS, headers=[("X-Demo-Key", key)]).status == 200

    # the same on a vanity host
    assert gw.get("/demo/hello.json", headers=VANITY).status == 200
    error_shape(gw.get("/demo/books.json", headers=VANITY), 401,
                "key_missing")
    assert gw.get("/demo/books.json",
                  headers=VANITY + [("X-Demo-Key", key)]).status == 200
    error_shape(gw.get("/default/echo.json", headers=VANITY), 401,
                "key_missing")
    assert gw.get("/default/echo.json",
                  headers=VANITY + [("X-Api-Key", key)]).status == 200
    # the vanity root is the namespace's public/index.html
    error_shape(gw.get("/", headers=VANITY), 401, "key_missing")

    # list and read
    lst = gw.admin("GET", "/v2/guest/webactions").json()
    assert sorted(b["path"] for b in lst) == ["guest", "guest/demo",
                                              "guest/demo/hello"]
    r = gw.admin("GET", "/v2/guest/webactions/guest/demo")
    assert r.status == 200 and r.json()["policy"] == DEMO_HDR
    # a second PUT replaces: 200
    assert bind(gw, "guest/demo", DEMO_HDR).status == 200

    # unbind: open again without a reload
    for p in ("guest/demo/hello", "guest/demo", "guest"):
        assert unbind(gw, p).status == 204
    assert settle(gw, BOOKS, 200) == [200] * 6
    assert settle(gw, ECHO, 200) == [200] * 6
    assert gw.get("/demo/books.json", headers=VANITY).status == 200
    r = gw.admin("GET", "/v2/guest/webactions/guest/demo")
    assert r.status == 404 and r.header("Content-Type") == \
        "application/json"
    assert unbind(gw, "guest").status == 404


def test_revoked_and_foreign_keys(gw, whisk):
    key = new_key(gw)
    foreign = new_key(gw, tenant="someone-else")
    assert bind(gw, "guest/default/echo", KEY_HDR).status == 201
    assert settle(gw, ECHO, 401) == [401] * 6
    assert gw.get(ECHO, headers=[("X-Api-Key", key)]).status == 200
    # another tenant's key is known, but not for this tenant's actions
    error_shape(gw.get(ECHO, headers=[("X-Api-Key", foreign)]), 403,
                "not_subscribed")
    kid = [k for k in gw.admin("GET", "/v2/guest/keys").json()
           if key.startswith(k["prefix"])][0]["id"]
    assert gw.admin("POST", "/v2/guest/keys/%s/revoke" % kid).status == 200
    assert settle(gw, ECHO, 401, [("X-Api-Key", key)]) == [401] * 6
    assert unbind(gw, "guest/default/echo").status == 204
    assert settle(gw, ECHO, 200) == [200] * 6


# ---- JWT ----

def test_jwt_bound_to_an_action(gw, whisk, idp):
    pol = {"securitySchemes": {"idp": {"type": "http", "scheme": "bearer"}},
           "security": [{"idp": ["read"]}]}
    assert bind(gw, "guest/default/echo", pol).status == 201
    assert settle(gw, ECHO, 401) == [401] * 6

    r = gw.get(ECHO)
    error_shape(r, 401, "token_missing")
    assert r.header("WWW-Authenticate") == "Bearer"

    def bearer(tok):
        return [("Authorization", "Bearer " + tok)]

    # the keys come from the default provider, fetched in the background
    deadline = time.time() + 8
    while gw.get(ECHO, headers=bearer(idp.token())).status != 200:
        assert time.time() < deadline, "the JWKS was never fetched"
        time.sleep(0.1)
    assert settle(gw, ECHO, 200, bearer(idp.token())) == [200] * 6

    before = whisk.calls()
    error_shape(gw.get(ECHO, headers=bearer(idp.token(exp=int(time.time())
                                                        - 3600))),
                401, "token_expired")
    error_shape(gw.get(ECHO, headers=bearer(idp.token(aud="other"))),
                401, "token_audience")
    r = gw.get(ECHO, headers=bearer(idp.token(scope="write")))
    error_shape(r, 403, "insufficient_scope")
    assert 'error="insufficient_scope"' in r.header("WWW-Authenticate")
    assert whisk.calls() == before

    # the binding's own issuer is checked instead of the provider's
    pol["securitySchemes"]["idp"]["x-apigw-jwt"] = {"issuer": "https://x"}
    assert bind(gw, "guest/default/echo", pol).status == 200
    assert settle(gw, ECHO, 401, bearer(idp.token())) == [401] * 6
    error_shape(gw.get(ECHO, headers=bearer(idp.token())), 401,
                "token_issuer")

    assert unbind(gw, "guest/default/echo").status == 204
    assert settle(gw, ECHO, 200) == [200] * 6


# ---- rate limits ----

def test_rate_limit_bound_to_a_package(gw, whisk):
    pol = {"x-apigw-rate-limit": [{"rate": 3, "per": "minute",
                                   "key": "global"}]}
    assert bind(gw, "guest/demo", pol).status == 201
    # the limited response carries the headers
    deadline = time.time() + 5
    while gw.get(HELLO).header("RateLimit-Limit") is None:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(1.0)          # and the other worker (it polls every 20 ms)

    codes = []
    for _ in range(6):
        codes.append(gw.get(BOOKS))
    statuses = [r.status for r in codes]
    assert 429 in statuses, statuses
    r = codes[statuses.index(429)]
    error_shape(r, 429, "rate_limited")
    assert r.json()["message"] == "Error: Rate limit exceeded"
    assert int(r.header("Retry-After")) >= 1
    assert r.header("RateLimit-Limit") == "3"
    assert r.header("RateLimit-Remaining") == "0"
    assert r.header("RateLimit-Policy").startswith("3;w=60")
    # the package shares one counter; other packages are not limited
    assert gw.get(HELLO).status == 429
    assert gw.get("/demo/hello.json", headers=VANITY).status == 429
    before = whisk.calls()
    assert gw.get(BOOKS).status == 429
    assert whisk.calls() == before
    assert gw.get(ECHO).status == 200

    assert unbind(gw, "guest/demo").status == 204
    assert settle(gw, HELLO, 200) == [200] * 6
    assert gw.get(HELLO).header("RateLimit-Limit") is None


def test_a_binding_inherits_what_it_leaves_out(gw, whisk):
    """An action's binding with only a rate limit keeps its package's
    security; one that opens the action keeps the package's limit."""
    key = new_key(gw, consumer="inherit")
    pkg = dict(KEY_HDR, **{"x-apigw-rate-limit": [
        {"rate": 100, "per": "minute", "key": "global"}]})
    assert bind(gw, "guest/demo", pkg).status == 201
    assert bind(gw, "guest/demo/hello", {"x-apigw-rate-limit": [
        {"rate": 50, "per": "minute", "key": "global"}]}).status == 201
    assert bind(gw, "guest/demo/books", OPEN).status == 201
    try:
        assert settle(gw, BOOKS, 200) == [200] * 6
        assert settle(gw, HELLO, 401) == [401] * 6
        r = gw.get(HELLO, headers=[("X-Api-Key", key)])
        assert r.status == 200 and r.header("RateLimit-Limit") == "50", r
        r = gw.get(BOOKS)
        assert r.status == 200 and r.header("RateLimit-Limit") == "100", r
        assert gw.get("/demo/hello.json", headers=VANITY).status == 401
        # a browser: the preflight is OpenWhisk's (never checked), and the
        # refusal is readable by the page
        o = [("Origin", "https://app.example"),
             ("Access-Control-Request-Method", "GET"),
             ("Access-Control-Request-Headers", "X-Api-Key")]
        r = gw.nginx.request("OPTIONS", HELLO, o)
        assert r.status == 200, r
        assert r.header("Access-Control-Allow-Origin") == "*", r
        r = gw.get(HELLO, headers=o[:1])
        assert r.status == 401 and \
            r.header_all("Access-Control-Allow-Origin") == ["*"], r
    finally:
        for p in ("guest/demo/hello", "guest/demo/books", "guest/demo"):
            assert unbind(gw, p).status == 204
    assert settle(gw, HELLO, 200) == [200] * 6



def test_an_opened_action_counts_on_its_package_limit(gw, whisk):
    """A package's limit kept by an action opened with "security": [] is
    the package's allowance, not a second one of the action's own."""
    pkg = dict(KEY_HDR, **{"x-apigw-rate-limit": [
        {"rate": 1000, "per": "day", "key": "global"}]})
    assert bind(gw, "guest/demo", pkg).status == 201
    assert bind(gw, "guest/demo/books", OPEN).status == 201
    assert bind(gw, "guest/demo/hello", OPEN).status == 201
    try:
        assert settle(gw, BOOKS, 200) == [200] * 6
        assert settle(gw, HELLO, 200) == [200] * 6
        left = []
        for target in (BOOKS, HELLO, BOOKS, HELLO):
            r = gw.get(target)
            assert r.status == 200 and r.header("RateLimit-Limit") == \
                "1000", r
            left.append(int(r.header("RateLimit-Remaining")))
        # one counter: every request, to either action, takes one
        assert left == [left[0] - i for i in range(4)], left
    finally:
        for p in ("guest/demo/hello", "guest/demo/books", "guest/demo"):
            assert unbind(gw, p).status == 204
    assert settle(gw, HELLO, 200) == [200] * 6


# ---- the management API's checks ----

def test_bad_bodies_and_paths(gw):
    r = bind(gw, "guest", {"securitySchemes": {
        "k": {"type": "apiKey", "in": "nowhere", "name": "X"},
        "j": {"type": "http", "scheme": "bearer",
              "x-apigw-jwt": {"jwks_file": "/etc/shadow"}}},
        "security": [{"nope": []}],
        "x-apigw-rate-limit": [{"rate": 0}],
        "extra": 1})
    assert r.status == 400, r
    body = r.json()
    assert body["status"] == 400
    assert body["message"].startswith("Error: Invalid policy: ")
    ptrs = [e["pointer"] for e in body["errors"]]
    assert "/extra" in ptrs and "/securitySchemes/j" in ptrs
    assert "/security/0/nope" in ptrs

    r = bind(gw, "guest", {"security": [{"k": []}], "securitySchemes": {
        "k": {"type": "apiKey", "in": "nowhere", "name": "X"}},
        "x-apigw-rate-limit": [{"rate": 0}]})
    assert r.status == 400, r
    ptrs = [e["pointer"] for e in r.json()["errors"]]
    assert any(p.startswith("/securitySchemes/k") for p in ptrs), ptrs
    assert any(p.startswith("/x-apigw-rate-limit/0") for p in ptrs), ptrs

    assert bind(gw, "guest", {}).status == 400
    assert bind(gw, "guest", [1]).status == 400
    r = gw.admin("PUT", "/v2/guest/webactions/guest", raw=b"{nope",
                 headers=[("Content-Type", "application/json")])
    assert r.status == 400 and r.header("Content-Type") == \
        "application/json"
    r = gw.admin("PUT", "/v2/guest/webactions/guest")
    assert r.status == 400
    # paths
    assert bind(gw, "guest/demo/hello.json", KEY_HDR).status == 400
    assert bind(gw, "guest/a/b/c", KEY_HDR).status == 404
    assert bind(gw, "gu%2Fest", KEY_HDR).status == 400
    assert bind(gw, "gu$st", KEY_HDR).status == 400
    # OpenWhisk names start with a letter, a digit or "_"; no dot segments
    assert bind(gw, "guest/-x", KEY_HDR).status == 400
    assert bind(gw, "guest/demo/..", KEY_HDR).status == 400
    assert gw.admin("POST", "/v2/guest/webactions/guest",
                    KEY_HDR).status == 405
    # nothing was stored
    assert gw.admin("GET", "/v2/guest/webactions").json() == []
    # no token: 401
    assert gw.admin("PUT", "/v2/guest/webactions/guest", KEY_HDR,
                    token=None).status == 401


def test_namespace_ownership(gw):
    # a tenant whose namespace is another one's
    r = gw.admin("PUT", "/v2/t-own", {"namespace": "ns-own"})
    assert r.status == 200, r
    r = bind(gw, "guest", KEY_HDR, tenant="t-own")
    assert r.status == 403, r
    assert bind(gw, "ns-own/pkg", KEY_HDR, tenant="t-own").status == 201
    # another tenant cannot bind in that namespace
    assert bind(gw, "ns-own", KEY_HDR, tenant="t-thief").status == 409
    assert gw.admin("GET", "/v2/t-thief/webactions/ns-own/pkg").status == 404
    assert unbind(gw, "ns-own/pkg", tenant="t-thief").status == 404
    assert unbind(gw, "ns-own/pkg", tenant="t-own").status == 204
    # nor in the namespace of a tenant that has one, bound or not
    r = bind(gw, "ns-own", KEY_HDR, tenant="t-thief")
    assert r.status == 409 and r.json()["message"] == \
        "Error: Namespace ns-own belongs to another tenant.", r
    # nor take it as its own
    r = gw.admin("PUT", "/v2/t-thief", {"namespace": "ns-own"})
    assert r.status == 409 and r.json()["message"] == \
        "Error: Namespace ns-own belongs to another tenant.", r
    # a tenant with no record yet: its namespace is its id, no other
    assert bind(gw, "ns-nobodys", KEY_HDR, tenant="t-norec").status == 403
    assert gw.admin("GET", "/v2/t-norec").status == 404
    assert bind(gw, "t-norec", KEY_HDR, tenant="t-norec").status == 201
    # a v1 tenant of a namespace and the v2 tenant of that name both own
    # it: the one that binds first has it, the other is 409
    assert bind(gw, "ns-shared/a", KEY_HDR, tenant="ns-shared").status == 201
    v1 = gw.admin("PUT", "/v1/tenants", {"namespace": "ns-shared",
                                         "instance": "1"}).json()
    assert bind(gw, "ns-shared/a", KEY_HDR, tenant="ns-shared").status == 200
    assert bind(gw, "ns-shared/b", KEY_HDR, tenant=v1["id"]).status == 409
    # the tenant v1 would own /api/v1/..., where web actions are
    r = gw.admin("POST", "/v2/v1/apis", {"swagger": "2.0", "basePath": "/web",
                                         "info": {"title": "t",
                                                  "version": "1"},
                                         "paths": {}})
    assert r.status == 400 and "reserved" in r.json()["message"], r


# ---- persistence (embedded store) ----

def test_bindings_survive_a_restart(nginx_factory, whisk):
    d = new_store_dir()
    g = Gateway(nginx_factory, d, extra_http=data_plane_conf(whisk)).start()
    key = new_key(g)
    assert bind(g, "guest/demo", KEY_HDR).status == 201
    assert settle(g, HELLO, 401) == [401] * 6
    g.nginx.stop()

    g2 = Gateway(nginx_factory, d, extra_http=data_plane_conf(whisk)).start()
    assert settle(g2, HELLO, 401) == [401] * 6
    error_shape(g2.get(HELLO), 401, "key_missing")
    assert g2.get(HELLO, headers=[("X-Api-Key", key)]).status == 200
    assert g2.get(ECHO).status == 200
    # a reload keeps them too
    g2.nginx.reload()
    assert settle(g2, HELLO, 401) == [401] * 6
    assert unbind(g2, "guest/demo").status == 204
    assert settle(g2, HELLO, 200) == [200] * 6
    g2.nginx.stop()


# ---- the Redis store: written on one node, enforced on another ----

def test_bindings_on_the_redis_store(nginx_factory, whisk):
    from admin_redis import RedisServer, wait_until
    redis = RedisServer().start()
    try:
        a, b = (Gateway(nginx_factory, new_store_dir(), store=redis.url(),
                        extra_http=data_plane_conf(whisk)).start()
                for _ in range(2))
        for g in (a, b):
            assert wait_until(lambda: g.admin("GET", "/health").json()
                              ["store_writable"], timeout=10)
        key = new_key(a)
        assert bind(a, "guest/demo", KEY_HDR).status == 201
        assert settle(b, HELLO, 401) == [401] * 6
        error_shape(b.get(HELLO), 401, "key_missing")
        assert settle(b, HELLO, 200, [("X-Api-Key", key)]) == [200] * 6
        assert "webaction:guest/demo" in str(redis.cmd("HKEYS",
                                                       "apigw:records"))
        assert unbind(b, "guest/demo").status == 204
        assert settle(a, HELLO, 200) == [200] * 6
    finally:
        redis.cleanup()


# ---- the store's keys on the tenant's managed APIs too ----

def test_store_keys_on_managed_apis(gw, whisk):
    doc = {"openapi": "3.0.3", "info": {"title": "k", "version": "1"},
           "servers": [{"url": "/kapi"}],
           "x-apigw-backend": {"url": whisk.url + "/raw/kapi"},
           "components": {"securitySchemes": KEY_HDR["securitySchemes"]},
           "security": KEY_HDR["security"],
           "paths": {"/x": {"get": {"operationId": "getX", "responses": {
               "200": {"description": "ok"}}}}}}
    r = gw.admin("POST", "/v2/guest/apis", doc)
    assert r.status == 200, r
    api = r.json()["artifact_id"]
    other = gw.admin("POST", "/v2/guest/apis", dict(
        doc, servers=[{"url": "/kapi2"}])).json()["artifact_id"]
    tenant_key = new_key(gw)
    api_key = gw.admin("POST", "/v2/guest/keys", {
        "consumer": "a", "api_id": api}).json()["key"]
    op_key = gw.admin("POST", "/v2/guest/keys", {
        "consumer": "o", "api_id": api, "operation": "getX"}).json()["key"]
    other_key = gw.admin("POST", "/v2/guest/keys", {
        "consumer": "b", "api_id": other}).json()["key"]
    foreign = new_key(gw, tenant="someone-else")

    t = "/api/guest/kapi/x"
    assert settle(gw, t, 401) == [401] * 6
    for k in (tenant_key, api_key, op_key):
        assert settle(gw, t, 200, [("X-Api-Key", k)]) == [200] * 6
    for k in (other_key, foreign):
        error_shape(gw.get(t, headers=[("X-Api-Key", k)]), 403,
                    "not_subscribed")
    assert gw.admin("DELETE", "/v2/guest/apis/%s" % api).status == 204
    assert gw.admin("DELETE", "/v2/guest/apis/%s" % other).status == 204
