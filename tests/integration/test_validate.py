"""Request validation at the edge (apigw_validate, x-apigw-validate): every
keyword and location, JSON bodies (recursive schemas, oneOf ambiguity,
Unicode lengths, integer overflow, deep nesting, malformed JSON, chunked
bodies), 413 and 415; a rejected request never reaches the backend."""

import hashlib
import json
import uuid

import pytest

import harness
from apigw_checks import gateway, header_values, last_raw

TRACE = str(uuid.UUID(int=7))
MSG = "Error: Request validation failed."


@pytest.fixture(scope="module")
def specs(whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("validate")
    return [harness.render_spec(n, str(tmp), WHISK=whisk.url)
            for n in ("validate.yaml", "validate31.yaml", "validate2.yaml")]


@pytest.fixture(scope="module")
def gw(module_nginx_factory, specs):
    return module_nginx_factory(gateway(
        " ".join("apigw_spec %s;" % s for s in specs)
        + " apigw_validate on; apigw_validate_body_max 8k;")).start()


def raw_calls(whisk):
    return whisk.stats()["raw_calls"]


def rejected(gw, whisk, method, target, headers=None, body=None,
             status=400, **kw):
    """Send a request that must be rejected at the edge: the JSON error
    with its errors list; the backend never sees it.  Returns the list."""
    before = raw_calls(whisk)
    r = gw.request(method, target, headers, body, **kw)
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    doc = r.json()
    assert doc["status"] == status
    assert doc["request_id"] == r.header("X-Request-ID")
    assert raw_calls(whisk) == before, "a rejected request reached the backend"
    if status == 413:
        assert doc == {"status": 413,
                       "message": "Error: Request body too large.",
                       "request_id": r.header("X-Request-ID")}
        return []
    assert doc["message"] == (MSG if status == 400
                              else "Error: Unsupported media type.")
    assert isinstance(doc["errors"], list) and doc["errors"]
    for e in doc["errors"]:
        assert e["in"] in ("path", "query", "header", "cookie", "body")
        assert ("pointer" in e) != ("name" in e)
        assert e["reason"]
    return doc["errors"]


def accepted(gw, whisk, method, target, headers=None, body=None, **kw):
    before = raw_calls(whisk)
    r = gw.request(method, target, headers, body, **kw)
    assert r.status == 200, r
    assert raw_calls(whisk) == before + 1
    return r


def has(errors, where, name, reason):
    key = "pointer" if where == "body" and name != "Content-Type" else "name"
    for e in errors:
        if e["in"] == where and e.get(key) == name and reason in e["reason"]:
            return True
    raise AssertionError("no %s %s %r ~ %r in %r" % (where, key, name, reason,
                                                     errors))


def item_get(gw, whisk, query="", headers=None, path="/v/items/5"):
    hdrs = [("X-Trace", TRACE)] + list(headers or [])
    return gw.request("GET", path + ("?" + query if query else ""), hdrs)


# ---- parameters ----

def test_valid_parameters_reach_the_backend(gw, whisk):
    accepted(gw, whisk, "GET",
             "/v/items/5?limit=100&ratio=0.5&flag=true&tags=red&tags=green"
             "&ids=1,2,3&pipes=4|5&name=ab%C3%A9&code=ABC&day=2024-02-29"
             "&at=2024-01-01T10:00:00.5%2B01:00&big=9223372036854775807",
             [("X-Trace", TRACE), ("X-Count", "1,2"),
              ("Cookie", "a=b; session=0123abcd")])
    last = last_raw(whisk)
    assert last["target"].startswith("/raw/echo?limit=100&")


@pytest.mark.parametrize("query,name,reason", [
    ("limit=0", "limit", "must be >= 1"),
    ("limit=101", "limit", "must be <= 100"),
    ("limit=1.5", "limit", "must be integer"),
    ("limit=ten", "limit", "must be integer"),
    ("ratio=0", "ratio", "must be > 0"),
    ("ratio=1", "ratio", "must be < 1"),
    ("ratio=x", "ratio", "must be number"),
    ("flag=yes", "flag", "must be boolean"),
    ("tags=red&tags=blue", "tags/1", "allowed values"),
    ("ids=1,2,3,4", "ids", "at most 3 items"),
    ("ids=1,x", "ids/1", "must be integer"),
    ("pipes=1|a", "pipes/1", "must be integer"),
    ("name=a", "name", "at least 2 characters"),
    ("name=abcde", "name", "at most 4 characters"),
    ("code=abc", "code", "must match the pattern"),
    # ECMA-262: "$" does not match before a final newline
    ("code=ABC%0A", "code", "must match the pattern"),
    ("day=2023-02-29", "day", "valid date"),
    ("at=2024-01-01%2010:00:00", "at", "valid date-time"),
    ("big=9223372036854775808", "big", "valid int64"),
    ("name=%FF%FE", "name", "UTF-8"),
])
def test_query_keywords(gw, whisk, query, name, reason):
    errors = rejected(gw, whisk, "GET", "/v/items/5?" + query,
                      [("X-Trace", TRACE)])
    assert len(errors) == 1, errors
    has(errors, "query", name, reason)


def test_every_copy_of_a_scalar_is_checked(gw, whisk):
    # OpenWhisk takes the last copy: each one must be valid
    accepted(gw, whisk, "GET", "/v/items/5?limit=5&limit=6",
             [("X-Trace", TRACE)])
    errors = rejected(gw, whisk, "GET", "/v/items/5?limit=5&limit=1000",
                      [("X-Trace", TRACE)])
    assert len(errors) == 1, errors
    has(errors, "query", "limit", "must be <= 100")
    errors = rejected(gw, whisk, "GET", "/v/items/5",
                      [("X-Trace", TRACE), ("X-Trace", "not-a-uuid")])
    assert len(errors) == 1, errors
    has(errors, "header", "X-Trace", "valid uuid")


def test_unicode_lengths_in_code_points(gw, whisk):
    # 4 code points, 8 bytes: fits maxLength 4
    accepted(gw, whisk, "GET", "/v/items/5?name=%C3%A9%C3%A9%C3%A9%C3%A9",
             [("X-Trace", TRACE)])
    # a 4-byte emoji is one code point: 2 code points fit minLength 2
    accepted(gw, whisk, "GET", "/v/items/5?name=%F0%9F%98%80x",
             [("X-Trace", TRACE)])
    errors = rejected(gw, whisk, "GET",
                      "/v/items/5?name=%F0%9F%98%80", [("X-Trace", TRACE)])
    has(errors, "query", "name", "at least 2 characters")


@pytest.mark.parametrize("path,reason", [
    ("/v/items/0", "must be >= 1"),
    ("/v/items/abc", "must be integer"),
    ("/v/items/4294967296", "valid int32"),
])
def test_path_parameter(gw, whisk, path, reason):
    errors = rejected(gw, whisk, "GET", path, [("X-Trace", TRACE)])
    has(errors, "path", "id", reason)


def test_header_parameters(gw, whisk):
    errors = rejected(gw, whisk, "GET", "/v/items/5")
    has(errors, "header", "X-Trace", "is required")
    errors = rejected(gw, whisk, "GET", "/v/items/5",
                      [("x-trace", "not-a-uuid"), ("X-Count", "1,b")])
    has(errors, "header", "X-Trace", "valid uuid")
    has(errors, "header", "X-Count/1", "must be integer")


def test_cookie_parameter(gw, whisk):
    errors = rejected(gw, whisk, "GET", "/v/items/5",
                      [("X-Trace", TRACE), ("Cookie", "session=XYZ; b=1")])
    has(errors, "cookie", "session", "must match the pattern")


def test_all_violations_reported_and_capped(gw, whisk):
    errors = rejected(gw, whisk, "GET",
                      "/v/items/0?limit=0&flag=x&name=a&code=1",
                      [("X-Trace", "x")])
    assert len(errors) == 6
    has(errors, "path", "id", ">= 1")
    has(errors, "query", "flag", "boolean")
    has(errors, "header", "X-Trace", "uuid")
    # many violations: the list is capped
    errors = rejected(gw, whisk, "GET", "/v/items/5?"
                      + "&".join("tags=x%d" % i for i in range(50)),
                      [("X-Trace", TRACE)])
    assert len(errors) == 20


# ---- bodies ----

def put_item(gw, body, ctype="application/json", **kw):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return gw.request("PUT", "/v/items/5", [("Content-Type", ctype)], body,
                      **kw)


GOOD = {"name": "pen", "price": 1.25, "qty": 3, "tags": ["a"], "kind": "a",
        "note": None, "code": "ab-12", "other": 5, "both": 7,
        "either": True, "meta": {"deep": {"x": 1}}}


def test_valid_body_passes_byte_exact(gw, whisk):
    body = json.dumps(GOOD, indent=3).encode()
    accepted(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "application/json; charset=utf-8")], body)
    last = last_raw(whisk)
    assert last["body_length"] == len(body)


