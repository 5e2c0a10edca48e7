"""Credentials at the edge: API keys (header, query, cookie), client id and
secret, JWT bearer tokens (RS/PS/ES/EdDSA/HS) with the attack set, OR/AND
requirements, scopes, identity headers.  Every rejection is checked to
leave the backend uncalled."""

import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import time

import pytest

import harness
from apigw_checks import assert_error, gateway, header_values, last_raw
from idp import Idp, Key, b64u, make_token


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


KEYS = """# test keys
key %s id=k1 consumer=alice-app prefix=k-go
key %s id=k2 consumer=bob revoked
key %s id=k3 consumer=carol scope=api:/other
key %s id=k4 consumer=dave scope=operation:/auth#subOp
key %s id=k5 consumer=erin scope=api:/auth
key %s id=k6 consumer=fay scope=operation:/auth#GET%%20/noid
client app-1 %s consumer=app-one
""" % (sha("k-good"), sha("k-revoked"), sha("k-other"), sha("k-op"),
       sha("k-api"), sha("k-noid"), sha("s3cret"))

HS_SECRET = b"0123456789abcdef0123456789abcdef-hs"


def spec(whisk, idp, jwks_file, secret_file):
    sec = {
        "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        "qkey": {"type": "apiKey", "in": "query", "name": "api_key"},
        "ckey": {"type": "apiKey", "in": "cookie", "name": "apikey"},
        "jwt": {"type": "http", "scheme": "bearer", "x-apigw-jwt": {
            "issuer": idp.issuer, "audiences": ["apigw-tests"],
            "jwks_file": jwks_file}},
        "hs": {"type": "http", "scheme": "bearer", "x-apigw-jwt": {
            "issuer": idp.issuer, "algorithms": ["HS256"],
            "secret_file": secret_file}},
        "basic": {"type": "http", "scheme": "basic"},
        "jwtc": {"type": "http", "scheme": "bearer", "x-apigw-jwt": {
            "issuer": idp.issuer, "audiences": ["apigw-tests"],
            "jwks_file": jwks_file, "required_claims": ["email"]}},
    }

    def op(oid, security=None):
        o = {"operationId": oid, "responses": {"200": {"description": "ok"}}}
        if security is not None:
            o["security"] = security
        return {"get": o}

    return {
        "openapi": "3.0.3",
        "info": {"title": "auth", "version": "1"},
        "servers": [{"url": "/auth"}],
        "x-apigw-backend": {"url": whisk.url + "/raw/auth"},
        "security": [{"key": []}],
        "components": {"securitySchemes": sec},
        "paths": {
            "/open": op("open", []),
            "/root": op("root"),
            "/key": op("keyOp", [{"key": []}]),
            "/qkey": op("qkeyOp", [{"qkey": []}]),
            "/ckey": op("ckeyOp", [{"ckey": []}]),
            "/sub": op("subOp", [{"key": []}]),
            "/noid": {"get": {"security": [{"key": []}],
                              "responses": {"200": {"description": "ok"}}}},
            "/jwt": op("jwtOp", [{"jwt": []}]),
            "/read": op("readOp", [{"jwt": ["read"]}]),
            "/admin": op("adminOp", [{"jwt": ["admin"]}]),
            "/either": op("eitherOp", [{"key": []}, {"jwt": []}]),
            "/rw": op("rwOp", [{"jwt": ["read", "admin"]}]),
            "/both": op("bothOp", [{"key": [], "jwt": []}]),
            "/keyq": op("keyqOp", [{"key": [], "qkey": []}]),
            "/hs": op("hsOp", [{"hs": []}]),
            "/basic": op("basicOp", [{"basic": []}]),
            "/basicorkey": op("basicOrKeyOp", [{"basic": []}, {"key": []}]),
            "/claim": op("claimOp", [{"jwtc": []}]),
            "/keyorclaim": op("keyOrClaimOp", [{"key": []}, {"jwtc": []}]),
            "/undef": op("undefOp", [{"nope": []}]),
            # nobody listens on port 1: a 502, logged with the backend URI
            "/qkeydown": {"get": dict(op("qkeyDown", [{"qkey": []}])["get"],
                                      **{"x-apigw-backend": {
                                          "url": "http://127.0.0.1:1/d"}})},
        },
    }


COMPAT = {
    "swagger": "2.0",
    "info": {"title": "compat", "version": "1"},
    "basePath": "/compat",
    "securityDefinitions": {
        "client_id": {"type": "apiKey", "in": "header",
                      "name": "X-Client-ID"},
        "client_secret": {"type": "apiKey", "in": "header",
                          "name": "X-Client-Secret"},
    },
    "x-gateway-configuration": {"assembly": {"execute": [{"invoke": {
        "target-url": "WHISK/raw/compat", "verb": "keep"}}]}},
    "paths": {"/hello": {"get": {"operationId": "hello",
                                 "responses": {"200": {"description": "ok"}}}}},
}


