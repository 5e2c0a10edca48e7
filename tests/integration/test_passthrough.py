"""Bytes pass through untouched in both directions; large bodies stream."""

import hashlib
import json
import os
import socket
import time

import pytest

import harness
from apigw_checks import assert_error, gateway, header_values, last_raw

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def gw(module_nginx_factory, whisk, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("passthrough")
    oas = harness.render_spec("oas3.yaml", str(tmp), WHISK=whisk.url)
    small = harness.render_spec("small.yaml", str(tmp), WHISK=whisk.url)
    return module_nginx_factory(gateway(
        "apigw_openwhisk_url %s; apigw_spec %s;" % (whisk.url, oas),
        extra_server="""
    client_max_body_size 100m;
    location /small/ {
        apigw;
        apigw_spec %s;
        client_max_body_size 1k;
    }""" % small)).start()


def counts(whisk):
    s = whisk.stats()
    return s["calls"], s["raw_calls"]


def test_binary_1mb_byte_exact(gw, whisk):
    whisk.reset()
    data = os.urandom(MIB)
    r = gw.request("POST", "/v3/raw-echo?x=1",
                   [("Content-Type", "application/x-apigw-test")], data)
    assert r.status == 200
    assert r.header("Content-Type") == "application/x-apigw-test"
    assert r.header("Content-Length") == str(MIB)
    assert r.sha256() == hashlib.sha256(data).hexdigest()
    last = last_raw(whisk)
    assert last["method"] == "POST" and last["target"] == "/raw/echo?x=1"
    assert last["body_length"] == MIB
    assert last["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert header_values(last, "Content-Type") == ["application/x-apigw-test"]


def multipart_body(boundary):
    return (b"--" + boundary + b"\r\n"
            b'Content-Disposition: form-data; name="title"\r\n\r\n'
            b"Caf\xc3\xa9 \r\n\r\n"
            b"--" + boundary + b"\r\n"
            b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
            + bytes(range(256)) * 64 + b"\r\n"
            b"--" + boundary + b"--\r\n")


def test_multipart_byte_exact(gw, whisk):
    whisk.reset()
    boundary = b"----apigw7MA4YWxkTrZu0gW"
    body = multipart_body(boundary)
    ctype = "multipart/form-data; boundary=" + boundary.decode()
    r = gw.request("POST", "/v3/raw-echo", [("Content-Type", ctype)], body)
    assert r.status == 200 and r.body == body
    assert r.header("Content-Type") == ctype
    assert header_values(last_raw(whisk), "Content-Type") == [ctype]
    # and to a web action: the upload action hashes what it received
    r = gw.request("POST", "/v3/upload", [("Content-Type", ctype)], body)
    assert r.status == 200
    digest = hashlib.sha256(body).hexdigest()
    assert r.json() == {"bytes": len(body), "sha256": digest,
                        "body": {"bytes": len(body), "sha256": digest}}


def test_empty_body_post(gw, whisk):
    whisk.reset()
    r = gw.request("POST", "/v3/raw-echo", [("Content-Type", "text/plain")],
                   b"")
    assert r.status == 200 and r.body == b""
    last = last_raw(whisk)
    assert last["method"] == "POST" and last["body_length"] == 0
    assert header_values(last, "Content-Length") == ["0"]


def test_chunked_request_body(gw, whisk):
    whisk.reset()
    data = os.urandom(300 * 1024 + 7)
    r = gw.request("POST", "/v3/raw-echo", [("Content-Type", "image/webp")],
                   data, chunked=True)
    assert r.status == 200 and r.header("Content-Type") == "image/webp"
    assert r.sha256() == hashlib.sha256(data).hexdigest()
    last = last_raw(whisk)
    assert last["body_length"] == len(data) and last["body_complete"]


def test_binary_response_of_a_web_action(gw, whisk):
    direct = harness.request(whisk.port, "GET",
                             "/api/v1/web/guest/default/image.http")
    assert direct.body.startswith(b"\x89PNG\r\n\x1a\n")
    whisk.reset()
    r = gw.request("GET", "/v3/image")
    assert r.status == 200 and r.header("Content-Type") == "image/png"
    assert r.body == direct.body
    assert whisk.last()["path"] == \
        "/api/v1/web/guest/default/image.http/v3/image"


def test_web_action_http_bytes_round_trip(gw, whisk):
    whisk.reset()
    data = os.urandom(20000)
    r = gw.request("POST", "/v3/bytes", [("Content-Type", "application/pdf")],
                   data)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/pdf"
    assert r.body == data
    assert whisk.last()["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_several_set_cookie_headers(gw, whisk):
    r = gw.request("GET", "/v3/cookies")
    assert r.status == 200 and r.body == b"two cookies set"
    assert r.header_all("Set-Cookie") == ["session=abc123; Path=/; HttpOnly",
                                          "theme=dark; Path=/"]
    assert r.header("Content-Type") == "text/plain; charset=UTF-8"


def test_redirect_location(gw, whisk):
    r = gw.request("GET", "/v3/redirect?location=https%3A%2F%2Fexample.org"
                          "%2Fdone%3Fa%3D1%26b%3D2")
    assert r.status == 302
    assert r.header_all("Location") == ["https://example.org/done?a=1&b=2"]
    r = gw.request("GET", "/v3/redirect")
    assert r.status == 302 and r.header("Location") == "http://openwhisk.org"


@pytest.mark.parametrize("code", [400, 404, 418, 500, 502, 503, 504])
def test_backend_status_and_error_body_untouched(gw, whisk, code):
    whisk.reset()
    r = gw.request("GET", "/v3/status/%d" % code)
    assert r.status == code
    assert r.header("Content-Type") == "application/json"
    assert r.body == json.dumps({"status": code}).encode()
    assert r.header("X-Raw-Path") == "/raw/status/%d" % code
    assert r.header("X-Request-ID")              # apigw's header is added
    assert counts(whisk) == (0, 1)


def test_web_action_404_untouched(gw, whisk):
    direct = harness.request(
        whisk.port, "GET", "/api/v1/web/guest/default/no-such-action.json",
        [("X-Request-ID", "fixed-id-1")])
    r = gw.request("GET", "/v3/missing", [("X-Request-ID", "fixed-id-1")])
    assert r.status == 404 == direct.status
    assert r.header("Content-Type") == direct.header("Content-Type")
    # the stand-in's own error body (its "code" is the request id)
    assert r.body == direct.body
    assert r.json()["error"] == "The requested resource does not exist."
    assert r.json()["code"] == "fixed-id-1"


# ---- large bodies are streamed ----

def stream_upload(gw, whisk, target, data, chunked):
    """Send half of the body, wait until the backend has the request (only
    possible when nginx does not buffer the body), then the rest."""
    head = "POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" \
           "Content-Type: application/octet-stream\r\n" % target
    head += "Transfer-Encoding: chunked\r\n" if chunked \
        else "Content-Length: %d\r\n" % len(data)
    half = len(data) // 2

    def frame(piece):
        if not chunked:
            return piece
        return b"".join(b"%x\r\n%s\r\n" % (len(piece[i:i + MIB]),
                                           piece[i:i + MIB])
                        for i in range(0, len(piece), MIB))

    with socket.create_connection(("127.0.0.1", gw.port), timeout=60) as s:
        s.sendall(head.encode() + b"\r\n")
        s.sendall(frame(data[:half]))
        deadline = time.time() + 30
        while whisk.calls() == 0 and time.time() < deadline:
            time.sleep(0.05)
        reached_before_end = whisk.calls() == 1
        s.sendall(frame(data[half:]))
        if chunked:
            s.sendall(b"0\r\n\r\n")
        with s.makefile("rb") as f:
            r = harness._read_response(f, "POST")
    return r, reached_before_end


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_64mb_upload_streamed(gw, whisk, chunked):
    whisk.reset()
    data = os.urandom(64 * MIB)
    r, reached_before_end = stream_upload(gw, whisk, "/v3/upload", data,
                                          chunked)
    assert r.status == 200, r
    digest = hashlib.sha256(data).hexdigest()
    assert r.json() == {"bytes": len(data), "sha256": digest,
                        "body": {"bytes": len(data), "sha256": digest}}
    assert reached_before_end, "the backend saw the request only after the " \
                               "client had sent the whole body"
    assert os.listdir(os.path.join(gw.dir, "tmp", "body")) == []
    assert "buffered to a temporary file" not in gw.log()
    assert whisk.stats()["by_action"] == {"guest/default/upload": 1}


def test_body_too_large_413_json(gw, whisk):
    whisk.reset()
    # Content-Length over client_max_body_size: rejected before any byte
    head = ("POST /v3/upload HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n" % (200 * MIB))
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        s.sendall(head.encode() + b"x" * 1000)
        with s.makefile("rb") as f:
            r = harness._read_response(f, "POST")
    assert_error(r, 413, "Error: Request body too large.")
    r = gw.request("POST", "/small/echo", body=b"y" * 2048)
    assert_error(r, 413, "Error: Request body too large.")
    assert counts(whisk) == (0, 0)
    r = gw.request("POST", "/small/echo", body=b"z" * 1000)
    assert r.status == 200 and r.body == b"z" * 1000


def test_chunked_body_too_large_413_json(gw, whisk):
    r = gw.request("POST", "/small/echo", body=b"y" * 4096, chunked=True)
    assert_error(r, 413, "Error: Request body too large.")