@pytest.mark.parametrize("patch,pointer,reason", [
    ({"name": 5}, "/name", "must be string"),
    ({"name": ""}, "/name", "at least 1 characters"),
    ({"name": "abcdef"}, "/name", "at most 5 characters"),
    ({"price": 0}, "/price", "must be > 0"),
    ({"price": 1.234}, "/price", "multiple of 0.01"),
    ({"qty": 11}, "/qty", "must be <= 10"),
    ({"qty": 2.5}, "/qty", "must be integer"),
    ({"tags": []}, "/tags", "at least 1 items"),
    ({"tags": ["a", "b", "c", "d"]}, "/tags", "at most 3 items"),
    ({"tags": ["a", 1]}, "/tags/1", "must be string"),
    ({"kind": "c"}, "/kind", "allowed values"),
    ({"note": 1}, "/note", "must be string"),
    ({"code": "AB-12"}, "/code", "must match the pattern"),
    ({"other": "s"}, "/other", "must not match"),
    ({"both": 4}, "/both", "must be >= 5"),
    ({"both": "x"}, "/both", "must be integer"),
    ({"either": 1}, "/either", "anyOf"),
    ({"meta": {"deep": {"x": "1"}}}, "/meta/deep/x", "must be integer"),
    ({"extra": 1}, "/extra", "not allowed"),
    ({"a/b~c": 1}, "/a~1b~0c", "not allowed"),
])
def test_body_keywords(gw, whisk, patch, pointer, reason):
    body = dict(GOOD)
    body.update(patch)
    before = raw_calls(whisk)
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      json.dumps(body))
    assert len(errors) == 1, errors
    has(errors, "body", pointer, reason)
    assert raw_calls(whisk) == before