@pytest.fixture(scope="module")
def idp():
    i = Idp()
    yield i
    i.stop()


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, idp, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    jwks = tmp / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks()))
    secret = tmp / "hs.secret"
    secret.write_bytes(HS_SECRET + b"\n")
    keys = tmp / "keys.txt"
    keys.write_text(KEYS)
    s = tmp / "auth.json"
    s.write_text(json.dumps(spec(whisk, idp, str(jwks), str(secret))))
    c = tmp / "compat.json"
    c.write_text(json.dumps(COMPAT).replace("WHISK", whisk.url))
    # the secret in the query, the id in a header: each where its
    # definition says
    c2 = tmp / "compat2.json"
    c2.write_text(json.dumps(COMPAT).replace("WHISK", whisk.url)
                  .replace('"/compat"', '"/compat2"')
                  .replace('"in": "header", "name": "X-Client-Secret"',
                           '"in": "query", "name": "csec"'))
    # a second API behind the same IdP: its schemes are others
    s2 = tmp / "auth2.json"
    doc = spec(whisk, idp, str(jwks), str(secret))
    doc["servers"] = [{"url": "/auth2"}]
    s2.write_text(json.dumps(doc))
    return module_nginx_factory(gateway(
        "apigw_spec %s; apigw_spec %s; apigw_spec %s; apigw_spec %s;"
        % (s, c, c2, s2),
        extra_http="apigw_keys_file %s;" % keys,
        # headers with "_" reach the backend: the spoofing tests need them
        extra_server="large_client_header_buffers 4 64k;"
                     "underscores_in_headers on;",
        extra_location="add_header X-T-Reason $apigw_reason always;"
                       "add_header X-T-Consumer $apigw_consumer always;"
                       "add_header X-T-Cache $apigw_token_cache always;"
    )).start()


@pytest.fixture
def strip_gw(nginx_factory, whisk, idp, tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks()))
    secret = tmp_path / "hs.secret"
    secret.write_bytes(HS_SECRET)
    keys = tmp_path / "keys.txt"
    keys.write_text(KEYS)
    s = tmp_path / "auth.json"
    s.write_text(json.dumps(spec(whisk, idp, str(jwks), str(secret))))
    return nginx_factory(gateway(
        "apigw_spec %s; apigw_strip_credentials on;"
        "apigw_identity_header consumer X-Consumer;"
        "apigw_identity_header claim:email X-Email;" % s,
        extra_http="apigw_keys_file %s;" % keys)).start()


def rejected(gw, whisk, target, headers, status, reason):
    before = whisk.calls()
    r = gw.request("GET", target, headers)
    assert_error(r, status, "Error: Unauthorized" if status == 401
                 else "Error: Forbidden.")
    assert r.header("X-T-Reason") == reason, r
    assert whisk.calls() == before, "the backend was called"
    return r


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


# ---- API keys ----

def test_open_operation_needs_nothing(gw, whisk):
    assert gw.request("GET", "/auth/open").status == 200


def test_api_key_in_header(gw, whisk):
    r = gw.request("GET", "/auth/key", [("X-Api-Key", "k-good")])
    assert r.status == 200, r
    assert r.header("X-T-Consumer") == "alice-app"
    last = last_raw(whisk)
    assert header_values(last, "X-Apigw-Consumer") == ["alice-app"]
    # forwarded unless apigw_strip_credentials on
    assert header_values(last, "X-Api-Key") == ["k-good"]


def test_root_security_is_inherited(gw, whisk):
    rejected(gw, whisk, "/auth/root", [], 401, "key_missing")
    assert gw.request("GET", "/auth/root",
                      [("X-Api-Key", "k-good")]).status == 200


def test_api_key_missing(gw, whisk):
    r = rejected(gw, whisk, "/auth/key", [], 401, "key_missing")
    assert r.header("WWW-Authenticate") == 'ApiKey name="X-Api-Key", ' \
                                           'in="header"'


def test_api_key_unknown_and_revoked(gw, whisk):
    rejected(gw, whisk, "/auth/key", [("X-Api-Key", "k-bad")], 401,
             "key_invalid")
    rejected(gw, whisk, "/auth/key", [("X-Api-Key", "k-revoked")], 401,
             "key_revoked")
    # the key's hash is not the key
    rejected(gw, whisk, "/auth/key", [("X-Api-Key", sha("k-good"))], 401,
             "key_invalid")


def test_duplicate_credentials_are_refused(gw, whisk, idp):
    rejected(gw, whisk, "/auth/key",
             [("X-Api-Key", "k-good"), ("X-Api-Key", "k-bad")], 401,
             "credential_duplicate")
    # nginx itself refuses a second Authorization header
    calls = whisk.calls()
    r = gw.request("GET", "/auth/jwt",
                   bearer(idp.token()) + bearer(idp.token()))
    assert_error(r, 400, "Error: Bad request.")
    assert whisk.calls() == calls


def test_api_key_in_query(gw, whisk):
    assert gw.request("GET", "/auth/qkey?api_key=k-good&x=1").status == 200
    assert last_raw(whisk)["query"] in ("api_key=k-good&x=1",) \
        or "api_key=k-good" in json.dumps(last_raw(whisk))
    assert gw.request("GET", "/auth/qkey?api_key=k%2Dgood").status == 200
    rejected(gw, whisk, "/auth/qkey?api_key=nope", [], 401, "key_invalid")
    rejected(gw, whisk, "/auth/qkey", [("X-Api-Key", "k-good")], 401,
             "key_missing")


def test_api_key_in_cookie(gw, whisk):
    assert gw.request("GET", "/auth/ckey",
                      [("Cookie", "a=b; apikey=k-good; c=d")]).status == 200
    rejected(gw, whisk, "/auth/ckey", [("Cookie", "apikey=k-bad")], 401,
             "key_invalid")


