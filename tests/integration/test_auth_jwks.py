"""Keys fetched by apigw itself: jwks_uri and OIDC discovery from a local
identity provider, shared by the workers, refreshed on an unknown kid (at
most once per minimum interval), rotation picked up without a reload."""

import json
import time

import pytest

import harness
from apigw_checks import gateway
from idp import Idp, Key, make_token


@pytest.fixture(scope="module")
def idp():
    i = Idp()
    yield i
    i.stop()


def spec(whisk, idp, dead_port):
    def op(oid, sec):
        return {"get": {"operationId": oid, "security": sec,
                        "responses": {"200": {"description": "ok"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "jwks", "version": "1"},
        "servers": [{"url": "/j"}],
        "x-apigw-backend": {"url": whisk.url + "/raw/jwks"},
        "components": {"securitySchemes": {
            "remote": {"type": "http", "scheme": "bearer", "x-apigw-jwt": {
                "issuer": idp.issuer, "audiences": ["apigw-tests"],
                "jwks_uri": idp.issuer + "/certs"}},
            "oidc": {"type": "openIdConnect", "openIdConnectUrl":
                     idp.issuer + "/.well-known/openid-configuration",
                     "x-apigw-jwt": {"audiences": ["apigw-tests"]}},
            "dead": {"type": "http", "scheme": "bearer", "x-apigw-jwt": {
                "jwks_uri": "http://127.0.0.1:%d/certs" % dead_port}},
        }},
        "paths": {
            "/remote": op("remote", [{"remote": ["read"]}]),
            "/oidc": op("oidc", [{"oidc": []}]),
            "/dead": op("dead", [{"dead": []}]),
        },
    }


# openwhisk-apigateway: an oauth2 definition names its provider
COMPAT = {
    "swagger": "2.0",
    "info": {"title": "compat-oauth", "version": "1"},
    "basePath": "/compat",
    "securityDefinitions": {"app-id": {
        "type": "oauth2", "flow": "implicit",
        "authorizationUrl": "https://example.com/auth"}},
    "x-gateway-configuration": {"assembly": {"execute": [{"invoke": {
        "target-url": "WHISK/raw/compat-oauth", "verb": "keep"}}]}},
    "paths": {"/hello": {"get": {"responses": {}}}},
}

# the same provider, with the scheme's own leeway (which wins)
LEEWAY = json.loads(json.dumps(COMPAT).replace("/compat", "/lw").replace(
    '"flow"', '"x-apigw-jwt": {"leeway": 0}, "flow"'))

# a bearer scheme with no keys of its own uses the "default" provider
DEFAULT = {
    "openapi": "3.0.3",
    "info": {"title": "default", "version": "1"},
    "servers": [{"url": "/dflt"}],
    "x-apigw-backend": {"url": "WHISK/raw/dflt"},
    "components": {"securitySchemes": {
        "b": {"type": "http", "scheme": "bearer"}}},
    "security": [{"b": []}],
    "paths": {"/x": {"get": {"responses": {}}}},
}


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, idp, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jwks")
    s = tmp / "jwks.json"
    s.write_text(json.dumps(spec(whisk, idp, harness.free_port())))
    c = tmp / "compat.json"
    c.write_text(json.dumps(COMPAT).replace("WHISK", whisk.url))
    d = tmp / "default.json"
    d.write_text(json.dumps(DEFAULT).replace("WHISK", whisk.url))
    lw = tmp / "leeway.json"
    lw.write_text(json.dumps(LEEWAY).replace("WHISK", whisk.url))
    n = module_nginx_factory(gateway(
        "apigw_spec %s; apigw_spec %s; apigw_spec %s; apigw_spec %s;"
        % (s, c, d, lw),
        extra_http="apigw_jwks_refresh 300s 1s;"
                   "apigw_oauth2_provider app-id jwks_uri=%s/certs "
                   "issuer=%s audience=apigw-tests leeway=300;"
                   "apigw_oauth2_provider default "
                   "introspection_endpoint=%s/introspect client_id=gw;"
                   % (idp.issuer, idp.issuer, idp.issuer),
        extra_location="add_header X-T-Reason $apigw_reason always;"),
        workers=2).start()
    # the first fetch happens in the background right after start
    assert eventually(lambda: all_ok(n, "/j/remote", idp.token) and
                      all_ok(n, "/j/oidc", idp.token))
    # the other worker takes the shared keys on its next tick (0.5 s)
    time.sleep(1.0)
    return n


def all_ok(n, target, tok, times=10):
    """Every one of several requests (so: on every worker) succeeds; fresh
    tokens (a callable) miss the shared verified-token cache."""
    return all(n.request("GET", target, bearer(
        tok() if callable(tok) else tok)).status == 200
        for _ in range(times))


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


def stats(idp):
    return json.loads(harness.request(idp.port, "GET", "/_idp/stats").body)


def eventually(f, timeout=8.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f():
            return True
        time.sleep(0.1)
    return False


def test_jwks_uri_and_discovery(gw, whisk, idp):
    for _ in range(20):
        assert gw.request("GET", "/j/remote",
                          bearer(idp.token())).status == 200
        assert gw.request("GET", "/j/oidc",
                          bearer(idp.token(kid="ec-1"))).status == 200
    # one fetch per source, shared by both workers
    assert stats(idp)["fetches"] <= 3


def test_discovered_issuer_is_enforced(gw, whisk, idp):
    r = gw.request("GET", "/j/oidc", bearer(idp.token(iss="http://evil")))
    assert r.status == 401 and r.header("X-T-Reason") == "token_issuer"


def test_scopes_with_fetched_keys(gw, whisk, idp):
    r = gw.request("GET", "/j/remote", bearer(idp.token(scope="write")))
    assert r.status == 403


def test_not_loaded_yet_is_401(gw, whisk, idp):
    before = whisk.calls()
    r = gw.request("GET", "/j/dead", bearer(idp.token()))
    assert r.status == 401
    assert r.header("X-T-Reason") == "token_no_keys"
    assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    assert whisk.calls() == before


def test_unknown_kid_flood_is_bounded(gw, whisk, idp):
    before = stats(idp)["fetches"]
    calls = whisk.calls()
    for i in range(100):
        tok = make_token(idp.key("rsa-1"), idp.claims(),
                         header={"kid": "junk-%d" % i})
        assert gw.request("GET", "/j/remote", bearer(tok)).status == 401
    time.sleep(1.5)
    # at most one refresh per second per source
    assert stats(idp)["fetches"] - before <= 4
    assert whisk.calls() == calls


def test_rotation_without_reload(gw, whisk, idp):
    new = idp.rotate("RSA", "rsa-2")
    tok = make_token(new, idp.claims())
    assert eventually(lambda: all_ok(
        gw, "/j/remote", lambda: make_token(new, idp.claims())))
    time.sleep(1.0)
    # both workers have the new key
    for _ in range(10):
        assert gw.request("GET", "/j/remote", bearer(tok)).status == 200
    # the old key is gone: a token signed with it (not cached) is refused
    old = make_token(idp.key("ec-1"), idp.claims(), header={"kid": "rsa-1"},
                     alg="ES256")
    assert gw.request("GET", "/j/remote", bearer(old)).status == 401


def test_cached_token_of_a_withdrawn_key_refused(gw, whisk, idp):
    """A key withdrawn from the JWKS withdraws the tokens it signed, also
    the ones verified (and cached) before: the cache entry holds the
    digest of the key set that verified it."""
    k = idp.rotate("RSA", "rsa-w1")
    tok = make_token(k, idp.claims())
    assert eventually(lambda: all_ok(gw, "/j/remote", tok))
    k2 = idp.rotate("RSA", "rsa-w2")
    assert eventually(lambda: all_ok(
        gw, "/j/remote", lambda: make_token(k2, idp.claims())))
    time.sleep(1.0)
    # both workers have the new key set; the cached token is checked again
    calls = whisk.calls()
    for _ in range(10):
        r = gw.request("GET", "/j/remote", bearer(tok))
        assert r.status == 401, r.status
    assert whisk.calls() == calls
    # a refresh that brings the same keys changes nothing
    tok2 = make_token(k2, idp.claims())
    assert all_ok(gw, "/j/remote", tok2)


def test_unknown_kid_beside_an_unnamed_key(nginx_factory, whisk, tmp_path):
    """A key set that names its keys and has one without a name as well:
    a token whose kid names none of them, and which the unnamed key does
    not verify either, is signed by a key just added at the IdP; the set
    is fetched again at once, not at the next scheduled refresh."""
    m = Idp(issuer_path="/realms/mixed")
    try:
        unnamed = Key("RSA", None)
        with m.lock:
            m.keys = [Key("RSA", "m-1"), unnamed]
        f = tmp_path / "mixed.json"
        f.write_text(json.dumps({
            "openapi": "3.0.3", "info": {"title": "mixed", "version": "1"},
            "servers": [{"url": "/mx"}],
            "x-apigw-backend": {"url": whisk.url + "/raw/mixed"},
            "components": {"securitySchemes": {"m": {
                "type": "http", "scheme": "bearer", "x-apigw-jwt": {
                    "issuer": m.issuer, "audiences": ["apigw-tests"],
                    "jwks_uri": m.issuer + "/certs"}}}},
            "security": [{"m": []}],
            "paths": {"/x": {"get": {"responses": {}}}}}))
        n = nginx_factory(gateway(
            "apigw_spec %s;" % f, extra_http="apigw_jwks_refresh 300s 1s;",
            extra_location="add_header X-T-Reason $apigw_reason always;"),
            workers=1).start()
        assert eventually(lambda: all_ok(
            n, "/mx/x", lambda: make_token(m.key("m-1"), m.claims())))
        # the unnamed key verifies a token whose kid names no key (a kid
        # is only a hint); without a kid, two keys could: ambiguous
        tok = make_token(unnamed, m.claims(), kid=False,
                         header={"kid": "hint"})
        assert n.request("GET", "/mx/x", bearer(tok)).status == 200
        tok = make_token(unnamed, m.claims(), kid=False)
        assert n.request("GET", "/mx/x", bearer(tok)).status == 401
        time.sleep(1.1)                 # past the minimum refetch interval
        new = Key("RSA", "m-2")
        with m.lock:
            m.keys = m.keys + [new]
        before = stats(m)["fetches"]
        r = n.request("GET", "/mx/x", bearer(make_token(new, m.claims())))
        assert r.status == 401
        assert r.header("X-T-Reason") == "token_unknown_kid"
        assert eventually(lambda: n.request("GET", "/mx/x", bearer(
            make_token(new, m.claims()))).status == 200, timeout=4)
        assert stats(m)["fetches"] == before + 1
    finally:
        m.stop()


def test_compat_oauth2_provider_jwt(gw, whisk, idp):
    assert eventually(lambda: gw.request(
        "GET", "/compat/hello", bearer(idp.token("ec-1"))).status == 200)
    calls = whisk.calls()
    r = gw.request("GET", "/compat/hello", [])
    assert r.status == 401 and r.header("X-T-Reason") == "token_missing"
    r = gw.request("GET", "/compat/hello",
                   bearer(idp.token("ec-1", aud="x")))
    assert r.status == 401 and r.header("X-T-Reason") == "token_audience"
    assert whisk.calls() == calls


def test_scheme_leeway_wins_over_the_provider(gw, whisk, idp):
    """apigw_oauth2_provider's leeway=300 is for schemes that set none: a
    token expired 200 s ago passes there, not where the scheme says 0."""
    old = int(time.time()) - 200
    assert eventually(lambda: gw.request(
        "GET", "/compat/hello", bearer(idp.token("ec-1", exp=old))
    ).status == 200)
    r = gw.request("GET", "/lw/hello", bearer(idp.token("ec-1", exp=old)))
    assert r.status == 401 and r.header("X-T-Reason") == "token_expired", r
    assert gw.request("GET", "/lw/hello",
                      bearer(idp.token("ec-1"))).status == 200


def test_default_provider_introspection(gw, whisk, idp):
    idp.tokens["dflt-1"] = {"active": True, "sub": "svc"}
    assert gw.request("GET", "/dflt/x", bearer("dflt-1")).status == 200
    assert gw.request("GET", "/dflt/x", bearer("nope")).status == 401


def test_keys_from_a_body_that_ends_with_the_connection(nginx_factory,
                                                         whisk, tmp_path):
    # HTTP/1.1 allows a response without Content-Length or chunks: its
    # body ends when the server closes the connection
    i = Idp()
    i.close_delimited = True
    try:
        s = tmp_path / "jwks.json"
        s.write_text(json.dumps(spec(whisk, i, harness.free_port())))
        n = nginx_factory(gateway("apigw_spec %s;" % s)).start()
        assert eventually(lambda: all_ok(n, "/j/remote", i.token, times=3))
        assert stats(i)["fetches"] >= 1
    finally:
        i.stop()