def test_long_names_cut_on_whole_characters(gw, whisk):
    # the error's name is cut to its limit between UTF-8 characters, so the
    # JSON answer stays valid UTF-8 (rejected() decodes it strictly)
    key = "a" + "\u00e9" * 150
    body = dict(GOOD)
    body[key] = 1
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      json.dumps(body, ensure_ascii=False).encode())
    assert len(errors) == 1, errors
    assert ("/" + key).startswith(errors[0]["pointer"]), errors
    assert len(errors[0]["pointer"]) > 90, errors


def test_body_required_and_type(gw, whisk):
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")], "[]")
    has(errors, "body", "", "must be object")
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")], "{}")
    has(errors, "body", "/name", "is required")
    has(errors, "body", "/price", "is required")
    errors = rejected(gw, whisk, "PUT", "/v/items/5")
    has(errors, "body", "", "body is required")


def test_body_unicode_lengths(gw, whisk):
    body = dict(GOOD, name="\u00e9\u00e9\u00e9\u00e9\U0001F600")
    accepted(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "application/json")],
             json.dumps(body, ensure_ascii=False).encode())
    body = dict(GOOD, name="\U0001F600" * 6)
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      json.dumps(body, ensure_ascii=False).encode())
    has(errors, "body", "/name", "at most 5 characters")


def test_integer_overflow(gw, whisk):
    huge = "123456789012345678901234567890"
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      json.dumps(GOOD)[:-1] + ', "qty": %s}' % huge)
    has(errors, "body", "/qty", "must be <= 10")
    # still an integer: allOf [integer, minimum 5] holds
    accepted(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "application/json")],
             json.dumps(dict(GOOD, both=0))[:-1].replace('"both": 0',
                                                        '"both": ' + huge)
             + "}")
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      '{"name":"a","price":1e999}')
    has(errors, "body", "", "malformed JSON at byte")


def test_malformed_json_offset(gw, whisk):
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      '{"name": "a",,}')
    assert len(errors) == 1
    has(errors, "body", "", "malformed JSON at byte offset 13")
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      '{"name": "caf\xc3')
    has(errors, "body", "", "malformed JSON at byte")


def tree(depth, leaf):
    node = {"v": leaf}
    for i in range(depth):
        node = {"v": i, "kids": [node]}
    return node


def test_recursive_schema(gw, whisk):
    accepted(gw, whisk, "POST", "/v/tree",
             [("Content-Type", "application/json")],
             json.dumps(tree(3, 1)))
    errors = rejected(gw, whisk, "POST", "/v/tree",
                      [("Content-Type", "application/json")],
                      json.dumps(tree(3, "x")))
    has(errors, "body", "/kids/0/kids/0/kids/0/v", "must be integer")