def test_client_secret_where_its_definition_says(gw, whisk):
    r = gw.request("GET", "/compat2/hello?csec=s3cret",
                   [("X-Client-ID", "app-1")])
    assert r.status == 200, r
    r = rejected(gw, whisk, "/compat2/hello", [("X-Client-ID", "app-1"),
                 ("X-Client-Secret", "s3cret")], 401,
                 "client_secret_missing")
    assert r.header("WWW-Authenticate") == (
        'ClientSecret id="X-Client-ID", secret="csec", in="header", '
        'secret_in="query"')


def test_query_and_cookie_names_are_exact(gw, whisk):
    # what is not the credential's name is not the credential (and so is
    # not stripped either): case differs, or "," is not a cookie separator
    rejected(gw, whisk, "/auth/qkey?API_KEY=k-good", [], 401, "key_missing")
    rejected(gw, whisk, "/auth/ckey", [("Cookie", "a=1; APIKEY=k-good")],
             401, "key_missing")
    rejected(gw, whisk, "/auth/ckey", [("Cookie", "a=1, apikey=k-good")],
             401, "key_missing")
    # encoded names, blanks and quotes as RFC 3986 and 6265 allow
    assert gw.request("GET", "/auth/qkey?api%5Fkey=k-good").status == 200
    assert gw.request("GET", "/auth/ckey",
                      [("Cookie", "apikey = k-good ;b=2")]).status == 200
    assert gw.request("GET", "/auth/ckey",
                      [("Cookie", 'apikey="k-good"')]).status == 200
    # two copies: which one would the backend read? neither
    rejected(gw, whisk, "/auth/qkey?api_key=k-good&api_key=x", [], 401,
             "credential_duplicate")
    rejected(gw, whisk, "/auth/ckey",
             [("Cookie", "apikey=k-good"), ("Cookie", "apikey=evil")], 401,
             "credential_duplicate")
    rejected(gw, whisk, "/auth/ckey", [("Cookie", "apikey=k-good; apikey=e")],
             401, "credential_duplicate")


def test_query_secret_not_in_the_log(gw, whisk):
    rejected(gw, whisk, "/auth/qkey?x=1&api_key=almost-the-real-key-123", [],
             401, "key_invalid")
    rejected(gw, whisk, "/auth/qkey?api_key=dup-secret-1&api_key=dup-2", [],
             401, "credential_duplicate")
    # checks that stop before the query credential: an AND whose header
    # key is missing or wrong, a compat client id missing
    rejected(gw, whisk, "/auth/keyq?api_key=and-secret-1", [], 401,
             "key_missing")
    rejected(gw, whisk, "/auth/keyq?api_key=and-secret-2",
             [("X-Api-Key", "nope")], 401, "key_invalid")
    rejected(gw, whisk, "/compat2/hello?csec=cs-secret-3", [], 401,
             "client_id_missing")
    # answered before the operation's credentials are looked at: a 405, a
    # 404 under the API (any of its query credentials hidden), a 404 that
    # no API claims (every query value hidden)
    assert gw.request("DELETE", "/auth/qkey?api_key=early-secret-4&x=1"
                      ).status == 405
    assert gw.request("GET", "/auth/nope?api_key=early-secret-5"
                      ).status == 404
    assert gw.request("GET", "/nowhere?token=early-secret-6&flag&e="
                      ).status == 404
    # the access log line is written after the response went out
    deadline = time.time() + 10
    while True:
        log = gw.log()
        with open(os.path.join(gw.dir, "access.log"), errors="replace") as f:
            log += f.read()
        if "GET /nowhere?" in log or time.time() > deadline:
            break
        time.sleep(0.05)
    for secret in ("almost-the-real-key-123", "dup-secret-1", "and-secret-1",
                   "and-secret-2", "cs-secret-3", "early-secret-4",
                   "early-secret-5", "early-secret-6"):
        assert secret not in log, secret
    assert "DELETE /auth/qkey?api_key=***&x=1 HTTP/1.1" in log
    assert "GET /nowhere?token=***&flag&e= HTTP/1.1" in log
    # the request line is still there, with the value hidden
    assert "/auth/qkey?x=1&api_key=*** HTTP/1.1" in log
    assert "/auth/keyq?api_key=*** HTTP/1.1" in log


def test_query_key_not_in_the_upstream_log(gw, whisk):
    # a good key, a failing backend: the error log names the backend's URI
    r = gw.request("GET", "/auth/qkeydown?a=1&api_key=k-good&b=2")
    assert r.status == 502, r
    log = gw.log()
    assert 'upstream: "http://127.0.0.1:1/d?a=1&api_key=***&b=2"' in log, log
    assert "k-good" not in log


def test_subscriptions(gw, whisk):
    # scoped to another API: known, but not subscribed
    rejected(gw, whisk, "/auth/key", [("X-Api-Key", "k-other")], 403,
             "not_subscribed")
    # scoped to this API
    assert gw.request("GET", "/auth/key",
                      [("X-Api-Key", "k-api")]).status == 200
    # scoped to one operation
    assert gw.request("GET", "/auth/sub",
                      [("X-Api-Key", "k-op")]).status == 200
    rejected(gw, whisk, "/auth/key", [("X-Api-Key", "k-op")], 403,
             "not_subscribed")
    # ... one without an operationId: METHOD%20/path (the file is split
    # on blanks)
    assert gw.request("GET", "/auth/noid",
                      [("X-Api-Key", "k-noid")]).status == 200
    rejected(gw, whisk, "/auth/sub", [("X-Api-Key", "k-noid")], 403,
             "not_subscribed")


