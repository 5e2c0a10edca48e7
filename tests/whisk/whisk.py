#!/usr/bin/python3
"""OpenWhisk controller stand-in for apigw's tests and demo.

Implements, for a fixed set of test actions, the web-action API
(/api/v1/web/...) and the invoke REST API (/api/v1/namespaces/...) exactly as
described in shared/reference/openwhisk-web-actions.md, plus:

  /_whisk/...   introspection for tests (stats, last request, log, reset)
  /raw/...      a plain echo backend for non-OpenWhisk upstreams

Usage:  /usr/bin/python3 whisk.py [--host 127.0.0.1] [--port 0] [--port-file F]
Embed:  server, port = start_server("127.0.0.1", 0); ...; stop_server(server)

Standard library only.  See README.md next to this file.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import http.server
import json
import os
import re
import secrets
import signal
import socket
import string
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus

# --------------------------------------------------------------------------
# Limits, identities, messages
# --------------------------------------------------------------------------

MIB = 1024 * 1024
PAYLOAD_LIMIT = MIB             # namespace max payload (§1.3 step 5)
UPLOAD_LIMIT = 128 * MIB        # raised limit of the `upload` action
RESULT_LIMIT = MIB              # max action result (§3.1)
MAX_URI = 8192                  # controller max-uri-length
MAX_WAIT_MS = 60000             # max-wait-for-blocking-activation
DRAIN_CAP = 256 * MIB           # unread bodies bigger than this: close instead
PREVIEW = 64 * 1024             # /_whisk/last keeps bodies up to this size
PIECE = 64 * 1024               # body read granularity

GUEST_KEY = ("23bc46b1-71f6-4ed5-8c54-816aa4f8c502:"
             "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")
SYSTEM_KEY = ("789c46b1-71f6-4ed5-8c54-816aa4f8c502:"
              "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")
IDENTITIES = {GUEST_KEY: "guest", SYSTEM_KEY: "whisk.system"}


class M:
    """Messages (OpenWhisk ErrorResponse.Messages and framework defaults)."""
    NOT_EXIST = "The requested resource does not exist."
    NOT_FOUND = "The requested resource could not be found."
    NOT_AUTHORIZED = ("The supplied authentication is not authorized to "
                      "access this resource.")
    UNAUTHENTICATED = ("Authentication is possible but has failed or not yet "
                       "been provided.")
    AUTH_MISSING = ("The resource requires authentication, which was not "
                    "supplied with the request")
    AUTH_INVALID = "The supplied authentication is invalid"
    RESERVED = ("Request defines parameters that are not allowed "
                "(e.g., reserved properties).")
    DEV_ERROR = "There was an error processing your request."
    NOT_READY = "Response not yet ready."
    INTERNAL = "There was an internal server error."
    INVALID_HTTP = "Response is not valid 'message/http'."
    INVALID_JSON = "Response is not valid 'application/json'."
    INVALID_HTML = "Response is not valid 'text/html'."
    INVALID_SVG = "Response is not valid 'image/svg+xml'."
    UNKNOWN_CT = "Response did not specify a known content-type."
    CT_MISMATCH = "Response type in header did not match generated content type."
    NO_PROPERTY = "Response does not include requested property."
    NOT_ACCEPTABLE = "Resource representation is only available with these types:\n"
    MALFORMED = "The request content was malformed:\n"
    BAD_TIMEOUT = "Timeout must be number of milliseconds up to 60000."
    UNSUPPORTED_CT = "The request's Content-Type is not supported. Expected:\napplication/json"
    METHOD_NOT_ALLOWED = "HTTP method not allowed, supported methods: "

    @staticmethod
    def too_large(n: int, limit: int) -> str:
        return f"Request larger than allowed: {n} > {limit} bytes."


WEB_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
WEB_CORS_METHODS = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
REST_CORS_METHODS = "GET, DELETE, POST, PUT, HEAD"
CORS_DEFAULT_HEADERS = ("Authorization, Origin, X-Requested-With, Content-Type, "
                        "Accept, User-Agent")
EXTENSIONS = (".http", ".json", ".html", ".svg", ".text")
RESERVED = frozenset(("__ow_method", "__ow_headers", "__ow_path", "__ow_user",
                      "__ow_query", "__ow_body"))
NAME_RE = re.compile(r"[\w]|[\w][\w@ .&-]{0,254}[\w@.&-]", re.ASCII)
PCHAR_SAFE = "!$&'()*+,;=:@-._~"          # kept as-is in a rendered path segment
TID_CHARS = string.ascii_letters + string.digits
QUERY_SAFE = "!$'()*,:@/?-._~"            # kept as-is in a rendered query part

# --------------------------------------------------------------------------
# JSON: spray-json's PrettyPrinter (2-space objects, inline arrays)
# --------------------------------------------------------------------------


def pretty(value: Any, indent: int = 0) -> str:
    if isinstance(value, dict):
        pad = " " * (indent + 2)
        members = ",\n".join(
            pad + json.dumps(str(k), ensure_ascii=False) + ": " + pretty(v, indent + 2)
            for k, v in value.items())
        return "{\n" + members + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(pretty(v, indent) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def pretty_bytes(value: Any) -> bytes:
    return pretty(value).encode("utf-8")


def _no_constants(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def parse_json(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"), parse_constant=_no_constants)


def scalar_text(v: Any) -> str:
    """A JSON scalar as header/text value (strings unquoted)."""
    if isinstance(v, str):
        return v
    return json.dumps(v)

# --------------------------------------------------------------------------
# Media types (§2.4, §3.4)
# --------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKEN_RE = re.compile(_TOKEN)
_MT_RE = re.compile(rf"[ \t]*({_TOKEN})/({_TOKEN})[ \t]*")
_PARAM_RE = re.compile(rf";[ \t]*({_TOKEN})[ \t]*=[ \t]*({_TOKEN}|\"(?:[^\"\\]|\\.)*\")[ \t]*")

TEXT_TYPES = frozenset("""
text/asp text/cache-manifest text/calendar text/css text/csv text/event-stream
text/html text/markdown text/mcf text/plain text/richtext
text/tab-separated-values text/uri-list text/vnd.wap.wml text/vnd.wap.wmlscript
text/x-asm text/x-c text/x-component text/x-h text/x-java-source text/x-pascal
text/x-script text/x-scriptcsh text/x-scriptelisp text/x-scriptksh
text/x-scriptlisp text/x-scriptperl text/x-scriptperl-module
text/x-scriptphyton text/x-scriptrexx text/x-scriptscheme text/x-scriptsh
text/x-scripttcl text/x-scripttcsh text/x-scriptzsh text/x-server-parsed-html
text/x-setext text/x-sgml text/x-speech text/x-uuencode text/x-vcalendar
text/x-vcard text/xml
application/json application/json-patch+json application/merge-patch+json
application/problem+json application/vnd.api+json
application/x-www-form-urlencoded application/javascript application/xml
application/xhtml+xml application/atom+xml application/rss+xml
application/soap+xml application/problem+xml application/xml-dtd
application/base64 application/x-latex application/x-vrml
""".split())
BINARY_TYPES = frozenset("""
application/octet-stream application/pdf application/zip application/gzip
application/x-gzip application/x-tar application/cbor application/grpc+proto
application/msword application/java-archive application/x-7z-compressed
application/x-rar-compressed application/postscript application/x-tex
application/x-dvi application/x-shockwave-flash
""".split())
BINARY_PREFIXES = ("application/vnd.ms-", "application/vnd.openxmlformats-",
                   "application/vnd.oasis.opendocument.")
BINARY_MAIN = frozenset(("image", "audio", "video", "font", "message", "multipart"))


@dataclass(frozen=True)
class MediaType:
    main: str
    sub: str
    params: tuple = ()          # ((name, value), ...), names lower-case

    @property
    def type(self) -> str:
        return f"{self.main}/{self.sub}"

    def param(self, name: str) -> Optional[str]:
        for k, v in self.params:
            if k == name:
                return v
        return None

    def render(self, charset: str = "keep") -> str:
        """charset: 'keep' (upper-cased), 'utf8' (forced) or 'drop'."""
        out = self.type
        params = [(k, v) for k, v in self.params if k != "charset"]
        cs = self.param("charset")
        if charset == "utf8":
            params.insert(0, ("charset", "UTF-8"))
        elif charset == "keep" and cs is not None:
            params.insert(0, ("charset", cs.upper()))
        for k, v in params:
            if not _TOKEN_RE.fullmatch(v):
                v = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out += f"; {k}={v}"
        return out


OCTET_STREAM = MediaType("application", "octet-stream")


def parse_media_type(value: Optional[str]) -> Optional[MediaType]:
    if value is None:
        return None
    m = _MT_RE.match(value)
    if not m:
        return None
    params, pos = [], m.end()
    while pos < len(value):
        pm = _PARAM_RE.match(value, pos)
        if not pm:
            if value[pos:].strip(" \t;") == "":
                break
            return None
        v = pm.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        params.append((pm.group(1).lower(), v))
        pos = pm.end()
    return MediaType(m.group(1).lower(), m.group(2).lower(), tuple(params))


def is_json_family(mt: MediaType) -> bool:
    return mt.type == "application/json" or mt.sub.endswith("+json")


def is_binary(mt: MediaType) -> bool:
    if mt.main in BINARY_MAIN:
        return True
    if mt.type in TEXT_TYPES:
        return False
    if mt.type in BINARY_TYPES or mt.type.startswith(BINARY_PREFIXES):
        return True
    return mt.param("charset") is None      # unregistered: charset decides


def request_content_type(mt: MediaType) -> str:
    """How the controller renders a request's Content-Type (__ow_headers)."""
    return mt.render("drop" if mt.type == "application/json" else "keep")


