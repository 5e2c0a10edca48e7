"""Request mapping (x-apigw-request-mapping, openwhisk-apigateway's v1
reqMapping): headers, query, JSON body fields and path parameters moved,
inserted, defaulted and removed before the request reaches the backend."""

import json

import pytest

from apigw_checks import assert_error, gateway, header_values, last_raw


def mapping(action, to=None, frm=None, value=None):
    m = {"action": action}
    if value is not None:
        m["from"] = {"value": value}
    elif frm:
        m["from"] = {"location": frm[0], "name": frm[1]}
    if to:
        m["to"] = {"location": to[0], "name": to[1]}
    return m


def spec(whisk):
    maps = [
        mapping("transform", ("body", "*"), ("query", "*")),
        mapping("insert", ("body", "n"), value=7),
        mapping("transform", ("query", "from"), ("header", "X-From")),
        mapping("default", ("query", "q"), value="d"),
        mapping("default", ("query", "kept"), value="no"),
        mapping("remove", frm=("header", "X-Drop")),
        mapping("insert", ("header", "X-Id"), ("path", "id")),
        mapping("transform", ("header", "X-Secret"), ("body", "secret")),
        mapping("insert", ("path", "id"), value="v2"),
    ]

    def op(m, path):
        return {"post": {"x-apigw-backend": {"url": whisk.url + path},
                         "x-apigw-request-mapping": m,
                         "responses": {"200": {"description": "ok"}}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "reqmap", "version": "1"},
        "servers": [{"url": "/rm"}],
        "paths": {
            "/m/{id}": dict(op(maps, "/raw/m/{id}"), parameters=[
                {"name": "id", "in": "path", "required": True,
                 "schema": {"type": "string"}}]),
            "/h": op([mapping("transform", ("header", "X-H"),
                              ("query", "h"))], "/raw/h"),
            "/b": op([mapping("transform", ("body", "*"),
                              ("query", "*"))], "/raw/b"),
            "/q": op([mapping("transform", ("query", "*"),
                              ("body", "*"))], "/raw/q"),
            "/r": op([mapping("remove", frm=("body", "a")),
                      mapping("remove", frm=("body", "c")),
                      mapping("transform", ("body", "*"),
                              ("query", "*"))], "/raw/r"),
        },
    }


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reqmap")
    s = tmp / "reqmap.json"
    s.write_text(json.dumps(spec(whisk)))
    return module_nginx_factory(gateway("apigw_spec %s;" % s)).start()


def test_every_location_and_action(gw, whisk):
    r = gw.request("POST", "/rm/m/orig%20id?a=1&kept=yes&a2=x%26y",
                   [("Content-Type", "application/json"),
                    ("X-From", "hdr"), ("X-Drop", "gone")],
                   json.dumps({"secret": "s3", "keep": [1, 2]}).encode())
    assert r.status == 200, r
    last = last_raw(whisk)
    # the path parameter set by the last mapping, the others from the old
    assert last["path"] == "/raw/m/v2"
    assert header_values(last, "X-Id") == ["orig id"]
    # the query: moved into the body, then what the mappings put there
    assert sorted(last["query"].split("&")) == ["from=hdr", "kept=no",
                                                "q=d"]
    assert header_values(last, "X-From") == []
    assert header_values(last, "X-Drop") == []
    assert header_values(last, "X-Secret") == ["s3"]
    body = json.loads(r.body)
    assert body == {"keep": [1, 2], "a": "1", "a2": "x&y", "kept": "yes",
                    "n": 7}
    assert header_values(last, "Content-Length") == [str(len(r.body))]


def test_a_chunked_body_is_mapped(gw, whisk):
    r = gw.request("POST", "/rm/b?x=1", [("Content-Type", "application/json")],
                   b'{"y": true}', chunked=True)
    assert r.status == 200, r
    assert json.loads(r.body) == {"x": "1", "y": True}
    last = last_raw(whisk)
    assert header_values(last, "Transfer-Encoding") == []
    assert header_values(last, "Content-Length") == [str(len(r.body))]


def test_a_body_moved_into_the_query(gw, whisk):
    r = gw.request("POST", "/rm/q", [("Content-Type", "application/json")],
                   json.dumps({"a": "1 2", "b": 2, "c": {"d": True}}).encode())
    assert r.status == 200, r
    assert r.body == b""
    last = last_raw(whisk)
    assert sorted(last["query"].split("&")) == [
        "a=1%202", "b=2", "c=%7B%22d%22%3Atrue%7D"]
    assert header_values(last, "Content-Length") == ["0"]


def test_a_body_is_made_for_a_request_without_one(gw, whisk):
    r = gw.request("POST", "/rm/b?name=Bob&n=5")
    assert r.status == 200, r
    assert json.loads(r.body) == {"name": "Bob", "n": "5"}
    assert last_raw(whisk)["query"] == ""