def test_client_id_and_secret(gw, whisk):
    ok = [("X-Client-ID", "app-1"), ("X-Client-Secret", "s3cret")]
    r = gw.request("GET", "/compat/hello", ok)
    assert r.status == 200, r
    assert r.header("X-T-Consumer") == "app-one"
    rejected(gw, whisk, "/compat/hello", ok[:1], 401, "client_secret_missing")
    rejected(gw, whisk, "/compat/hello", ok[1:], 401, "client_id_missing")
    rejected(gw, whisk, "/compat/hello",
             [("X-Client-ID", "app-1"), ("X-Client-Secret", "wrong")], 401,
             "client_invalid")
    rejected(gw, whisk, "/compat/hello",
             [("X-Client-ID", "app-2"), ("X-Client-Secret", "s3cret")], 401,
             "client_invalid")


def test_unsupported_and_undefined_schemes_fail_closed(gw, whisk):
    rejected(gw, whisk, "/auth/basic",
             [("Authorization", "Basic YTpi")], 401, "scheme_unsupported")
    rejected(gw, whisk, "/auth/undef", [("X-Api-Key", "k-good")], 401,
             "scheme_undefined")


# ---- JWT ----

@pytest.mark.parametrize("kid,alg", [
    ("rsa-1", "RS256"), ("rsa-1", "RS384"), ("rsa-1", "RS512"),
    ("rsa-1", "PS256"), ("rsa-1", "PS512"), ("ec-1", "ES256"),
    ("ed-1", "EdDSA"),
])
def test_jwt_algorithms(gw, whisk, idp, kid, alg):
    r = gw.request("GET", "/auth/jwt", bearer(idp.token(kid, alg=alg)))
    assert r.status == 200, r
    assert r.header("X-T-Consumer") == "alice"


def test_jwt_identity_headers_replace_clients(gw, whisk, idp):
    r = gw.request("GET", "/auth/jwt", bearer(idp.token(sub="bob")) + [
        ("X-Apigw-Subject", "mallory"), ("x-apigw-scopes", "admin"),
        ("X-Apigw-Consumer", "mallory")])
    assert r.status == 200
    last = last_raw(whisk)
    assert header_values(last, "X-Apigw-Subject") == ["bob"]
    assert header_values(last, "X-Apigw-Scopes") == ["read write"]
    assert header_values(last, "X-Apigw-Consumer") == ["bob"]
    # with underscores_in_headers on, "_" spellings go too (many backends
    # read "-" and "_" alike); other headers with "_" stay
    r = gw.request("GET", "/auth/jwt", bearer(idp.token(sub="bob")) + [
        ("X_Apigw_Subject", "mallory"), ("x-apigw_scopes", "admin"),
        ("X_Other", "kept")])
    assert r.status == 200
    last = last_raw(whisk)
    assert header_values(last, "X_Apigw_Subject") == []
    assert header_values(last, "x-apigw_scopes") == []
    assert header_values(last, "X-Apigw-Subject") == ["bob"]
    assert header_values(last, "X_Other") == ["kept"]


def test_identity_headers_removed_on_open_operations(gw, whisk):
    r = gw.request("GET", "/auth/open", [("X-Apigw-Subject", "mallory"),
                                         ("X_APIGW_SUBJECT", "mallory")])
    assert r.status == 200
    assert header_values(last_raw(whisk), "X-Apigw-Subject") == []
    assert header_values(last_raw(whisk), "X_APIGW_SUBJECT") == []


def test_jwt_missing(gw, whisk):
    r = rejected(gw, whisk, "/auth/jwt", [], 401, "token_missing")
    assert r.header("WWW-Authenticate") == "Bearer"
    rejected(gw, whisk, "/auth/jwt", [("Authorization", "Basic YTpi")], 401,
             "token_missing")


def test_scopes(gw, whisk, idp):
    assert gw.request("GET", "/auth/read",
                      bearer(idp.token())).status == 200
    r = rejected(gw, whisk, "/auth/admin", bearer(idp.token()), 403,
                 "insufficient_scope")
    assert r.header("WWW-Authenticate") == \
        'Bearer error="insufficient_scope", scope="admin"'
    # every scope the operation needs (RFC 6750 3)
    r = rejected(gw, whisk, "/auth/rw", bearer(idp.token()), 403,
                 "insufficient_scope")
    assert r.header("WWW-Authenticate") == \
        'Bearer error="insufficient_scope", scope="read admin"'
    # scp as an array
    tok = idp.token(scope=None, scp=["admin", "x"])
    assert gw.request("GET", "/auth/admin", bearer(tok)).status == 200
    rejected(gw, whisk, "/auth/read", bearer(tok), 403, "insufficient_scope")