def response_content_type(mt: MediaType) -> str:
    """§3.4: text forced to UTF-8, JSON and binary without a charset."""
    if is_json_family(mt) or is_binary(mt):
        return mt.render("drop")
    return mt.render("utf8")


_B64_LOOK_RE = re.compile(
    r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)")
_B64_CHARS_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def looks_like_base64(s: str) -> bool:
    return (len(s.strip()) > 0 and len(s) % 4 == 0
            and _B64_LOOK_RE.fullmatch(s) is not None)


def b64decode_strict(s: str) -> bytes:
    """java.util.Base64.getDecoder(): strict alphabet, padding optional."""
    if not _B64_CHARS_RE.fullmatch(s):
        raise ValueError("illegal base64 character")
    core = s.rstrip("=")
    if len(core) % 4 == 1 or ("=" in s and len(s) % 4 != 0):
        raise ValueError("bad base64 length")
    return base64.b64decode(core + "=" * (-len(core) % 4))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def acceptable(accept: Optional[str], mt: MediaType) -> bool:
    """Whether an Accept header admits mt (most specific range decides)."""
    if accept is None or not accept.strip():
        return True
    best = None
    for rng in accept.split(","):
        rmt = parse_media_type(rng)
        if rmt is None:
            continue
        try:
            q = float(rmt.param("q") or 1)
        except ValueError:
            q = 1.0
        if rmt.main == "*" and rmt.sub == "*":
            spec = 0
        elif rmt.main == mt.main and rmt.sub == "*":
            spec = 1
        elif rmt.type == mt.type:
            spec = 2
        else:
            continue
        if best is None or spec > best[0]:
            best = (spec, q)
    return best is not None and best[1] > 0


def render_query(query: str) -> str:
    """Akka's Uri.Query rendering of a parsed query (the __ow_query quirk)."""
    out = []
    for part in query.split("&") if query else []:
        key, eq, value = part.partition("=")
        item = quote_plus(unquote_plus(key), safe=QUERY_SAFE)
        if eq:
            item += "=" + quote_plus(unquote_plus(value), safe=QUERY_SAFE)
        out.append(item)
    return "&".join(out)

# --------------------------------------------------------------------------
# Test actions
# --------------------------------------------------------------------------


def make_png(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 32, y * 32, 160)) for x in range(width))
        for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG_BYTES = make_png()
SVG_DOC = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
           '<circle cx="32" cy="32" r="30" fill="#1f77b4"/></svg>')
BOOKS = {
    "1": {"id": "1", "title": "Dune", "author": "Frank Herbert"},
    "2": {"id": "2", "title": "Neuromancer", "author": "William Gibson"},
    "3": {"id": "3", "title": "Snow Crash", "author": "Neal Stephenson"},
}


def a_echo(p):
    return p


def a_echo_http(p):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": p}


def a_custom_options(p):
    cors = {"Access-Control-Allow-Origin": "https://custom.example",
            "X-Custom-Options": "handled"}
    if p.get("__ow_method") == "options":
        cors.update({"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                     "Access-Control-Allow-Headers": "X-Custom-Header, Content-Type",
                     "Access-Control-Max-Age": "600"})
        return {"statusCode": 200, "headers": cors}
    return {"headers": cors, "body": {"method": p.get("__ow_method")}}


def a_image(p):
    return {"headers": {"content-type": "image/png"}, "body": b64(PNG_BYTES)}


def a_bytes(p):
    ct = p["__ow_headers"].get("content-type")
    if "__ow_body" in p:
        body = p["__ow_body"]
        mt = parse_media_type(ct)
        if isinstance(body, str) and mt is not None and not is_json_family(mt):
            return {"headers": {"content-type": ct}, "body": body}
        return {"headers": {"content-type": "application/json"}, "body": body}
    fields = {k: v for k, v in p.items() if not k.startswith("__ow_")}
    if not fields:
        return {}
    return {"headers": {"content-type": "application/json"}, "body": fields}


def a_redirect(p):
    return {"statusCode": 302,
            "headers": {"location": p.get("location", "http://openwhisk.org")}}


def a_cookies(p):
    return {"headers": {"Set-Cookie": ["session=abc123; Path=/; HttpOnly",
                                       "theme=dark; Path=/"],
                        "content-type": "text/plain"},
            "body": "two cookies set"}


def a_status(p):
    result = {"statusCode": p.get("code", 200)}
    for key in ("body", "headers"):
        if key in p:
            result[key] = p[key]
    return result


def a_html(p):
    name = str(p.get("name", "stranger"))
    name = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"html": f"<html><body><h1>Hello, {name}!</h1></body></html>"}


def a_index(p):
    return {"html": "<!doctype html><html><head><title>guest</title></head>"
                    "<body><h1 id=\"home\">guest's home page</h1></body></html>"}


def a_svg(p):
    return {"svg": SVG_DOC}


def a_text(p):
    return {"text": p.get("text", "Hello, text!")}


def a_slow(p):
    ms = max(0, min(int(float(p.get("ms", 2000))), 600000))
    time.sleep(ms / 1000)
    return {"slept_ms": ms}