def test_deeply_nested_bodies(gw, whisk):
    # 300 levels of the recursive schema
    body = json.dumps(tree(300, 1), separators=(",", ":"))
    assert len(body) < 8192
    accepted(gw, whisk, "POST", "/v/tree",
             [("Content-Type", "application/json")], body)
    # nesting beyond the parser's limit: a 400, never a crash or a 500
    errors = rejected(gw, whisk, "POST", "/v/tree",
                      [("Content-Type", "application/json")],
                      "[" * 3000 + "]" * 3000)
    has(errors, "body", "", "malformed JSON at byte offset 2048")


def test_pointer_keeps_a_nul(gw, whisk):
    """A member name with a NUL: its pointer names it whole (RFC 6901
    has no escape for it; JSON has \u0000), not the name cut there."""
    errs = rejected(gw, whisk, "POST", "/v/bag",
                    [("Content-Type", "application/json")],
                    '{"z\\u0000y": "x", "ok": 1}')
    assert [e["pointer"] for e in errs] == ["/z\u0000y"], errs


def test_pattern_work_bounded_by_the_body(gw, whisk):
    """Each item backtracks below the match limit, a "no match" that
    anyOf forgives: the patterns' work is still bounded by the body's size,
    and the request refused when it is spent; a benign body of the same
    size passes."""
    words = json.dumps(["a" * 22 + "!"] * 300)
    errs = rejected(gw, whisk, "POST", "/v/words",
                    [("Content-Type", "application/json")], words)
    assert len(errs) == 1 and "could not be evaluated within its limits" \
        in errs[0]["reason"], errs
    accepted(gw, whisk, "POST", "/v/words",
             [("Content-Type", "application/json")],
             json.dumps(["a" * 22, "b" * 22, "a!"] * 100))


def test_oneof_ambiguity(gw, whisk):
    ct = [("Content-Type", "application/vnd.pet+json")]
    accepted(gw, whisk, "POST", "/v/pets", ct, '{"meow": true}')
    errors = rejected(gw, whisk, "POST", "/v/pets", ct,
                      '{"meow": true, "bark": false}')
    has(errors, "body", "", "matches more (#0 and #1)")
    errors = rejected(gw, whisk, "POST", "/v/pets", ct, '{"purr": true}')
    has(errors, "body", "", "it matches none")


def test_415_undeclared_media_type(gw, whisk):
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/xml")], "<a/>",
                      status=415)
    has(errors, "body", "Content-Type", "application/xml")
    rejected(gw, whisk, "PUT", "/v/items/5", [], "x", status=415)
    # a declared type without a schema streams through unvalidated
    accepted(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "text/plain")], "not json {")


def test_413_body_too_large(gw, whisk):
    big = json.dumps(dict(GOOD, note="x" * 10000))
    rejected(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "application/json")], big, status=413)
    rejected(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "application/json")], big, status=413,
             chunked=True)
    # a client that waits for "100 Continue" gets the 413 straight away
    import socket
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as c:
        c.sendall(b"PUT /v/items/5 HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nExpect: 100-continue"
                  b"\r\nContent-Length: %d\r\n\r\n" % len(big))
        first = c.recv(65536)
    assert first.startswith(b"HTTP/1.1 413"), first[:100]
    # other bodies are not limited by apigw_validate_body_max
    accepted(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "text/plain")], "y" * 100000)


def test_chunked_bodies(gw, whisk):
    body = json.dumps(GOOD).encode()
    accepted(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "application/json")], body, chunked=True)
    last = last_raw(whisk)
    assert last["body_length"] == len(body)
    assert last["body_sha256"] == hashlib.sha256(body).hexdigest()
    # buffered whole: sent with its length, not re-chunked
    assert header_values(last, "Content-Length") == [str(len(body))]
    assert header_values(last, "Transfer-Encoding") == []
    errors = rejected(gw, whisk, "PUT", "/v/items/5",
                      [("Content-Type", "application/json")],
                      json.dumps(dict(GOOD, qty=99)), chunked=True)
    has(errors, "body", "/qty", "<= 10")


def test_x_apigw_validate_false(gw, whisk):
    accepted(gw, whisk, "POST", "/v/off",
             [("Content-Type", "application/json")], "[1]")


def test_openapi_31(gw, whisk):
    ct = [("Content-Type", "application/json")]
    accepted(gw, whisk, "POST", "/v31/things", ct,
             '{"version": 2, "label": null, "score": 9.5}')
    errors = rejected(gw, whisk, "POST", "/v31/things", ct,
                      '{"version": 3, "label": 1, "score": 10, "never": 0}')
    has(errors, "body", "/version", "constant")
    has(errors, "body", "/label", "must be string or null")
    has(errors, "body", "/score", "must be < 10")
    has(errors, "body", "/never", "is not allowed")