def test_or_and(gw, whisk, idp):
    key = [("X-Api-Key", "k-good")]
    tok = bearer(idp.token())
    assert gw.request("GET", "/auth/either", key).status == 200
    assert gw.request("GET", "/auth/either", tok).status == 200
    r = rejected(gw, whisk, "/auth/either", [], 401, "key_missing")
    assert sorted(r.header_all("WWW-Authenticate")) == \
        ['ApiKey name="X-Api-Key", in="header"', "Bearer"]
    assert gw.request("GET", "/auth/both", key + tok).status == 200
    r = gw.request("GET", "/auth/both", key + tok)
    assert r.header("X-T-Consumer") == "alice-app"
    # a token sent and refused says more than a key not sent
    bad = idp.token()[:-4] + "AAAA"
    r = rejected(gw, whisk, "/auth/either", bearer(bad), 401,
                 "token_signature")
    assert sorted(r.header_all("WWW-Authenticate")) == \
        ['ApiKey name="X-Api-Key", in="header"',
         'Bearer error="invalid_token"']
    rejected(gw, whisk, "/auth/both", key, 401, "token_missing")
    rejected(gw, whisk, "/auth/both", tok, 401, "key_missing")
    rejected(gw, whisk, "/auth/both",
             [("X-Api-Key", "k-bad")] + tok, 401, "key_invalid")
    # a token without a required claim was sent, and refused
    assert gw.request("GET", "/auth/claim",
                      bearer(idp.token(email="a@b.c"))).status == 200
    for path in ("/auth/claim", "/auth/keyorclaim"):
        r = rejected(gw, whisk, path, tok, 401, "token_claim_missing")
        assert 'Bearer error="invalid_token"' in r.header_all(
            "WWW-Authenticate")
    # a scheme apigw cannot check says nothing about what was sent
    r = rejected(gw, whisk, "/auth/basicorkey", [], 401, "key_missing")
    assert 'ApiKey name="X-Api-Key", in="header"' in r.header_all(
        "WWW-Authenticate")


def test_hs256_with_configured_secret(gw, whisk, idp):
    k = Key("HS", "hs", secret=HS_SECRET)
    tok = make_token(k, idp.claims(), alg="HS256", kid=False)
    assert gw.request("GET", "/auth/hs", bearer(tok)).status == 200
    bad = Key("HS", "hs", secret=b"x" * 40)
    rejected(gw, whisk, "/auth/hs",
             bearer(make_token(bad, idp.claims(), alg="HS256", kid=False)),
             401, "token_signature")
    # an RS token for the HS-only scheme
    rejected(gw, whisk, "/auth/hs", bearer(idp.token()), 401,
             "token_algorithm")


def test_hs256_with_kid(gw, whisk, idp):
    # many IdPs put a kid on HS tokens: with one secret it selects nothing
    k = Key("HS", "some-kid", secret=HS_SECRET)
    r = gw.request("GET", "/auth/hs",
                   bearer(make_token(k, idp.claims(), alg="HS256")))
    assert r.status == 200, r
    bad = Key("HS", "some-kid", secret=b"x" * 40)
    rejected(gw, whisk, "/auth/hs",
             bearer(make_token(bad, idp.claims(), alg="HS256")), 401,
             "token_signature")
    # the RSA public key as the HMAC secret, with and without its kid
    pub = Key("HS", "rsa-1", secret=idp.key("rsa-1").public_pem())
    rejected(gw, whisk, "/auth/hs",
             bearer(make_token(pub, idp.claims(), alg="HS256")), 401,
             "token_signature")
    rejected(gw, whisk, "/auth/jwt",
             bearer(make_token(pub, idp.claims(), alg="HS256")), 401,
             "token_algorithm")
    # a scheme without a secret refuses HS tokens, kid or not
    rejected(gw, whisk, "/auth/jwt",
             bearer(make_token(k, idp.claims(), alg="HS256")), 401,
             "token_algorithm")
    # an RS token with its kid for the HS-only scheme
    rejected(gw, whisk, "/auth/hs", bearer(idp.token()), 401,
             "token_algorithm")


# ---- the attack set: each 401, no backend call ----