def a_fail(p):
    return {"error": p.get("error", "This action failed on purpose.")}


def a_crash(p):
    raise RuntimeError("this action crashed on purpose")


def a_headers(p):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": p["__ow_headers"]}


def a_upload(p, digest):
    return {"bytes": digest["bytes"], "sha256": digest["sha256"],
            "body": dict(digest)}


def a_cors(p):
    return {"headers": {"Access-Control-Allow-Origin": "https://backend.example"},
            "body": {"cors": "set by the action"}}


def a_respond(p):
    if "result" in p:
        return p["result"]
    if "json" in p:
        return json.loads(p["json"])
    return {}


def a_big(p):
    return {"body": "x" * int(p.get("size", 2 * MIB))}


def a_hello(p):
    return {"greeting": f"Hello, {p.get('name', 'stranger')}!"}


def a_greet(p):
    # the name is the last segment of the path the gateway appended
    name = p.get("__ow_path", "").rstrip("/").rsplit("/", 1)[-1] or "stranger"
    return {"statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": {"greeting": f"Hello, {name}!",
                     "__ow_path": p.get("__ow_path", "")}}


def a_books(p):
    # the book id is the last segment of __ow_path (`.http` actions behind a
    # gateway see the whole request path, base path included)
    key = p.get("__ow_path", "").rstrip("/").rsplit("/", 1)[-1]
    if key == "books":
        key = ""
    if not key:
        return {"library": p.get("library"), "books": list(BOOKS.values())}
    # one book: an HTTP response (the demo maps /books/{isbn} to `.http`)
    if key in BOOKS:
        return {"statusCode": 200,
                "headers": {"content-type": "application/json"},
                "body": dict(BOOKS[key])}
    return {"statusCode": 404,
            "headers": {"content-type": "application/json"},
            "body": {"message": f"No book with id {key}."}}


# A page for browsers (the custom-domain browser test): shows an image of
# its own site, calls the API at ?api= with the key in the fragment #key=
# (never sent to a server: a CORS request with credentials and a
# preflight), and sets a cookie.
PAGE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>apigw browser test</title>
<style>body{font:16px sans-serif;margin:2em} pre{background:#eee;padding:1em;
white-space:pre-wrap;word-break:break-all}
</style></head>
<body><h1>apigw on a custom domain</h1>
<img id="logo" src="logo.png" width="96" height="96" alt="logo">
<pre id="data">pending</pre>
<p id="img">pending</p><p id="cookie">pending</p><p id="done"></p>
<script>
const q = new URLSearchParams(location.search);
const frag = new URLSearchParams(location.hash.slice(1));
document.cookie = "seen=1; Path=/; Secure; SameSite=Lax";
const img = document.getElementById("logo");
const loaded = new Promise(ok => {
  if (img.complete) { ok(); } else { img.onload = ok; img.onerror = ok; }
});
const call = fetch(q.get("api"), {credentials: "include",
                                  headers: {"X-Api-Key": frag.get("key")}})
  .then(r => r.json().then(j => ({status: r.status, body: j})))
  .catch(e => ({error: String(e)}));
