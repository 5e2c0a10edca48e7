"""Malformed and odd requests from many clients at once, on every kind of
location (spec routes with validation, CORS, API keys, JWTs and a rate
limit; managed URLs; the management API): whatever comes in, the answer is
a response (JSON for errors), never a 500 and never a crashed worker.

The requests are random but seeded, so a failure replays; the seed is in
the failure message.
"""

import base64
import hashlib
import json
import os
import random
import socket
import threading

import harness
from admin_gw import TOKEN, Gateway, new_store_dir, wsk_add_endpoint, \
    wsk_swagger
from idp import Key, make_token

API_KEY = "robust-key-0123456789"
SEED = int(os.environ.get("APIGW_ROBUST_SEED", "20261126"))
REQUESTS = 2400
CLIENTS = 6

# the paths of each kind of server: "spec", "managed" and "admin"
PATHS = {
    "spec": ["/v/items/5?limit=3&flag=true", "/v/items/5",
             "/v/items/0?ids=1,2,3", "/ca/echo", "/ca/cors", "/s/key/7",
             "/s/jwt/7", "/s/both/7", "/p"],
    "managed": ["/api/t/club/hello", "/api/t/club/hello?name=x",
                "/api/t/club", "/api/v1/web/guest/default/echo.json"],
    "admin": ["/v2/t/apis", "/v2/t/keys", "/v2/t/apis?basePath=%2Fclub",
              "/v1/apis", "/metrics", "/v2/t/webactions/t/p",
              "/v2/t/domains"],
}
WORDS = ["%", "%00", "%2F", "%2e%2e", "/", "//", "..", "?", "#", ";", "%zz",
         "{", "}", "*", "~", "%25", "\xff", "\u00e9", "a" * 300, "=", "&"]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Requests:
    """Random requests in the shape of real ones, then bent."""

    def __init__(self, seed, token, ports):
        self.r = random.Random(seed)
        self.token = token
        self.ports = ports          # kind: port

    def mutate(self, s):
        r, s = self.r, list(s)
        for _ in range(r.randrange(4)):
            i = r.randrange(len(s) + 1)
            c = r.randrange(4)
            if c == 0 and s:
                del s[min(i, len(s) - 1)]
            elif c == 1:
                s.insert(i, r.choice(WORDS))
            elif c == 2 and s:
                s[min(i, len(s) - 1)] = chr(r.randrange(32, 127))
        return "".join(s)

    def bearer(self):
        r = self.r
        h, p, s = self.token.split(".")
        return r.choice([
            self.token, self.token[:int(r.random() * len(self.token))],
            "%s.%s.%s" % (b64(json.dumps({
                "alg": r.choice(["none", "HS256", "RS256", "ES256", "x",
                                 None]),
                "kid": r.choice(["rsa", "", "x" * 300, None, 5])}).encode()),
                p, s),
            "%s.%s.%s" % (h, b64(json.dumps({
                "iss": r.choice(["robust", 1, None, []]),
                "aud": r.choice(["robust", ["robust", 1], {}]),
                "exp": r.choice([0, 2 ** 63, -1, "1", 1.5e300]),
                "sub": r.choice(["a", "", None, {}]),
                "scope": r.choice(["read", 5, ["read"]])}).encode()), s),
            "%s.%s.%sAAAA" % (h, p, s[:-4]), "%s.%s" % (h, p), "...",
            "%s.%s.%s.%s" % (h, p, s, s), "%s.%s.%s" % (h, b64(b"{x"), s),
            "ey" + "A" * r.choice([10, 5000]), self.mutate(self.token)])

    def body(self):
        r = self.r
        return r.choice([
            b"", b"{}", b"[" * r.randrange(1, 3000),
            bytes(r.randrange(256) for _ in range(r.randrange(300))),
            ('{"a":' * 100 + "1" + "}" * 100).encode(),
            b'{"id": "\\ud800", "name": "\\u0000"}',
            b'{"k": 1e999999, "n": -0, "s": "' + b"x" * 3000 + b'"}',
            b'{"x": ' + b"9" * r.randrange(1, 400) + b"}",
            json.dumps(wsk_swagger("http://127.0.0.1:1", "/" + self.mutate(
                "club"), "T")).encode()])

    def next(self):
        """(port, request)"""
        r = self.r
        kind = r.choice(sorted(self.ports))
        path = r.choice(PATHS[kind] if r.random() < 0.8
                        else sum(PATHS.values(), []))
        if r.random() < 0.6:
            path = self.mutate(path)
        method = r.choice(["GET"] * 4 + ["POST", "PUT", "DELETE", "HEAD",
                                         "OPTIONS", "PATCH", "TRACE",
                                         "X" * r.randrange(1, 40)])
        version = r.choice(["HTTP/1.1"] * 8 + ["HTTP/1.0", "HTTP/1.2",
                                               "HTTP/2.0", ""])
        hs = ["Connection: close"]
        if r.random() < 0.8:
            hs.append("Host: " + r.choice(["a", "127.0.0.1", "", "x" * 300,
                                           "[::1]", "a:b:c"]))
        if r.random() < 0.5:
            hs.append("X-Api-Key: " + r.choice([API_KEY, self.mutate(API_KEY),
                                                "", API_KEY * 40]))
        if kind == "admin" and r.random() < 0.6:
            hs.append("Authorization: Bearer " + TOKEN)
        elif r.random() < 0.5:
            hs.append("Authorization: " + r.choice(
                ["Bearer ", "bearer ", "Basic ", "Bearer  ", ""])
                + self.bearer())
        for name, value in (("Origin", "https://app.example"),
                            ("Access-Control-Request-Method", "POST"),
                            ("Access-Control-Request-Method", "GET"),
                            ("X-Request-ID", "abc-1"),
                            ("X-Forwarded-For", "1.2.3.4, 5.6.7.8"),
                            ("Cookie", "a=b; api_key=" + API_KEY),
                            ("X-Trace", "0b5c8a5e-1a1b-4c3d-9e8f-0000000001"),
                            ("Expect", "100-continue"),
                            ("Upgrade", "websocket")):
            if r.random() < 0.2:
                hs.append("%s: %s" % (name, value if r.random() < 0.5
                                      else self.mutate(value)))
        body = b""
        if method in ("POST", "PUT", "PATCH") or r.random() < 0.1:
            body = self.body()
        if r.random() < 0.15:
            hs.append("Transfer-Encoding: " + r.choice(["chunked"] * 4
                                                       + ["gzip"]))
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 64]),
                                                 body[i:i + 64])
                              for i in range(0, len(body), 64))
            body = chunks + r.choice([b"0\r\n\r\n"] * 3 + [b"zz\r\n"])
        elif body or r.random() < 0.1:
            hs.append("Content-Length: " + r.choice(
                [str(len(body))] * 6 + ["-1", "99999999999999999999", "abc"]))
        if body and r.random() < 0.8:
            hs.append("Content-Type: " + r.choice([
                "application/json", "application/json; charset=utf-8",
                "text/plain", "application/yaml", "", "multipart/form-data"]))
        line = "%s %s %s" % (method, path, version) if version \
            else "%s %s" % (method, path)
        data = (line + "\r\n" + "".join(h + "\r\n" for h in hs)
                + ("\r\n" if version else "")).encode("utf-8",
                                                       "surrogateescape")
        if version:
            data += body
        if r.random() < 0.05:
            data = bytearray(data)
            for _ in range(r.randrange(1, 4)):
                data[r.randrange(len(data))] = r.randrange(256)
            data = bytes(data)
        return self.ports[kind], data