def _attacks(idp):
    now = int(time.time())
    rsa = idp.key("rsa-1")
    ec1 = idp.key("ec-1")
    good = idp.token()
    h, p, s = good.split(".")
    pub = Key("HS", "rsa-1", secret=rsa.public_pem())
    dup = b64u('{"iss":"%s","aud":"apigw-tests","sub":"alice","sub":"root",'
               '"exp":%d}' % (idp.issuer, now + 300))
    big = idp.claims(pad="x" * 16500)
    return [
        ("alg_none", make_token(rsa, idp.claims(), alg="none"),
         "token_algorithm"),
        ("alg_none_signed", make_token(rsa, idp.claims(), alg="none") + "AA",
         "token_algorithm"),
        ("hs256_with_rsa_public_key",
         make_token(pub, idp.claims(), alg="HS256"), "token_algorithm"),
        ("hs256_no_kid", make_token(pub, idp.claims(), alg="HS256",
                                    kid=False), "token_algorithm"),
        ("alg_key_mismatch", make_token(ec1, idp.claims(), alg="ES384"),
         "token_algorithm"),
        ("rs_on_ec_key", make_token(rsa, idp.claims(), alg="RS256",
                                    header={"kid": "ec-1"}),
         "token_algorithm"),
        ("kid_path", make_token(rsa, idp.claims(),
                                header={"kid": "../../../etc/passwd"}),
         "token_unknown_kid"),
        ("kid_sql", make_token(rsa, idp.claims(),
                               header={"kid": "x' OR '1'='1"}),
         "token_unknown_kid"),
        ("jku", make_token(rsa, idp.claims(),
                           header={"kid": "evil", "jku": "http://evil/"}),
         "token_unknown_kid"),
        ("expired", idp.token(exp=now - 100, iat=now - 400),
         "token_expired"),
        ("no_exp", idp.token(exp=None), "token_expired"),
        ("exp_string", idp.token(exp="never"), "token_expired"),
        ("nbf_future", idp.token(nbf=now + 300), "token_not_yet_valid"),
        ("iat_future", idp.token(iat=now + 300), "token_not_yet_valid"),
        ("wrong_iss", idp.token(iss="http://evil/"), "token_issuer"),
        ("no_iss", idp.token(iss=None), "token_issuer"),
        ("wrong_aud", idp.token(aud="other"), "token_audience"),
        ("no_aud", idp.token(aud=None), "token_audience"),
        ("tampered_payload",
         "%s.%s.%s" % (h, b64u(json.dumps(idp.claims(sub="root"))), s),
         "token_signature"),
        ("tampered_signature",
         "%s.%s.%s" % (h, p, s[:-6] + ("AAAAAA" if s[-6:] != "AAAAAA"
                                      else "BBBBBB")),
         "token_signature"),
        ("es256_der", make_token(ec1, idp.claims(), alg="ES256", der=True),
         "token_signature"),
        ("truncated", good[:-10], "token_signature"),
        ("two_parts", h + "." + p, "token_malformed"),
        ("four_parts", good + ".x", "token_malformed"),
        ("oversized", make_token(rsa, big), "token_too_large"),
        ("padding", "%s.%s.%s" % (h + "=", p, s), "token_malformed"),
        ("plus_slash", "%s.%s.%s" % (h, p, s.replace("-", "+")
                                     .replace("_", "/") + "+/"),
         "token_malformed"),
        ("dup_keys", make_token(rsa, {}, raw_payload=dup),
         "token_malformed"),
        ("dup_header_keys",
         make_token(rsa, idp.claims(),
                    raw_header=b64u('{"alg":"none","alg":"RS256",'
                                    '"kid":"rsa-1"}')),
         "token_malformed"),
        ("crit", make_token(rsa, idp.claims(), header={"crit": ["exp"]}),
         "token_algorithm"),
        ("not_json", "%s.%s.%s" % (b64u("nope"), p, s), "token_malformed"),
        ("garbage", "a.b.c", "token_malformed"),
    ]


@pytest.mark.parametrize("name", [
    "alg_none", "alg_none_signed", "hs256_with_rsa_public_key",
    "hs256_no_kid", "alg_key_mismatch", "rs_on_ec_key", "kid_path",
    "kid_sql", "jku", "expired", "no_exp", "exp_string", "nbf_future",
    "iat_future", "wrong_iss", "no_iss", "wrong_aud", "no_aud",
    "tampered_payload", "tampered_signature", "es256_der", "truncated",
    "two_parts", "four_parts", "oversized", "padding", "plus_slash",
    "dup_keys", "dup_header_keys", "crit", "not_json", "garbage"])
def test_jwt_attack(gw, whisk, idp, name):
    tok, reason = {a[0]: (a[1], a[2]) for a in _attacks(idp)}[name]
    r = rejected(gw, whisk, "/auth/jwt", bearer(tok), 401, reason)
    assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    sig = tok.split(".")[-1]
    assert len(sig) < 16 or sig not in gw.log()


def test_leeway(gw, whisk, idp):
    now = int(time.time())
    # within the default 30 s
    assert gw.request("GET", "/auth/jwt", bearer(
        idp.token(exp=now - 10))).status == 200
    assert gw.request("GET", "/auth/jwt", bearer(
        idp.token(nbf=now + 10))).status == 200


def _later(d):
    return lambda: int(time.time()) + d


@pytest.mark.parametrize("claims,status,reason", [
    # a NumericDate may be non-integer (RFC 7519 2)
    ({"exp": _later(300.5)}, 200, None),
    ({"exp": 1e300}, 200, None),
    ({"exp": -1}, 401, "token_expired"),
    ({"exp": -1e300}, 401, "token_expired"),
    ({"exp": True}, 401, "token_expired"),
    ({"exp": [4000000000]}, 401, "token_expired"),
    # beyond a double, beyond a 64-bit integer: not JSON apigw can read
    ({"exp": "RAW 1e400"}, 401, "token_malformed"),
    ({"exp": "RAW 100000000000000000000000"}, 401, "token_malformed"),
    ({"nbf": 1.5, "iat": 2.5}, 200, None),
    ({"nbf": None, "iat": None}, 200, None),
    ({"nbf": "0"}, 401, "token_malformed"),
    ({"nbf": 1e300}, 401, "token_not_yet_valid"),
    ({"iat": "now"}, 401, "token_malformed"),
    ({"iat": {}}, 401, "token_malformed"),
    ({"iat": 1e300}, 401, "token_not_yet_valid"),
    ({"aud": ["x", "apigw-tests", "y"]}, 200, None),
    ({"aud": ["x", 7, "apigw-tests"]}, 200, None),
    ({"aud": []}, 401, "token_audience"),
    ({"aud": 7}, 401, "token_audience"),
    ({"aud": ["apigw-tests-2", "apigw"]}, 401, "token_audience"),
    ({"aud": [["apigw-tests"]]}, 401, "token_audience"),
    ({"aud": {"apigw-tests": 1}}, 401, "token_audience"),
])
def test_jwt_claim_types(gw, whisk, idp, claims, status, reason):
    c = idp.claims(**{k: v() if callable(v) else v
                      for k, v in claims.items()})
    raw = None
    for k, v in claims.items():
        if isinstance(v, str) and v.startswith("RAW "):
            c[k] = "@@"
            raw = b64u(json.dumps(c).replace('"@@"', v[4:]))
    tok = make_token(idp.key("rsa-1"), c, raw_payload=raw)
    if status == 200:
        r = gw.request("GET", "/auth/jwt", bearer(tok))
        assert r.status == 200, r
    else:
        r = rejected(gw, whisk, "/auth/jwt", bearer(tok), status, reason)
        assert r.header("WWW-Authenticate") == \
            'Bearer error="invalid_token"'