Promise.all([loaded, call]).then(([_, res]) => {
  document.getElementById("data").textContent = JSON.stringify(res);
  document.getElementById("img").textContent =
    "naturalWidth=" + img.naturalWidth;
  document.getElementById("cookie").textContent = "cookie=" + document.cookie;
  document.getElementById("done").textContent = "done";
});
</script></body></html>
"""


def a_page(p):
    return {"statusCode": 200,
            "headers": {"content-type": "text/html; charset=utf-8",
                        "Set-Cookie": ["theme=dark; Path=/; Secure; "
                                       "SameSite=Lax",
                                       "visits=1; Path=/; Secure; "
                                       "SameSite=Lax"]},
            "body": PAGE_HTML}


def a_profile(p):
    h = p.get("__ow_headers", {})
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": {"user": "ada", "plan": "gold",
                     "consumer": h.get("x-apigw-consumer"),
                     "origin": h.get("origin")}}


ETAG = '"v1-5d41402a"'


def a_etag(p):
    """A conditional web action: 304 when If-None-Match has its ETag."""
    h = p.get("__ow_headers", {})
    if ETAG in [t.strip() for t in h.get("if-none-match", "").split(",")]:
        return {"statusCode": 304, "headers": {"ETag": ETAG}}
    return {"statusCode": 200,
            "headers": {"ETag": ETAG, "content-type": "application/json",
                        "Cache-Control": "no-cache"},
            "body": {"version": 1}}


WEB = {"web-export": True, "raw-http": False, "final": True}   # --web true


@dataclass
class Package:
    namespace: str
    name: str
    params: dict = field(default_factory=dict)


@dataclass
class Action:
    namespace: str
    package: str                # "default" for the namespace's default package
    name: str
    fn: Callable
    annotations: dict = field(default_factory=lambda: dict(WEB))
    params: dict = field(default_factory=dict)
    timeout_ms: int = 60000     # action time limit
    payload_limit: int = PAYLOAD_LIMIT
    streaming: bool = False     # fn(params, digest); body hashed, never held
    threaded: bool = False      # may outlive the blocking wait

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.package}/{self.name}"

    @property
    def path(self) -> str:      # OpenWhisk's "path" annotation form
        if self.package == "default":
            return f"{self.namespace}/{self.name}"
        return f"{self.namespace}/{self.package}/{self.name}"


def _web(**extra) -> dict:
    return {**WEB, **extra}


PACKAGES = {
    ("guest", "default"): Package("guest", "default"),
    ("guest", "demo"): Package("guest", "demo", {"library": "Demo Library"}),
    # what a vanity host's "/" shows: /api/v1/web/{ns}/public/index.html
    ("guest", "public"): Package("guest", "public"),
}
_ACTION_LIST = [
    Action("guest", "default", "echo", a_echo),
    Action("guest", "default", "echo-http", a_echo_http),
    Action("guest", "default", "raw-echo", a_echo, _web(**{"raw-http": True})),
    Action("guest", "default", "secure-echo", a_echo,
           _web(**{"require-whisk-auth": "s3cr3t-token"})),
    Action("guest", "default", "secure-greet", a_greet,
           _web(**{"require-whisk-auth": "s3cr3t-token"})),
    Action("guest", "default", "secure-num", a_echo,
           _web(**{"require-whisk-auth": 12345})),
    Action("guest", "default", "secure-basic", a_echo,
           _web(**{"require-whisk-auth": True})),
    Action("guest", "default", "custom-options", a_custom_options,
           _web(**{"web-custom-options": True})),
    Action("guest", "default", "secure-options", a_custom_options,
           _web(**{"web-custom-options": True,
                   "require-whisk-auth": "s3cr3t-token"})),
    Action("guest", "default", "hidden", a_echo,
           {"web-export": False, "raw-http": False, "final": False}),
    Action("guest", "default", "fixed", a_echo,
           params={"fixed": "preset", "empty": None}),
    Action("guest", "default", "image", a_image),
    Action("guest", "default", "bytes", a_bytes),
    Action("guest", "default", "redirect", a_redirect),
    Action("guest", "default", "cookies", a_cookies),
    Action("guest", "default", "status", a_status),
    Action("guest", "default", "html", a_html),
    Action("guest", "default", "svg", a_svg),
    Action("guest", "default", "text", a_text),
    Action("guest", "default", "slow", a_slow, threaded=True),
    Action("guest", "default", "fail", a_fail),
    Action("guest", "default", "crash", a_crash),
    Action("guest", "default", "headers", a_headers),
    Action("guest", "default", "upload", a_upload, payload_limit=UPLOAD_LIMIT,
           streaming=True),
    Action("guest", "default", "cors", a_cors),
    Action("guest", "default", "respond", a_respond),
    Action("guest", "default", "big", a_big),
    Action("guest", "default", "page", a_page),
    Action("guest", "default", "profile", a_profile),
    Action("guest", "default", "etag", a_etag),
    Action("guest", "demo", "hello", a_hello),
    Action("guest", "demo", "books", a_books),
    Action("guest", "public", "index", a_index),
]
ACTIONS = {(a.namespace, a.package, a.name): a for a in _ACTION_LIST}
NAMESPACES = frozenset(ns for ns, _ in PACKAGES)

# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------

SUCCESS = "success"
APP_ERROR = "application error"
DEV_ERROR = "action developer error"
INTERNAL_ERROR = "whisk internal error"


class Activation:
    def __init__(self, action: Action, subject: str):
        self.id = uuid.uuid4().hex
        self.action = action
        self.subject = subject
        self.start = time.time()
        self.end: Optional[float] = None
        self.status: Optional[str] = None
        self.result: Any = None
        self.lock = threading.Lock()
        self.done = threading.Event()

    def finish(self, status: str, result: Any) -> None:
        with self.lock:
            if self.done.is_set():
                return
            self.status, self.result, self.end = status, result, time.time()
            self.done.set()

    def record(self) -> dict:
        start = int(self.start * 1000)
        end = int(self.end * 1000) if self.end else 0
        a = self.action
        return {
            "namespace": self.subject, "name": a.name, "version": "0.0.1",
            "subject": self.subject, "activationId": self.id,
            "start": start, "end": end, "duration": max(0, end - start) if end else 0,
            "publish": False,
            "annotations": [
                {"key": "path", "value": a.path}, {"key": "waitTime", "value": 1},
                {"key": "kind", "value": "python:3"},
                {"key": "limits", "value": {"timeout": a.timeout_ms,
                                            "memory": 256, "logs": 10}}],
            "response": {"status": self.status, "success": self.status == SUCCESS,
                         "result": self.result},
            "logs": []}


def run_action(action: Action, params: dict, digest: Optional[dict]):
    """Run an action function; returns (status, result) like an invoker."""
    try:
        result = action.fn(params, digest) if action.streaming else action.fn(params)
    except Exception as exc:   # the action "crashed"
        return DEV_ERROR, {"error": f"An error has occurred: {type(exc).__name__}: {exc}"}
    if not isinstance(result, (dict, list)):
        return DEV_ERROR, {"error": "The action did not return a dictionary."}
    try:
        size = len(json.dumps(result, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError):
        return DEV_ERROR, {"error": "The action did not produce a valid JSON response."}
    if size > RESULT_LIMIT:
        return APP_ERROR, {"error": "The action produced a response that exceeded "
                           f"the allowed length: {size} > {RESULT_LIMIT} bytes."}
    if isinstance(result, dict) and "error" in result:
        return APP_ERROR, result
    return SUCCESS, result

# --------------------------------------------------------------------------
# Shared state: counters, request log, activations
# --------------------------------------------------------------------------


class State:
    def __init__(self, max_wait_ms: int = MAX_WAIT_MS, log_size: int = 1000):
        self.max_wait_ms = max_wait_ms
        self.lock = threading.Lock()
        self.log: deque = deque(maxlen=log_size)
        self.activations: OrderedDict = OrderedDict()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.calls = 0
            self.raw_calls = 0
            self.connections = 0
            self.generation = getattr(self, "generation", 0) + 1
            self.by_action: dict = {}
            self.seq = 0
            self.log.clear()
            self.activations.clear()

    def record(self, kind: str, entry: dict) -> dict:
        with self.lock:
            self.seq += 1
            entry = {"seq": self.seq, "kind": kind, **entry}
            if kind == "raw":
                self.raw_calls += 1
            else:
                self.calls += 1
            self.log.append(entry)
        return entry

    def count_connection(self, handler) -> None:
        """Count the TCP connection of `handler` once per reset, on its first
        counted (non-introspection) request: `connections` tells a client
        that reuses connections (keep-alive) from one that does not."""
        with self.lock:
            if getattr(handler, "counted_generation", None) != self.generation:
                handler.counted_generation = self.generation
                self.connections += 1

    def count_action(self, entry: dict, key: str) -> None:
        with self.lock:
            entry["action"] = key
            self.by_action[key] = self.by_action.get(key, 0) + 1

    def stats(self) -> dict:
        with self.lock:
            return {"calls": self.calls, "raw_calls": self.raw_calls,
                    "connections": self.connections,
                    "by_action": dict(self.by_action)}

    def entries(self, kinds) -> list:
        with self.lock:
            return [dict(e) for e in self.log if e["kind"] in kinds]

    def invoke(self, action: Action, params: dict, subject: str,
               digest: Optional[dict] = None, blocking: bool = True,
               wait_ms: Optional[int] = None) -> Activation:
        """Start an activation; returns it, done or not (not done = 202)."""
        act = Activation(action, subject)
        with self.lock:
            self.activations[act.id] = act
            while len(self.activations) > 1000:
                self.activations.popitem(last=False)

        def work():
            act.finish(*run_action(action, params, digest))

        if blocking and not action.threaded:
            work()
            return act
        threading.Thread(target=work, daemon=True).start()
        if blocking:
            wait = min(self.max_wait_ms if wait_ms is None else wait_ms,
                       action.timeout_ms)
            if not act.done.wait(wait / 1000) and action.timeout_ms <= wait:
                act.finish(DEV_ERROR, {"error": "The action exceeded its time limits "
                                       f"of {action.timeout_ms} milliseconds."})
        return act

# --------------------------------------------------------------------------
# HTTP plumbing: request body, responses, errors
# --------------------------------------------------------------------------


class ClientGone(Exception):
    pass


class BadFraming(Exception):
    pass


class TooLarge(Exception):
    def __init__(self, received: int):
        super().__init__(received)
        self.received = received


@dataclass
class Response:
    status: int
    headers: list = field(default_factory=list)   # [(name, value)], order kept
    body: bytes = b""
    file: Any = None                              # stream instead of body
    length: int = 0


class HttpError(Exception):
    """An OpenWhisk error response: pretty {"error", "code"} JSON."""

    def __init__(self, status: int, message: str, headers: Optional[list] = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.headers = list(headers or [])


def error_response(status: int, message: str, tid: str, headers=()) -> Response:
    return Response(status, [*headers, ("Content-Type", "application/json")],
                    pretty_bytes({"error": message, "code": tid}))


class Body:
    """The request body, read incrementally (Content-Length or chunked)."""

    def __init__(self, handler: "Handler"):
        self.h = handler
        te = [t.strip().lower() for v in handler.headers.get_all("Transfer-Encoding", [])
              for t in v.split(",") if t.strip()]
        self.chunked = bool(te)
        if te and te[-1] != "chunked":
            raise BadFraming("unsupported transfer-encoding")
        self.length: Optional[int] = None
        if not self.chunked:
            values = {v.strip() for v in handler.headers.get_all("Content-Length", [])}
            if len(values) > 1 or any(not re.fullmatch(r"[0-9]{1,18}", v) for v in values):
                raise BadFraming("bad content-length")
            self.length = int(values.pop()) if values else 0
        self.present = self.chunked or self.length > 0
        self.done = not self.present
        self.received = 0
        self.sha = hashlib.sha256()
        self.preview = bytearray()
        self._chunk_left = 0
        self.broken = False             # framing error or EOF: stop reading

    def _readline(self) -> bytes:
        line = self.h.rfile.readline(65537)
        if not line:
            raise ClientGone()
        if len(line) > 65536:
            raise BadFraming("line too long")
        return line

    def _read(self, n: int) -> bytes:
        data = self.h.rfile.read(n)
        if not data:
            raise ClientGone()
        return data

    def read_piece(self) -> bytes:
        """Next piece of the body, b"" at the end."""
        if self.done:
            return b""
        try:
            return self._read_piece()
        except (BadFraming, ClientGone, OSError):
            self.broken = True
            raise

    def _read_piece(self) -> bytes:
        if self.h.expect_pending:
            self.h.expect_pending = False
            self.h.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.h.wfile.flush()
        if not self.chunked:
            left = self.length - self.received
            if left <= 0:
                self.done = True
                return b""
            data = self._read(min(PIECE, left))
        else:
            while self._chunk_left == 0:
                size = self._readline().split(b";", 1)[0].strip()
                if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size):
                    raise BadFraming("bad chunk size")
                self._chunk_left = int(size, 16)
                if self._chunk_left == 0:
                    while self._readline() not in (b"\r\n", b"\n"):
                        pass           # trailers are ignored
                    self.done = True
                    return b""
            data = self._read(min(PIECE, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0 and self._readline() not in (b"\r\n", b"\n"):
                raise BadFraming("missing chunk terminator")
        self.received += len(data)
        self.sha.update(data)
        if len(self.preview) <= PREVIEW:
            self.preview += data[:PREVIEW + 1 - len(self.preview)]
        return data

    def stream(self, limit: Optional[int] = None):
        while True:
            data = self.read_piece()
            if not data:
                return
            if limit is not None and self.received > limit:
                raise TooLarge(self.received)
            yield data

    def read_all(self, limit: Optional[int] = None) -> bytes:
        return b"".join(self.stream(limit))

    def finish(self) -> bool:
        """Consume what is left; False if the connection must be closed."""
        if self.done:
            return True
        if self.broken or self.h.expect_pending:       # client waits for 100: never send it
            return False
        if self.length is not None and self.length - self.received > DRAIN_CAP:
            return False
        start = self.received
        try:
            while self.read_piece():
                if self.received - start > DRAIN_CAP:
                    return False
        except (BadFraming, ClientGone, OSError):
            return False
        return True

    def info(self) -> dict:
        small = len(self.preview) <= PREVIEW and self.done
        return {"body_length": self.received, "body_sha256": self.sha.hexdigest(),
                "body_complete": self.done,
                "body_base64": b64(bytes(self.preview)) if small else None}

# --------------------------------------------------------------------------
# Request context
# --------------------------------------------------------------------------


class Request:
    def __init__(self, handler: "Handler", path: str, query: str):
        self.h = handler
        self.method = handler.command
        self.path, self.query = path, query
        self.headers = handler.headers
        self.body: Body = handler.body
        self._tid: Optional[str] = None

    @property
    def tid(self) -> str:
        """Transaction id: X-Request-ID unless it starts with sid_ (§6)."""
        if self._tid is None:
            rid = (self.header("X-Request-ID") or "").strip()
            self._tid = rid if rid and not rid.startswith("sid_") else "".join(
                secrets.choice(TID_CHARS) for _ in range(32))
        return self._tid

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def identity(self) -> Optional[str]:
        """Namespace of valid Basic credentials, else None."""
        auth = self.header("Authorization") or ""
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            pair = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return IDENTITIES.get(pair)

    def cors(self, methods: str) -> list:
        req_headers = self.header("Access-Control-Request-Headers")
        return [("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", methods),
                ("Access-Control-Allow-Headers",
                 req_headers if req_headers is not None else CORS_DEFAULT_HEADERS)]

    def media_type(self) -> Optional[MediaType]:
        """The entity's media type (octet-stream if absent/unparseable);
        None when there is neither a body nor a Content-Type."""
        ct = self.header("Content-Type")
        if ct is None and not self.body.present:
            return None
        return parse_media_type(ct) or OCTET_STREAM

    def ow_headers(self) -> dict:
        out = {}
        for name, value in self.headers.items():
            low = name.lower()
            if low in ("content-length", "transfer-encoding", "content-type",
                       "x-ow-extra-logging", "timeout-access"):
                continue
            try:
                value = value.encode("latin-1").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
            out[low] = value.strip()
        mt = self.media_type()
        if mt is not None:
            out["content-type"] = request_content_type(mt)
        return out

# --------------------------------------------------------------------------
# Web actions (§1-§5)
# --------------------------------------------------------------------------

WEB_PREFIX = "/api/v1/web/"


def parse_web_path(path: str):
    """-> (namespace, package, action segment, __ow_path) or None (no route)."""
    if not path.startswith(WEB_PREFIX):
        return None
    parts = path[len(WEB_PREFIX):].split("/")
    if len(parts) < 3:
        return None
    names = [unquote(p) for p in parts[:3]]
    if not all(NAME_RE.fullmatch(n) for n in names):
        return None
    rest = ""
    if len(parts) > 3:
        rest = "/" + "/".join(quote(unquote(p), safe=PCHAR_SAFE) for p in parts[3:])
    return names[0], names[1], names[2], rest


def split_extension(segment: str):
    for ext in EXTENSIONS:
        if segment.endswith(ext):
            return segment[:-len(ext)], ext
    return segment, ".http"


def check_whisk_auth(action: Action, req: Request) -> bool:
    if "require-whisk-auth" not in action.annotations:
        return True
    want = action.annotations["require-whisk-auth"]
    if want is False:
        return True
    if want is True:
        return req.identity() is not None
    got = req.header("X-Require-Whisk-Auth")
    if isinstance(want, str):
        return got == want
    if isinstance(want, (int, float)):
        return got == json.dumps(want)
    return False


def web_params(action: Action, req: Request, rest: str, data: bytes) -> dict:
    """§2: build the action's parameters (raises HttpError 400)."""
    pkg = PACKAGES[(action.namespace, action.package)]
    params = {**pkg.params, **action.params}
    mt = req.media_type() or OCTET_STREAM
    context = {"__ow_method": req.method.lower(), "__ow_headers": req.ow_headers(),
               "__ow_path": rest}
    user = req.identity()
    if user is not None:
        context["__ow_user"] = user
    if action.annotations.get("raw-http") is True:
        if not data:
            body = ""
        elif mt.type == "application/json" or is_binary(mt):
            body = b64(data)
        else:
            body = data.decode("utf-8", "replace")
        return {**params, **context, "__ow_query": render_query(req.query),
                "__ow_body": body}
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    fields: dict = {}
    if data:
        if is_json_family(mt):
            try:
                value = parse_json(data)
            except ValueError as exc:
                raise HttpError(400, M.MALFORMED + str(exc))
            if isinstance(value, dict):
                fields = value
            else:
                context["__ow_body"] = value
        elif mt.type == "application/x-www-form-urlencoded":
            fields = dict(parse_qsl(data.decode("utf-8", "replace"),
                                    keep_blank_values=True))
        elif is_binary(mt):
            context["__ow_body"] = b64(data)
        else:
            context["__ow_body"] = data.decode("utf-8", "replace")
    given = set(query) | set(fields)
    if given & RESERVED:
        raise HttpError(400, M.RESERVED)
    if action.annotations.get("final") is True:
        fixed = {k for k, v in params.items() if v is not None}
        if given & fixed:
            raise HttpError(400, M.RESERVED)
    return {**params, **query, **fields, **context}