def exchange(port, data):
    """The response's head, or "" if the gateway closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.settimeout(5)
        try:
            s.sendall(data)
        except OSError:             # refused mid-way: look at the answer
            pass
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return out


def check(out, data, port):
    """Problems with one answer."""
    # interim 100 Continue answers come before the final one
    while out.startswith(b"HTTP/1.1 100 "):
        out = out.partition(b"\r\n\r\n")[2]
    if not out.startswith(b"HTTP/1."):
        return []                   # HTTP/0.9 (body only) or nothing
    head = out.partition(b"\r\n\r\n")[0]
    status = int(head[9:12])
    problems = []
    if status >= 500 and status not in (501, 502, 503, 504, 505):
        problems.append("status %d" % status)
    if status >= 400 and b"\r\nContent-Type: application/json" not in head:
        problems.append("%d without JSON" % status)
    return ["port %d: %s for %r" % (port, p, data[:300]) for p in problems]


def test_malformed_requests_from_many_clients(module_nginx_factory, whisk,
                                              tmp_path):
    rsa = Key("RSA", "rsa")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [rsa.jwk()]}))
    (tmp_path / "keys.txt").write_text(
        "key %s id=r consumer=robust\n"
        % hashlib.sha256(API_KEY.encode()).hexdigest())
    token = make_token(rsa, {"iss": "robust", "aud": "robust", "sub": "u",
                             "exp": 4102444800, "scope": "read"})
    sec = (tmp_path / "sec.yaml")
    sec.write_text("""openapi: 3.0.3