def test_scope_separators(gw, whisk, idp):
    # runs of spaces separate scopes
    tok = bearer(idp.token(scope="  read   admin "))
    assert gw.request("GET", "/auth/rw", tok).status == 200
    # a tab does not (RFC 6749 3.3: SP only): one scope matching nothing,
    # and not forwarded (a backend splitting on any blank would see admin)
    tok = bearer(idp.token(scope="read\tadmin"))
    rejected(gw, whisk, "/auth/admin", tok, 403, "insufficient_scope")
    rejected(gw, whisk, "/auth/read", tok, 403, "insufficient_scope")
    assert gw.request("GET", "/auth/jwt", tok).status == 200
    assert header_values(last_raw(whisk), "X-Apigw-Scopes") == []
    # scp as a space-separated string (Azure AD), as an array (Okta)
    tok = bearer(idp.token(scope=None, scp="x  admin"))
    assert gw.request("GET", "/auth/admin", tok).status == 200
    rejected(gw, whisk, "/auth/read", tok, 403, "insufficient_scope")
    # an array element with a space is not two scopes
    tok = bearer(idp.token(scope=None, scp=["read admin"]))
    rejected(gw, whisk, "/auth/admin", tok, 403, "insufficient_scope")
    # scope wins over scp
    tok = bearer(idp.token(scope="read", scp=["admin"]))
    rejected(gw, whisk, "/auth/admin", tok, 403, "insufficient_scope")
    # scope as an array, as some IdPs send it
    tok = bearer(idp.token(scope=["x", "admin"], scp=["read"]))
    assert gw.request("GET", "/auth/admin", tok).status == 200
    rejected(gw, whisk, "/auth/read", tok, 403, "insufficient_scope")


def test_unknown_kid_flood(gw, whisk, idp):
    before = whisk.calls()
    for i in range(50):
        tok = make_token(idp.key("rsa-1"), idp.claims(),
                         header={"kid": "junk-%d" % i})
        assert gw.request("GET", "/auth/jwt", bearer(tok)).status == 401
    assert whisk.calls() == before


def test_cached_token_still_checks_scopes(gw, whisk, idp):
    tok = idp.token(scope="read")
    for _ in range(3):
        assert gw.request("GET", "/auth/read", bearer(tok)).status == 200
        rejected(gw, whisk, "/auth/admin", bearer(tok), 403,
                 "insufficient_scope")


def test_token_cache_per_scheme(gw, whisk, idp):
    """One token accepted by the schemes of two APIs (one IdP in front of
    both) is verified once for each and then served from the cache for
    each, in any order: the entries of one token do not hide each other."""
    tok = bearer(idp.token())
    seen = []
    for target in ("/auth/jwt", "/auth2/jwt") * 4:
        r = gw.request("GET", target, tok)
        assert r.status == 200
        seen.append(r.header("X-T-Cache"))
    assert seen == ["MISS", "MISS"] + ["HIT"] * 6
    # a refused token was verified, not cached; no token checked: empty
    r = gw.request("GET", "/auth/jwt", bearer(idp.token(aud="other")))
    assert r.status == 401 and r.header("X-T-Cache") == "MISS"
    r = gw.request("GET", "/auth/key", [("X-Api-Key", "k-good")])
    assert r.status == 200 and r.header("X-T-Cache") is None


def test_secrets_not_logged(gw, whisk, idp):
    gw.request("GET", "/auth/key", [("X-Api-Key", "k-bad-secret-value")])
    tok = idp.token(aud="other")
    gw.request("GET", "/auth/jwt", bearer(tok))
    log = gw.log()
    assert "k-bad-secret-value" not in log
    assert tok.split(".")[2] not in log


# ---- stripping and configured identity headers ----