def parse_status_code(value: Any) -> int:
    if isinstance(value, bool):
        raise HttpError(400, M.INVALID_HTTP)
    if isinstance(value, int):
        code = value
    elif isinstance(value, float) and value.is_integer():
        code = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,9}", value):
        code = int(value)
    else:
        raise HttpError(400, M.INVALID_HTTP)
    if not 200 <= code <= 999:
        raise HttpError(400, M.INVALID_HTTP)
    return code


def http_result(value: Any, accept: Optional[str]) -> Response:
    """§3.2: transcode a `.http` result."""
    if not isinstance(value, dict):
        raise HttpError(400, M.INVALID_HTTP)
    raw_headers = value.get("headers", {})
    if not isinstance(raw_headers, dict):
        raise HttpError(400, M.INVALID_HTTP)
    headers, ctypes = [], []
    for name, v in raw_headers.items():
        items = v if isinstance(v, list) else [v]
        if not _TOKEN_RE.fullmatch(name):
            raise HttpError(400, M.INVALID_HTTP)
        for item in items:
            if item is None or isinstance(item, (dict, list)):
                raise HttpError(400, M.INVALID_HTTP)
            text = scalar_text(item)
            if "\r" in text or "\n" in text:
                raise HttpError(400, M.INVALID_HTTP)
            low = name.lower()
            if low == "content-type":
                ctypes.append(text)
            elif low not in ("content-length", "transfer-encoding", "connection"):
                headers.append((name, text))
    code = parse_status_code(value["statusCode"]) if "statusCode" in value else None
    body = value.get("body")
    if body is None or body == "":
        return Response(code or 204, headers)
    if isinstance(body, str):
        if not ctypes:
            mt, data = MediaType("text", "html"), body.encode("utf-8")
        else:
            mt = parse_media_type(ctypes[0])
            if mt is None:
                raise HttpError(400, M.UNKNOWN_CT)
            if is_json_family(mt) and looks_like_base64(body):
                data = base64.b64decode(body)
            elif not is_binary(mt):
                data = body.encode("utf-8")
            else:
                try:
                    data = b64decode_strict(body)
                except ValueError:
                    raise HttpError(400, M.CT_MISMATCH)
    else:
        mt = parse_media_type(ctypes[0]) if ctypes else MediaType("application", "json")
        if mt is None or not (mt.type == "application/json" or mt.sub.endswith("+json")):
            raise HttpError(400, M.CT_MISMATCH)
        data = pretty_bytes(body)
    rendered = response_content_type(mt)
    if not acceptable(accept, mt):
        raise HttpError(406, M.NOT_ACCEPTABLE + rendered)
    return Response(code or 200, headers + [("Content-Type", rendered)], data)


