"""Opaque bearer tokens checked by RFC 7662 introspection at the local
identity provider: positive answers cached until exp, negative ones
briefly; the request waits for the answer without blocking the worker."""

import base64
import json
import time

import pytest

import harness
from apigw_checks import assert_error, gateway, header_values, last_raw
from idp import Idp


@pytest.fixture(scope="module")
def idp():
    i = Idp()
    yield i
    i.stop()


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, idp, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("introspect")
    secret = tmp / "client.secret"
    secret.write_text("gw-secret\n")
    odd = tmp / "odd.secret"
    odd.write_text("Ab+cd/ef%3D==\n")

    def op(oid, sec):
        return {"get": {"operationId": oid, "security": sec,
                        "responses": {"200": {"description": "ok"}}}}

    doc = {
        "openapi": "3.0.3",
        "info": {"title": "opaque", "version": "1"},
        "servers": [{"url": "/o"}],
        "x-apigw-backend": {"url": whisk.url + "/raw/opaque"},
        "components": {"securitySchemes": {
            "opaque": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "introspection_endpoint": idp.issuer + "/introspect",
                "client_id": "apigw", "client_secret_file": str(secret)}},
            "aud": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "introspection_endpoint": idp.issuer + "/introspect",
                "client_id": "apigw", "client_secret_file": str(secret),
                "issuer": "https://good.example/", "audiences": ["my-api"]}},
            "github": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "userinfo_endpoint": idp.issuer + "/userinfo"}},
            "claims": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "introspection_endpoint": idp.issuer + "/introspect",
                "client_id": "apigw", "client_secret_file": str(secret),
                "required_claims": ["email"]}},
            "ghlogin": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "userinfo_endpoint": idp.issuer + "/userinfo",
                "required_claims": ["login"]}},
            "ghmail": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "userinfo_endpoint": idp.issuer + "/userinfo",
                "required_claims": ["email"]}},
            "ghaud": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "userinfo_endpoint": idp.issuer + "/userinfo",
                "issuer": "https://good.example/", "audiences": ["my-api"]}},
            "odd": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "introspection_endpoint": idp.issuer + "/introspect",
                "client_id": "gw:client x", "client_secret_file": str(odd)}},
            "down": {"type": "oauth2", "flows": {}, "x-apigw-jwt": {
                "introspection_endpoint":
                    "http://127.0.0.1:%d/introspect" % harness.free_port()}},
        }},
        "paths": {
            "/read": op("read", [{"opaque": ["read"]}]),
            "/any": op("any", [{"opaque": []}]),
            "/aud": op("aud", [{"aud": []}]),
            "/down": op("down", [{"down": []}]),
            "/odd": op("odd", [{"odd": []}]),
            "/gh": op("gh", [{"github": []}]),
            "/claims": op("claims", [{"claims": []}]),
            "/ghlogin": op("ghlogin", [{"ghlogin": []}]),
            "/ghmail": op("ghmail", [{"ghmail": []}]),
            "/ghaud": op("ghaud", [{"ghaud": []}]),
        },
    }
    s = tmp / "opaque.json"
    s.write_text(json.dumps(doc))
    return module_nginx_factory(gateway(
        "apigw_spec %s;" % s,
        extra_location="add_header X-T-Reason $apigw_reason always;"
                       "add_header X-T-Consumer $apigw_consumer always;"
                       "add_header X-T-Cache $apigw_token_cache always;"
    )).start()


def stats(idp):
    return json.loads(harness.request(idp.port, "GET", "/_idp/stats").body)


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


def test_active_token_is_cached(gw, whisk, idp):
    idp.tokens["opaque-1"] = {"active": True, "scope": "read write",
                              "sub": "svc-1", "client_id": "c1",
                              "exp": int(time.time()) + 300}
    before = stats(idp)["introspections"]
    r = gw.request("GET", "/o/read", bearer("opaque-1"))
    assert r.status == 200, r
    assert r.header("X-T-Consumer") == "svc-1"
    # introspected for this request: not a hit, though read from the cache
    assert r.header("X-T-Cache") == "MISS"
    assert header_values(last_raw(whisk), "X-Apigw-Scopes") == ["read write"]
    assert stats(idp)["introspections"] == before + 1
    # apigw authenticates itself to the endpoint
    assert idp.last_auth == "Basic " + base64.b64encode(
        b"apigw:gw-secret").decode()
    assert "token=opaque-1" in idp.last_form
    for _ in range(5):
        r = gw.request("GET", "/o/read", bearer("opaque-1"))
        assert r.status == 200 and r.header("X-T-Cache") == "HIT"
    assert stats(idp)["introspections"] == before + 1


def test_client_credentials_form_encoded(gw, whisk, idp):
    """RFC 6749 2.3.1: the id and secret are form-urlencoded before Basic,
    so a server that decodes them gets them as configured."""
    idp.tokens["opaque-odd"] = {"active": True, "sub": "svc-odd",
                                "exp": int(time.time()) + 300}
    assert gw.request("GET", "/o/odd", bearer("opaque-odd")).status == 200
    assert idp.last_auth == "Basic " + base64.b64encode(
        b"gw%3Aclient+x:Ab%2Bcd%2Fef%253D%3D%3D").decode()