def test_strip_credentials(strip_gw, whisk, idp):
    r = strip_gw.request("GET", "/auth/qkey?a=1&api_key=k-good&b=2")
    assert r.status == 200
    last = last_raw(whisk)
    assert "k-good" not in json.dumps(last)
    r = strip_gw.request("GET", "/auth/ckey",
                         [("Cookie", "a=1; apikey=k-good; b=2")])
    assert r.status == 200
    assert header_values(last_raw(whisk), "Cookie") == ["a=1; b=2"]
    r = strip_gw.request("GET", "/auth/ckey", [("Cookie", "apikey=k-good")])
    assert r.status == 200
    assert header_values(last_raw(whisk), "Cookie") == []
    # whatever spelling authenticated is what is removed
    r = strip_gw.request("GET", "/auth/qkey?api%5Fkey=k-good&b=2")
    assert r.status == 200
    assert "k-good" not in json.dumps(last_raw(whisk))
    r = strip_gw.request("GET", "/auth/ckey",
                         [("Cookie", 'a=1;apikey = "k-good" ; b=2')])
    assert r.status == 200
    assert header_values(last_raw(whisk), "Cookie") == ["a=1; b=2"]
    r = strip_gw.request("GET", "/auth/both",
                         [("X-Api-Key", "k-good"), ("X-Consumer", "evil"),
                          ("X-Apigw-Subject", "root"),
                          ("X-Apigw-Consumer", "admin")]
                         + bearer(idp.token(email="a@example.com")))
    assert r.status == 200
    last = last_raw(whisk)
    assert header_values(last, "Authorization") == []
    assert header_values(last, "X-Api-Key") == []
    assert header_values(last, "X-Consumer") == ["alice-app"]
    assert header_values(last, "X-Email") == ["a@example.com"]
    # the defaults' names are not sent, and a client's never pass
    assert header_values(last, "X-Apigw-Subject") == []
    assert header_values(last, "X-Apigw-Consumer") == []
    r = strip_gw.request("GET", "/auth/open", [("X-Apigw-Scopes", "admin")])
    assert r.status == 200
    assert header_values(last_raw(whisk), "X-Apigw-Scopes") == []


def test_openid_connect_own_keys_need_an_issuer(nginx_factory, whisk, idp,
                                                tmp_path):
    # the discovered issuer is only used with the discovered keys: an
    # openIdConnect scheme with its own keys and no issuer checked no iss
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks()))
    secret = tmp_path / "hs.secret"
    secret.write_bytes(HS_SECRET)
    doc = spec(whisk, idp, str(jwks), str(secret))
    sec = doc["components"]["securitySchemes"]
    sec["jwt"] = {"type": "openIdConnect", "openIdConnectUrl":
                  idp.url + "/realms/test/.well-known/openid-configuration",
                  "x-apigw-jwt": {"jwks_file": str(jwks)}}
    s = tmp_path / "auth.json"
    s.write_text(json.dumps(doc))
    rc, out = nginx_factory(gateway("apigw_spec %s;" % s)).test()
    assert rc != 0
    assert "/components/securitySchemes/jwt/x-apigw-jwt" in out
    assert "needs an issuer" in out
    # two key sources: only one was used
    sec["jwt"] = {"type": "http", "scheme": "bearer", "x-apigw-jwt": {
        "issuer": idp.issuer, "jwks_file": str(jwks),
        "secret_file": str(secret)}}
    s.write_text(json.dumps(doc))
    rc, out = nginx_factory(gateway("apigw_spec %s;" % s)).test()
    assert rc != 0
    assert "exclude each other" in out


def test_bad_keys_file_fails_config(nginx_factory, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("key nothex id=a\nclient x\nfoo bar\n")
    n = nginx_factory(gateway("", extra_http="apigw_keys_file %s;" % keys))
    rc, out = n.test()
    assert rc != 0
    assert "line 1" in out and "line 2" in out and "line 3" in out


def test_hash_key_cli():
    import subprocess
    out = subprocess.run([os.path.join(harness.BUILD, "apigw"), "hash-key"],
                         input="my-key\n", capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == sha("my-key")


def test_keys_file_changes_apply_without_reload(nginx_factory, whisk, idp,
                                                tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks()))
    secret = tmp_path / "hs.secret"
    secret.write_bytes(HS_SECRET)
    # the workers (user nobody under a root master) watch the file
    wdir = tempfile.mkdtemp(prefix="apigw-keys-")
    os.chmod(wdir, 0o755)
    keys = pathlib.Path(wdir) / "keys.txt"
    keys.write_text(KEYS)
    os.chmod(keys, 0o644)
    s = tmp_path / "auth.json"
    s.write_text(json.dumps(spec(whisk, idp, str(jwks), str(secret))))
    n = nginx_factory(gateway("apigw_spec %s;" % s,
                              extra_http="apigw_keys_file %s;" % keys),
                      workers=2).start()

    def status(key):
        return n.request("GET", "/auth/key", [("X-Api-Key", key)]).status

    def eventually(f, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if f():
                return True
            time.sleep(0.05)
        return False

    assert status("k-good") == 200 and status("k-new") == 401
    # revoke one key, add another: no reload
    tmp = pathlib.Path(wdir) / "keys.tmp"
    tmp.write_text(KEYS.replace("consumer=alice-app", "consumer=alice-app "
                                "revoked") + "key %s id=k9\n" % sha("k-new"))
    os.chmod(tmp, 0o644)
    os.rename(tmp, keys)
    t0 = time.time()
    assert eventually(lambda: all(status("k-good") == 401
                                  for _ in range(6)))
    # workers look once a second
    assert time.time() - t0 < 3.0
    assert eventually(lambda: all(status("k-new") == 200 for _ in range(6)))
    # the file was looked at and read in threads, gone since
    n.wait_single_threaded()
    # a broken file is not applied
    tmp.write_text("key nothex\n")
    os.chmod(tmp, 0o644)
    os.rename(tmp, keys)
    time.sleep(1.5)
    assert status("k-new") == 200 and status("k-good") == 401
    assert "not applied" in n.log()
    # a file the workers cannot look at any more: said once per worker,
    # the keys in use stay
    os.chmod(wdir, 0o700)
    time.sleep(2.5)
    assert status("k-new") == 200 and status("k-good") == 401
    assert 1 <= n.log().count("cannot be watched") <= 2, n.log()
    shutil.rmtree(wdir, ignore_errors=True)