def _property(value: Any, key: str):
    if isinstance(value, dict):
        if "body" in value:
            return True, value["body"]
        if key in value:
            return True, value[key]
        return False, None
    return True, value


def transcode(ext: str, value: Any, accept: Optional[str]) -> Response:
    """§3.2/§3.3: turn a result (or an application error) into a response."""
    if ext == ".http":
        return http_result(value, accept)
    if ext == ".json":
        if not isinstance(value, (dict, list)):
            raise HttpError(400, M.INVALID_JSON)
        return Response(200, [("Content-Type", "application/json")], pretty_bytes(value))
    if ext in (".html", ".svg"):
        found, v = _property(value, ext[1:])
        if not found or not isinstance(v, str):
            raise HttpError(400, M.INVALID_HTML if ext == ".html" else M.INVALID_SVG)
        ctype = "text/html; charset=UTF-8" if ext == ".html" else "image/svg+xml"
        return Response(200, [("Content-Type", ctype)], v.encode("utf-8"))
    found, v = _property(value, "text")           # .text
    if not found:
        raise HttpError(404, M.NO_PROPERTY)
    text = v if isinstance(v, str) else pretty(v)
    return Response(200, [("Content-Type", "text/plain; charset=UTF-8")],
                    text.encode("utf-8"))


def read_web_body(action: Action, req: Request):
    """-> (bytes, None), or (b"", digest) for streaming actions. A chunked
    body over the limit is a 413 like a too-large Content-Length."""
    limit = action.payload_limit
    try:
        if not action.streaming:
            return req.body.read_all(limit), None
        for _ in req.body.stream(limit):
            pass
    except TooLarge as exc:
        raise HttpError(413, M.too_large(exc.received, limit))
    return b"", {"bytes": req.body.received, "sha256": req.body.sha.hexdigest()}


def handle_web(state: State, req: Request, entry: dict) -> Response:
    route = parse_web_path(req.path)
    if route is None:
        raise HttpError(404, M.NOT_FOUND)
    ns, pkg, segment, rest = route
    name, ext = split_extension(segment)
    state.count_action(entry, f"{ns}/{pkg}/{name}")
    if req.method not in WEB_METHODS:
        raise HttpError(405, M.METHOD_NOT_ALLOWED + ", ".join(WEB_METHODS))
    action = ACTIONS.get((ns, pkg, name))                       # steps 1-3
    if action is None or action.annotations.get("web-export") is not True:
        raise HttpError(404, M.NOT_EXIST)
    limit = action.payload_limit                                # step 5
    if req.body.length is not None and req.body.length > limit:
        raise HttpError(413, M.too_large(req.body.length, limit))
    custom = action.annotations.get("web-custom-options") is True
    cors = [] if custom else req.cors(WEB_CORS_METHODS)         # step 6
    if req.method == "OPTIONS" and not custom:
        return Response(200, cors)
    if not (req.method == "OPTIONS" and custom) and not check_whisk_auth(action, req):
        raise HttpError(401, M.UNAUTHENTICATED, cors)           # step 7
    data, digest = read_web_body(action, req)
    try:
        params = web_params(action, req, rest, data)            # step 8
    except HttpError as exc:
        exc.headers = cors + exc.headers
        raise
    act = state.invoke(action, params, ns, digest)              # step 9
    aid = [("x-openwhisk-activation-id", act.id)]
    if not act.done.is_set():
        raise HttpError(202, M.NOT_READY, cors + aid)
    if act.status in (DEV_ERROR, INTERNAL_ERROR):
        raise HttpError(400, M.DEV_ERROR, cors + aid)
    value = act.result["error"] if act.status == APP_ERROR else act.result
    try:
        resp = transcode(ext, value, req.header("Accept"))
    except HttpError as exc:
        exc.headers = cors + exc.headers + aid
        raise
    resp.headers = cors + resp.headers + aid
    return resp

# --------------------------------------------------------------------------
# Controller REST API (§7)
# --------------------------------------------------------------------------

ACTION_RE = re.compile(r"/api/v1/namespaces/([^/]+)/actions/([^/]+)(?:/([^/]+))?/?")
ACTIVATION_RE = re.compile(r"/api/v1/namespaces/([^/]+)/activations/([0-9a-f]{32})(/result)?/?")
BOOLS = {"true": True, "yes": True, "on": True, "1": True,
         "false": False, "no": False, "off": False, "0": False}