def test_swagger_20(gw, whisk):
    ct = [("Content-Type", "application/json")]
    body = '{"id": "%s"}' % TRACE
    accepted(gw, whisk, "POST", "/v2/orders?n=1,5", ct, body)
    # the body is read (and checked) only once the parameters are valid
    errors = rejected(gw, whisk, "POST", "/v2/orders?n=1,6", ct,
                      '{"id": "x"}')
    assert len(errors) == 1
    has(errors, "query", "n/1", "<= 5")
    errors = rejected(gw, whisk, "POST", "/v2/orders?n=1", ct, '{"id": "x"}')
    has(errors, "body", "/id", "valid uuid")
    errors = rejected(gw, whisk, "POST", "/v2/orders", ct)
    has(errors, "body", "", "body is required")
    rejected(gw, whisk, "POST", "/v2/orders", [("Content-Type", "text/csv")],
             "a,b", status=415)
    rejected(gw, whisk, "POST", "/v2/upload", ct, "{}", status=415)
    accepted(gw, whisk, "POST", "/v2/upload",
             [("Content-Type", "multipart/form-data; boundary=b")],
             "--b--\r\n")


def test_keepalive_after_reject(gw, whisk):
    """A rejected body on a keep-alive connection does not corrupt the
    next request on it."""
    import socket
    bad = json.dumps(dict(GOOD, qty=99)).encode()
    good = json.dumps(GOOD).encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        for body in (bad, good):
            s.sendall(b"PUT /v/items/5 HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        with s.makefile("rb") as f:
            r1 = harness._read_response(f, "PUT")
            r2 = harness._read_response(f, "PUT")
    assert r1.status == 400 and r2.status == 200


# ---- configuration ----

def test_off_by_default(nginx_factory, whisk, specs):
    gw = nginx_factory(gateway("apigw_spec %s;" % specs[0])).start()
    accepted(gw, whisk, "GET", "/v/items/0?limit=1000")
    accepted(gw, whisk, "PUT", "/v/items/5",
             [("Content-Type", "application/json")], "[not json")
    # x-apigw-validate: true at the root of a document turns it on
    gw31 = nginx_factory(gateway("apigw_spec %s;" % specs[1])).start()
    rejected(gw31, whisk, "POST", "/v31/things",
             [("Content-Type", "application/json")], '{"version": 1}')


def test_invalid_pattern_fails_the_configuration(nginx_factory, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
                    "paths:\n  /a:\n    get:\n"
                    "      x-apigw-backend: {url: 'http://127.0.0.1:1/'}\n"
                    "      parameters:\n"
                    "        - {name: q, in: query, schema: {pattern: 'a(b'}}\n")
    n = nginx_factory(gateway("apigw_spec %s; apigw_validate on;" % spec))
    rc, out = n.test()
    assert rc != 0
    assert "/paths/~1a/get/parameters/0/schema/pattern" in out
    assert "invalid regular expression" in out


def test_parameters_survive_the_body_wait(nginx_factory, whisk, tmp_path):
    """The body is read after the handler has returned: the route's path
    parameters and segments, kept for that wait, still build the backend
    URL (each parameter in place, the request path appended after it)."""
    spec = tmp_path / "wait.json"
    spec.write_text(json.dumps({
        "openapi": "3.0.3", "info": {"title": "wait", "version": "1"},
        "servers": [{"url": "/w"}],
        "paths": {"/a/{x}/b/{y}/{z}": {"post": {
            "parameters": [{"name": n, "in": "path", "required": True,
                            "schema": {"type": "string"}}
                           for n in ("x", "y", "z")],
            "requestBody": {"content": {"application/json": {
                "schema": {"type": "object", "required": ["k"]}}}},
            "x-apigw-backend": {
                "url": whisk.url + "/raw/{z}/{y}/{x}"},
            "responses": {"200": {"description": "ok"}}}}}}))
    gw = nginx_factory(gateway("apigw_spec %s; apigw_validate on;"
                               % spec)).start()
    for x, y, z in (("1", "two", "3%2F4"), ("%C3%A9", "b", "c")):
        r = gw.request("POST", "/w/a/%s/b/%s/%s?q=1" % (x, y, z),
                       [("Content-Type", "application/json")], '{"k": 1}')
        assert r.status == 200, r
        assert last_raw(whisk)["path"] == "/raw/%s/%s/%s" % (z, y, x)
    rejected(gw, whisk, "POST", "/w/a/1/b/2/3",
             [("Content-Type", "application/json")], '{}')
