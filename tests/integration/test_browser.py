"""End to end in headless Chromium (Debian's package): a page served by a
web action on custom domain A over TLS calls an API on custom domain B with
an API key (a CORS request with credentials, so a preflight first), shows
an image returned by a web action (binary from base64), and sets cookies.
The test CA is trusted through an NSS database under a temporary HOME
(no --ignore-certificate-errors); the DOM is asserted on and a screenshot
saved in the test's temporary directory."""

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

import pytest

from domain_pki import Pki, fingerprint
from domain_gw import DomainGateway, doc

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
API_KEY = "browser-key-7f3a9c1e5b2d4f6a8c0e"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("browser-pki")))


@pytest.fixture(scope="module")
def site(module_nginx_factory, pki, whisk, tmp_path_factory):
    d = tmp_path_factory.mktemp("browser-keys")
    keys = d / "keys.txt"
    keys.write_text("key %s consumer=browser-user\n"
                    % hashlib.sha256(API_KEY.encode()).hexdigest())
    os.chmod(str(d), 0o755)
    os.chmod(str(keys), 0o644)
    gw = DomainGateway(module_nginx_factory, pki, whisk,
                       keys_file=str(keys)).start()
    page_origin = "https://www.a.test:%d" % gw.tls_port

    # domain A: the page and its image, both web actions
    r = gw.admin("POST", "/v2/site-a/apis",
                 doc("/app", {"/index.html": ("page", "get"),
                              "/logo.png": ("image", "get")}))
    assert r.status == 200, r
    # domain B: an API with an API key and CORS with credentials
    api = doc("/v1", {"/profile": ("profile", "get")}, {
        "components": {"securitySchemes": {"key": {
            "type": "apiKey", "in": "header", "name": "X-Api-Key"}}},
        "security": [{"key": []}],
        "x-apigw-cors": {"origins": [page_origin], "methods": ["GET"],
                         "headers": ["X-Api-Key"], "credentials": True,
                         "max_age": 60}})
    r = gw.admin("POST", "/v2/data-b/apis", api)
    assert r.status == 200, r

    for tenant, domain in (("site-a", "www.a.test"), ("data-b", "api.b.test")):
        assert gw.admin("PUT", "/v2/%s/domains/%s" % (tenant, domain)) \
            .status == 200
        chain, key = pki.issue(domain, [domain])
        assert gw.upload(tenant, domain, chain, key).status == 200
        gw.wait_cert(domain, fingerprint(chain))
    gw.wait_on("www.a.test", "/app/logo.png", 200)
    gw.wait_on("api.b.test", "/v1/profile", 401)
    return gw


def chromium(pki, args, home):
    """Runs headless Chromium with the test CA trusted via NSS."""
    nssdb = os.path.join(home, ".pki", "nssdb")
    if not os.path.isdir(nssdb):
        os.makedirs(nssdb)
        subprocess.run(["certutil", "-d", "sql:" + nssdb, "-N",
                        "--empty-password"], check=True, capture_output=True)
        subprocess.run(["certutil", "-d", "sql:" + nssdb, "-A", "-t", "C,,",
                        "-n", "apigw-test-ca", "-i", pki.path("ca.pem")],
                       check=True, capture_output=True)
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=home)
    env = dict(os.environ, HOME=home)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage",
           "--user-data-dir=" + profile,
           "--host-resolver-rules=MAP *.test 127.0.0.1"] + args
    return subprocess.run(cmd, env=env, capture_output=True, timeout=180)


def text_of(dom, element_id):
    m = re.search(r'id="%s"[^>]*>(.*?)</' % element_id, dom, re.S)
    return html.unescape(m.group(1)) if m else None


def test_page_on_custom_domain_calls_api_on_another(site, pki, whisk,
                                                    tmp_path):
    home = str(tmp_path / "home")
    os.makedirs(home)
    api = "https://api.b.test:%d/v1/profile" % site.tls_port
    url = "https://www.a.test:%d/app/index.html?%s#%s" % (
        site.tls_port, urllib.parse.urlencode({"api": api}),
        urllib.parse.urlencode({"key": API_KEY}))

    dom = ""
    for _ in range(3):          # a slow machine: give the page more time
        p = chromium(pki, ["--virtual-time-budget=20000", "--dump-dom", url],
                     home)
        dom = p.stdout.decode("utf-8", "replace")
        if text_of(dom, "done") == "done":
            break
    assert text_of(dom, "done") == "done", (dom, p.stderr[-3000:])

    # the API answered the page's credentialed CORS request
    data = json.loads(text_of(dom, "data"))
    assert data.get("status") == 200, data
    assert data["body"]["user"] == "ada"
    assert data["body"]["consumer"] == "browser-user"       # the key's
    assert data["body"]["origin"] == "https://www.a.test:%d" % site.tls_port
    # the image, binary from a web action's base64 body
    m = re.fullmatch(r"naturalWidth=(\d+)", text_of(dom, "img"))
    assert m and int(m.group(1)) > 0, dom
    # the page's Set-Cookie headers and its script's cookie
    cookies = text_of(dom, "cookie")
    assert "theme=dark" in cookies and "visits=1" in cookies, cookies
    assert "seen=1" in cookies, cookies

    # a preflight was answered at the edge before the GET with the key
    with open(os.path.join(site.nginx.dir, "access.log")) as f:
        log = f.read()
    assert re.search(r'"OPTIONS /v1/profile HTTP/1\.1" 20[04] ', log), log
    assert API_KEY not in log
    assert re.search(r'"GET /v1/profile HTTP/1\.1" 200 ', log), log
    assert re.search(r'"GET /app/logo\.png HTTP/1\.1" 200 ', log), log

    # a screenshot of the page, for people
    shot = str(tmp_path / "custom-domain-page.png")
    p = chromium(pki, ["--virtual-time-budget=20000", "--window-size=900,700",
                       "--hide-scrollbars", "--screenshot=" + shot, url],
                 home)
    assert os.path.exists(shot), p.stderr[-3000:]
    with open(shot, "rb") as f:
        png = f.read()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    print("screenshot:", shot)


def test_api_without_the_key_is_refused_in_the_browser(site, pki, tmp_path):
    """The same page without a key: the preflight passes, the GET is 401,
    and the browser sees it (the 401 carries the CORS headers)."""
    home = str(tmp_path / "home")
    os.makedirs(home)
    api = "https://api.b.test:%d/v1/profile" % site.tls_port
    url = "https://www.a.test:%d/app/index.html?%s#key=wrong" % (
        site.tls_port, urllib.parse.urlencode({"api": api}))
    dom = ""
    for _ in range(3):
        p = chromium(pki, ["--virtual-time-budget=20000", "--dump-dom", url],
                     home)
        dom = p.stdout.decode("utf-8", "replace")
        if text_of(dom, "done") == "done":
            break
    assert text_of(dom, "done") == "done", (dom, p.stderr[-3000:])
    data = json.loads(text_of(dom, "data"))
    assert data.get("status") == 401, data
    assert data["body"]["status"] == 401