def _query_bool(query: dict, name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw.lower() not in BOOLS:
        raise HttpError(400, f"The query parameter '{name}' was malformed:\n"
                             f"'{raw}' is not a valid Boolean value")
    return BOOLS[raw.lower()]


def action_doc(action: Action, with_code: bool) -> dict:
    exec_ = {"kind": "python:3", "binary": False}
    if with_code:
        exec_["code"] = f"# stand-in action {action.path}\n"
    return {
        "namespace": action.namespace if action.package == "default"
        else f"{action.namespace}/{action.package}",
        "name": action.name, "version": "0.0.1", "publish": False, "exec": exec_,
        "annotations": [{"key": k, "value": v} for k, v in action.annotations.items()]
        + [{"key": "exec", "value": "python:3"}],
        "parameters": [{"key": k, "value": v} for k, v in action.params.items()],
        "limits": {"timeout": action.timeout_ms, "memory": 256, "logs": 10,
                   "concurrency": 1}}


def handle_rest(state: State, req: Request, entry: dict) -> Response:
    cors = req.cors(REST_CORS_METHODS)
    try:
        return _rest(state, req, entry, cors)
    except HttpError as exc:
        exc.headers = cors + exc.headers
        raise


def _rest(state: State, req: Request, entry: dict, cors: list) -> Response:
    am = ACTION_RE.fullmatch(req.path)
    vm = ACTIVATION_RE.fullmatch(req.path)
    if not am and not vm:
        raise HttpError(404, M.NOT_FOUND)
    ns = unquote((am or vm).group(1))
    if am:
        pkg, name = (unquote(am.group(2)), unquote(am.group(3))) if am.group(3) \
            else ("default", unquote(am.group(2)))
    subject = req.identity()
    if am:
        state.count_action(entry, f"{subject if ns == '_' and subject else ns}/{pkg}/{name}")
    challenge = [("WWW-Authenticate", 'Basic realm="OpenWhisk secure realm"')]
    if not (req.header("Authorization") or "").strip():
        raise HttpError(401, M.AUTH_MISSING, challenge)
    if subject is None:
        raise HttpError(401, M.AUTH_INVALID, challenge)
    if ns == "_":
        ns = subject
    if ns != subject:
        raise HttpError(403, M.NOT_AUTHORIZED)
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    if vm:                                   # GET .../activations/{id}[/result]
        if req.method != "GET":
            raise HttpError(405, M.METHOD_NOT_ALLOWED + "GET")
        act = state.activations.get(vm.group(2))
        if act is None or not act.done.is_set() or act.subject != ns:
            raise HttpError(404, M.NOT_EXIST)
        rec = act.record()
        return Response(200, cors + [("Content-Type", "application/json")],
                        pretty_bytes(rec["response"] if vm.group(3) else rec))
    action = ACTIONS.get((ns, pkg, name))
    if req.method == "GET":
        if action is None:
            raise HttpError(404, M.NOT_EXIST)
        doc = action_doc(action, query.get("code", "true").lower() != "false")
        return Response(200, cors + [("Content-Type", "application/json")], pretty_bytes(doc))
    if req.method != "POST":
        raise HttpError(405, M.METHOD_NOT_ALLOWED + "GET, POST")
    blocking = _query_bool(query, "blocking")
    result_only = _query_bool(query, "result")
    wait_ms = None
    if "timeout" in query:
        try:
            wait_ms = int(query["timeout"])
        except ValueError:
            wait_ms = -1
        if not 0 < wait_ms <= MAX_WAIT_MS:
            raise HttpError(400, M.BAD_TIMEOUT)
    if action is None:
        raise HttpError(404, M.NOT_EXIST)
    if req.body.length is not None and req.body.length > PAYLOAD_LIMIT:
        raise HttpError(413, M.too_large(req.body.length, PAYLOAD_LIMIT))
    try:
        data = req.body.read_all(PAYLOAD_LIMIT)
    except TooLarge as exc:
        raise HttpError(413, M.too_large(exc.received, PAYLOAD_LIMIT))
    args: dict = {}
    if data:
        mt = req.media_type()
        if mt is None or mt.type != "application/json":
            raise HttpError(415, M.UNSUPPORTED_CT)
        try:
            args = parse_json(data)
        except ValueError as exc:
            raise HttpError(400, M.MALFORMED + str(exc))
        if not isinstance(args, dict):
            raise HttpError(400, M.MALFORMED + "Object expected")
    pkg_params = PACKAGES[(action.namespace, action.package)].params
    defined = {**pkg_params, **action.params}
    if action.annotations.get("final") is True and \
            set(args) & {k for k, v in defined.items() if v is not None}:
        raise HttpError(400, M.RESERVED)
    digest = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    act = state.invoke(action, {**defined, **args}, subject, digest,
                       blocking=blocking, wait_ms=wait_ms)
    headers = cors + [("x-openwhisk-activation-id", act.id),
                      ("Content-Type", "application/json")]
    if not blocking or not act.done.is_set():
        return Response(202, headers, pretty_bytes({"activationId": act.id}))
    status = {SUCCESS: 200, APP_ERROR: 502, DEV_ERROR: 502, INTERNAL_ERROR: 500}[act.status]
    if result_only or isinstance(act.result, list):
        return Response(status, headers, pretty_bytes(act.result))
    return Response(status, headers, pretty_bytes(act.record()))

# --------------------------------------------------------------------------
# Introspection (/_whisk/...) and the raw echo backend (/raw/...)
# --------------------------------------------------------------------------


def json_response(status: int, value: Any) -> Response:
    return Response(status, [("Content-Type", "application/json")],
                    (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def handle_introspection(state: State, req: Request) -> Response:
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    kinds = {"raw": ("raw",), "any": ("web", "invoke", "api", "raw")}.get(
        query.get("kind", ""), ("web", "invoke", "api"))
    routes = {
        ("GET", "/_whisk/health"): lambda: {"status": "ok"},
        ("GET", "/_whisk/stats"): state.stats,
        ("GET", "/_whisk/last"): lambda: (state.entries(kinds) or [None])[-1],
        ("GET", "/_whisk/log"): lambda: state.entries(kinds),
        ("GET", "/_whisk/actions"): lambda: [
            {"path": f"/api/v1/web/{a.key}", "annotations": a.annotations,
             "parameters": a.params} for a in _ACTION_LIST],
        ("POST", "/_whisk/reset"): lambda: (state.reset(), {"reset": True})[1],
    }
    method = "GET" if req.method == "HEAD" else req.method
    fn = routes.get((method, req.path.rstrip("/") or "/"))
    if fn is None:
        return json_response(404, {"error": "unknown introspection endpoint"})
    return json_response(200, fn())


RAW_ETAG = '"raw-7e1f"'
RAW_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"


def raw_cached(req: Request, headers: list) -> Response:
    """/raw/cached: ETag and Last-Modified; 304 when the client has it."""
    inm = req.header("If-None-Match")
    ims = req.header("If-Modified-Since")
    cond = [("ETag", RAW_ETAG), ("Last-Modified", RAW_MODIFIED),
            ("Cache-Control", "max-age=0")]
    if (inm is not None and RAW_ETAG in [t.strip() for t in inm.split(",")]) \
            or (inm is None and ims == RAW_MODIFIED):
        return Response(304, headers + cond, b"")
    return Response(200, headers + cond + [("Content-Type", "text/plain")],
                    b"cached body")


def handle_raw(req: Request) -> Response:
    spool = tempfile.SpooledTemporaryFile(max_size=MIB)
    for piece in req.body.stream():
        spool.write(piece)
    length = spool.tell()
    spool.seek(0)
    headers = [("X-Raw-Path", req.h.path)]
    m = re.fullmatch(r"/raw/status/([0-9]{1,9})/?", req.path)
    if m:
        spool.close()
        code = int(m.group(1))
        if not 200 <= code <= 599:
            return json_response(400, {"error": "status must be 200-599"})
        return Response(code, headers + [("Content-Type", "application/json")],
                        b"" if code in (204, 304) else json.dumps({"status": code}).encode())
    if req.path.rstrip("/") == "/raw/limits":
        # a backend that reports rate limits of its own
        spool.close()
        return Response(200, headers + [("Content-Type", "text/plain"),
                                        ("RateLimit-Limit", "999"),
                                        ("RateLimit-Remaining", "998"),
                                        ("X-RateLimit-Limit", "5000")],
                        b"limits\n")
    if req.path.rstrip("/") == "/raw/rid":
        # a backend that sets its own request id
        spool.close()
        return Response(200, headers + [("Content-Type", "text/plain"),
                                        ("X-Request-ID", "backend-rid")],
                        b"rid\n")
    if req.path.rstrip("/") == "/raw/cached":
        spool.close()
        return raw_cached(req, headers)
    if req.path.rstrip("/") == "/raw/gzip":
        spool.close()
        body = gzip.compress(json.dumps({"compressed": True,
                                         "text": "apigw " * 200}).encode(),
                             mtime=0)
        return Response(200, headers + [("Content-Type", "application/json"),
                                        ("Content-Encoding", "gzip"),
                                        ("Vary", "Accept-Encoding")], body)
    if req.path.rstrip("/") == "/raw/slow":
        query = dict(parse_qsl(req.query))
        try:
            ms = max(0, min(int(query.get("ms", "1000")), 600000))
        except ValueError:
            ms = 1000
        time.sleep(ms / 1000)
    ctype = req.header("Content-Type") or "application/octet-stream"
    return Response(200, headers + [("Content-Type", ctype)], file=spool, length=length)

# --------------------------------------------------------------------------
# The HTTP handler and server
# --------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "whisk-standin/1.0"
    sys_version = ""
    timeout = 300                        # idle keep-alive connections
    disable_nagle_algorithm = True
    expect_pending = False
    server: "WhiskServer"

    def parse_request(self) -> bool:
        self.expect_pending = False
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        self.expect_pending = True       # 100 is sent when the body is read
        return True

    def __getattr__(self, name: str):
        if name.startswith("do_"):       # every method, even unknown ones
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, fmt: str, *args) -> None:
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _dispatch(self) -> None:
        state = self.server.state
        target = self.path
        path, sep, query = target.partition("?")
        try:
            self.body = Body(self)
        except BadFraming as exc:
            self.close_connection = True
            self._send(Response(400, [("Content-Type", "text/plain; charset=UTF-8")],
                                f"Bad request framing: {exc}".encode()))
            return
        req = Request(self, path, query)
        if path == "/_whisk" or path.startswith("/_whisk/"):
            resp = handle_introspection(state, req)
            self._complete(resp, None)
            return
        if path == "/raw" or path.startswith("/raw/"):
            kind = "raw"
        elif path.startswith(WEB_PREFIX) or path == WEB_PREFIX.rstrip("/"):
            kind = "web"
        elif path.startswith("/api/v1/namespaces/"):
            kind = "invoke"
        else:
            kind = "api"
        state.count_connection(self)
        entry = state.record(kind, {
            "time": time.time(), "method": self.command, "target": target,
            "path": path, "query": query, "http_version": self.request_version,
            "headers": [[n, v] for n, v in self.headers.items()], "action": None,
            "status": None, **self.body.info()})
        try:
            if kind == "raw":
                resp = handle_raw(req)
            elif len(target) > MAX_URI:
                resp = Response(414, [("Content-Type", "text/plain; charset=UTF-8")],
                                b"URI length exceeds the configured limit of "
                                + str(MAX_URI).encode() + b" characters")
            elif kind == "web":
                resp = handle_web(state, req, entry)
            elif kind == "invoke":
                resp = handle_rest(state, req, entry)
            else:
                resp = error_response(404, M.NOT_FOUND, req.tid)
        except HttpError as exc:
            resp = error_response(exc.status, exc.message, req.tid, exc.headers)
        except (ClientGone, ConnectionError):
            self.close_connection = True
            return
        except BadFraming as exc:
            self.close_connection = True
            resp = Response(400, [("Content-Type", "text/plain; charset=UTF-8")],
                            f"Bad request framing: {exc}".encode())
        except Exception:
            traceback.print_exc()
            resp = error_response(500, M.INTERNAL, req.tid)
        self._complete(resp, entry)

    def _complete(self, resp: Response, entry: Optional[dict]) -> None:
        if not self.body.finish():
            self.close_connection = True
        if entry is not None:
            entry.update(self.body.info(), status=resp.status)
        try:
            self._send(resp)
        except (ConnectionError, OSError):
            self.close_connection = True
        finally:
            if resp.file is not None:
                resp.file.close()

    def _send(self, resp: Response) -> None:
        status = resp.status
        names = {n.lower() for n, _ in resp.headers}
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}".rstrip()]
        if "server" not in names:
            lines.append(f"Server: {self.server_version}")
        if "date" not in names:
            lines.append(f"Date: {self.date_time_string()}")
        for name, value in resp.headers:
            lines.append(f"{name}: {value}")
        length = resp.length if resp.file is not None else len(resp.body)
        bodyless = status < 200 or status in (204, 304)
        if not bodyless:
            lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        send_body = not bodyless and self.command != "HEAD"
        if resp.file is None:
            self.wfile.write(head + (resp.body if send_body else b""))
        else:
            self.wfile.write(head)
            while send_body:
                piece = resp.file.read(PIECE)
                if not piece:
                    break
                self.wfile.write(piece)
        self.log_request(status, length)


class WhiskServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, max_wait_ms: int = MAX_WAIT_MS, verbose: bool = False):
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.state = State(max_wait_ms)
        self.verbose = verbose
        super().__init__(address, Handler)

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def start_server(host: str = "127.0.0.1", port: int = 0, **options):
    """Start in a daemon thread; returns (server, port). Stop: stop_server()."""
    server = WhiskServer((host, port), **options)
    threading.Thread(target=server.serve_forever, name="whisk", daemon=True).start()
    return server, server.server_address[1]


def stop_server(server: WhiskServer) -> None:
    server.shutdown()
    server.server_close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="OpenWhisk controller stand-in")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", help="write the bound port to this file")
    ap.add_argument("--max-wait-ms", type=int,
                    default=int(os.environ.get("WHISK_MAX_WAIT_MS", MAX_WAIT_MS)),
                    help="blocking-wait limit before 202 (default 60000)")
    ap.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server, port = start_server(args.host, args.port, max_wait_ms=args.max_wait_ms,
                                verbose=args.verbose)
    if args.port_file:
        tmp = f"{args.port_file}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"whisk listening on http://{host}:{port}", flush=True)
    while not stop.wait(3600):
        pass
    stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