def test_bytes_and_numbers_as_they_came(gw, whisk):
    # not UTF-8: fine in a header, not in a JSON body
    r = gw.request("POST", "/rm/h?h=caf%E9")
    assert r.status == 200, r
    assert_error(gw.request("POST", "/rm/b?x=caf%E9"), 400,
                 "Error: The request cannot be mapped for the backend.")
    # the client's other fields are not rewritten
    r = gw.request("POST", "/rm/b?x=1", [("Content-Type", "application/json")],
                   b'{"price": 19.99, "f": 0.1, "i": 3}')
    assert r.status == 200, r
    assert r.body == b'{"price":19.99,"f":0.1,"i":3,"x":"1"}', r.body
    # numbers as written, whatever a double makes of them; a NUL in a
    # string; nested values and escapes
    r = gw.request("POST", "/rm/b?x=1", [("Content-Type", "application/json")],
                   b'{"id": 18446744073709551615, "e": 9007199254740993.0, '
                   b'"z": -0, "c": 1E2, "s": "a\\u0000b\\"\\\\", '
                   b'"o": {"n": [1.50, true, null, "\\u00e9"]}}')
    assert r.status == 200, r
    assert r.body == (b'{"id":18446744073709551615,"e":9007199254740993.0,'
                      b'"z":-0,"c":1E2,"s":"a\\u0000b\\"\\\\",'
                      b'"o":{"n":[1.50,true,null,"\xc3\xa9"]},"x":"1"}'), \
        r.body
    # the same name twice: which one would the backend read?
    r = gw.request("POST", "/rm/b?x=1", [("Content-Type", "application/json")],
                   b'{"a": 1, "a": 2}')
    assert_error(r, 400, "Error: The request cannot be mapped for the "
                         "backend.")


def test_client_strings_stay_strings(gw, whisk):
    """The body's numbers are kept as written; a value put where one was
    removed is still a quoted string, never JSON of the client's making."""
    for _ in range(5):
        r = gw.request("POST", "/rm/r?y=1,%22admin%22:true&z=2",
                       [("Content-Type", "application/json")],
                       b'{"a": 12345, "c": 7, "k": 1.5}')
        assert r.status == 200, r
        assert json.loads(r.body) == {"k": 1.5, "y": '1,"admin":true',
                                      "z": "2"}, r.body
    # a name with a NUL in it cannot be a query or header name
    r = gw.request("POST", "/rm/q", [("Content-Type", "application/json")],
                   b'{"role\\u0000x": "admin"}')
    assert_error(r, 400, "Error: The request cannot be mapped for the "
                         "backend.")


def test_values_that_cannot_be_mapped_are_400(gw, whisk):
    # no header injection from a query value
    before = whisk.stats()["raw_calls"]
    r = gw.request("POST", "/rm/h?h=a%0D%0AX-Evil:%201")
    assert_error(r, 400, "Error: The request cannot be mapped for the "
                         "backend.")
    # a body to map that is not a JSON object
    r = gw.request("POST", "/rm/b?x=1", [("Content-Type", "text/plain")],
                   b"plain text")
    assert_error(r, 400, "Error: The request cannot be mapped for the "
                         "backend.")
    assert whisk.stats()["raw_calls"] == before
    r = gw.request("POST", "/rm/h?h=fine")
    assert r.status == 200 and header_values(last_raw(whisk), "X-H") == [
        "fine"]


def test_bad_mappings_fail_the_import(nginx_factory, whisk, tmp_path):
    doc = spec(whisk)
    doc["paths"]["/h"]["post"]["x-apigw-request-mapping"] = [
        {"action": "move"},
        mapping("insert", ("path", "nope"), value="x"),
        mapping("transform", ("body", "*"), ("header", "*")),
        mapping("insert", ("header", "Bad Name"), value="x"),
        {"action": "insert", "from": {"value": "x"}},
        mapping("insert", ("header", "X-Forwarded-For"), ("query", "a")),
    ]
    s = tmp_path / "bad.json"
    s.write_text(json.dumps(doc))
    rc, out = nginx_factory(gateway("apigw_spec %s;" % s)).test()
    assert rc == 1, out
    p = "/paths/~1h/post/x-apigw-request-mapping"
    for where, what in [("/0/action", "must be insert, remove"),
                        ("/1/to", "is not a path parameter"),
                        ("/2/from/name", "\"*\" is for the query or the body"),
                        ("/3/to/name", "is not a header name"),
                        ("/4/to", "missing required field"),
                        ("/5/to/name", "a header the gateway sets")]:
        assert p + where in out and what in out, (where, out)