info: {title: Secured, version: '1'}
servers: [{url: /s}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
    jwt:
      type: http
      scheme: bearer
      x-apigw-jwt: {issuer: robust, audiences: robust, jwks_file: %s}
x-apigw-rate-limit: [{rate: 100000, per: second, key: consumer}]
x-apigw-backend: {url: '%s/raw/sec/{id}'}
paths:
  /key/{id}:
    get: {security: [{key: []}]}
  /jwt/{id}:
    get: {security: [{jwt: [read]}]}
  /both/{id}:
    get: {security: [{key: [], jwt: []}]}
    post: {security: [{key: []}]}
""" % (tmp_path / "jwks.json", whisk.url))
    specs = [harness.render_spec(n, str(tmp_path), WHISK=whisk.url)
             for n in ("validate.yaml", "cors-apigw.yaml")]
    dport = harness.free_port()
    g = Gateway(module_nginx_factory, new_store_dir(), workers=2,
                extra_http="""
apigw_keys_file %s;
server {
    listen 127.0.0.1:%d;
    location / {
        apigw; apigw_validate on; apigw_openwhisk_url %s;
        apigw_spec %s; apigw_spec %s; apigw_spec %s;
        apigw_rate_limit rate=100000r/s key=address;
    }
    location /p/ { apigw; apigw_spec %s; }
}""" % (tmp_path / "keys.txt", dport, whisk.url, specs[0], specs[1], sec,
                    sec)).start()
    doc = wsk_swagger(whisk.url, "/club", "Club")
    wsk_add_endpoint(doc, whisk.url, "/hello", "get", "echo-http")
    assert g.admin("POST", "/v2/t/apis", doc).status == 200
    g.wait_status("GET", "/api/t/club/hello", 200)

    problems = []

    def client(n):
        gen = Requests(SEED + n, token, {"spec": dport, "managed": g.port,
                                         "admin": g.aport})
        for _ in range(REQUESTS // CLIENTS):
            port, data = gen.next()
            problems.extend(check(exchange(port, data), data, port))

    threads = [threading.Thread(target=client, args=(n,))
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not problems, "seed %d:\n%s" % (SEED, "\n".join(problems[:20]))
    log = g.nginx.log()
    assert "exited on signal" not in log, log[-3000:]
    # and everything still works
    assert g.get("/api/t/club/hello").status == 200
    assert harness.request(dport, "GET", "/s/key/1",
                           [("X-Api-Key", API_KEY)]).status == 200
    assert harness.request(dport, "GET", "/s/jwt/1", [
        ("Authorization", "Bearer " + token)]).status == 200
    assert g.admin("GET", "/v2/t/apis").status == 200