def test_inactive_token(gw, whisk, idp):
    before = stats(idp)["introspections"]
    calls = whisk.calls()
    for _ in range(3):
        r = gw.request("GET", "/o/any", bearer("unknown-token"))
        assert_error(r, 401, "Error: Unauthorized")
        assert r.header("X-T-Reason") == "token_inactive"
        assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    # the negative answer is cached briefly
    assert stats(idp)["introspections"] == before + 1
    assert whisk.calls() == calls


def test_expired_answer_is_inactive(gw, whisk, idp):
    idp.tokens["old"] = {"active": True, "exp": int(time.time()) - 5}
    r = gw.request("GET", "/o/any", bearer("old"))
    assert r.status == 401 and r.header("X-T-Reason") == "token_inactive"


def test_malformed_exp_is_inactive(gw, whisk, idp):
    idp.tokens["sexp"] = {"active": True, "exp": "4102444800"}
    idp.tokens["hexp"] = {"active": True, "exp": 1e300}
    r = gw.request("GET", "/o/any", bearer("sexp"))
    assert r.status == 401 and r.header("X-T-Reason") == "token_inactive"
    # far in the future: active, cached no longer than the cap
    assert gw.request("GET", "/o/any", bearer("hexp")).status == 200


def test_issuer_and_audiences_hold_for_opaque_tokens(gw, whisk, idp):
    exp = int(time.time()) + 60
    idp.tokens["a-ok"] = {"active": True, "exp": exp, "aud": ["x", "my-api"],
                          "iss": "https://good.example/"}
    idp.tokens["a-other"] = {"active": True, "exp": exp, "aud": "other-api"}
    idp.tokens["a-none"] = {"active": True, "exp": exp}
    idp.tokens["a-iss"] = {"active": True, "exp": exp, "aud": "my-api",
                           "iss": "https://evil.example/"}
    # an answer without iss cannot show the configured issuer
    idp.tokens["a-noiss"] = {"active": True, "exp": exp, "aud": "my-api"}
    assert gw.request("GET", "/o/aud", bearer("a-ok")).status == 200
    calls = whisk.calls()
    for tok in ("a-other", "a-none", "a-iss", "a-noiss"):
        r = gw.request("GET", "/o/aud", bearer(tok))
        assert r.status == 401 and r.header("X-T-Reason") == "token_inactive"
    assert whisk.calls() == calls


def test_required_claims_hold_for_opaque_tokens(gw, whisk, idp):
    exp = int(time.time()) + 60
    idp.tokens["c-mail"] = {"active": True, "exp": exp, "email": "a@b.c"}
    idp.tokens["c-nomail"] = {"active": True, "exp": exp}
    idp.tokens["gho_claims"] = {"active": True, "id": 7}
    assert gw.request("GET", "/o/claims", bearer("c-mail")).status == 200
    assert gw.request("GET", "/o/ghlogin",
                      bearer("gho_claims")).status == 200
    calls = whisk.calls()
    # a userinfo answer ({"id", "login"}) has no email, iss or aud
    for path, tok in (("/o/claims", "c-nomail"), ("/o/ghmail", "gho_claims"),
                      ("/o/ghaud", "gho_claims")):
        r = gw.request("GET", path, bearer(tok))
        assert r.status == 401, (path, r)
        assert r.header("X-T-Reason") == "token_inactive"
        assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    assert whisk.calls() == calls


def test_scope_from_introspection(gw, whisk, idp):
    idp.tokens["ro"] = {"active": True, "scope": "write",
                        "client_id": "c2"}
    calls = whisk.calls()
    r = gw.request("GET", "/o/read", bearer("ro"))
    assert_error(r, 403, "Error: Forbidden.")
    assert r.header("X-T-Reason") == "insufficient_scope"
    assert whisk.calls() == calls
    r = gw.request("GET", "/o/any", bearer("ro"))
    assert r.status == 200 and r.header("X-T-Consumer") == "c2"


def test_endpoint_down_is_503(gw, whisk, idp):
    calls = whisk.calls()
    r = gw.request("GET", "/o/down", bearer("whatever"))
    assert_error(r, 503, "Error: Service unavailable.")
    assert r.header("X-T-Reason") == "introspection_failed"
    assert whisk.calls() == calls


def test_concurrent_waits(gw, whisk, idp):
    import threading
    for i in range(20):
        idp.tokens["c-%d" % i] = {"active": True, "sub": "u%d" % i}
    out = {}

    def go(i):
        out[i] = gw.request("GET", "/o/any", bearer("c-%d" % i))

    ts = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i in range(20):
        assert out[i].status == 200
        assert out[i].header("X-T-Consumer") == "u%d" % i


def test_userinfo_style_provider(gw, whisk, idp):
    """google / github / facebook style: the token is valid when the
    provider's user endpoint accepts it."""
    idp.tokens["gho_good"] = {"active": True, "id": 42}
    before = stats(idp)["userinfos"]
    r = gw.request("GET", "/o/gh", bearer("gho_good"))
    assert r.status == 200, r
    assert r.header("X-T-Consumer") == "42"
    assert header_values(last_raw(whisk), "X-Apigw-Subject") == ["42"]
    assert gw.request("GET", "/o/gh", bearer("gho_good")).status == 200
    assert stats(idp)["userinfos"] == before + 1
    calls = whisk.calls()
    for _ in range(2):
        r = gw.request("GET", "/o/gh", bearer("gho_bad"))
        assert_error(r, 401, "Error: Unauthorized")
        assert r.header("X-T-Reason") == "token_inactive"
    assert stats(idp)["userinfos"] == before + 2
    assert whisk.calls() == calls
