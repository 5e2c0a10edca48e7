"""Configuration time: `nginx -t` on broken and valid specs, the demo
configuration, and the `apigw` command-line tool."""

import json
import os
import re
import subprocess

import pytest

import harness

SPECS = harness.SPECS
CLI = os.path.join(harness.BUILD, "apigw")


def nginx_t(nginx_factory, specs, openwhisk_url=None):
    lines = "".join(" apigw_spec %s;" % os.path.join(SPECS, s) for s in specs)
    if openwhisk_url:
        lines += " apigw_openwhisk_url %s;" % openwhisk_url
    n = nginx_factory("server { listen 127.0.0.1:{port}; "
                      "location / { apigw;%s } }" % lines)
    return n.test()


# ---- nginx -t ----

def test_unused_openidconnect_scheme_is_not_resolved(nginx_factory,
                                                     tmp_path):
    """A scheme no requirement names is never checked: its discovery host
    need not resolve.  Used, an unresolvable one fails with its file and
    scheme."""
    def spec(security):
        d = {"openapi": "3.0.3", "info": {"title": "o", "version": "1"},
             "servers": [{"url": "/o"}], "security": security,
             "x-apigw-backend": {"url": "http://127.0.0.1:9/x"},
             "components": {"securitySchemes": {"sso": {
                 "type": "openIdConnect", "openIdConnectUrl":
                 "https://sso.example.invalid/.well-known/"
                 "openid-configuration"}}},
             "paths": {"/a": {"get": {"responses": {}}}}}
        f = tmp_path / ("%d.json" % len(security))
        f.write_text(json.dumps(d))
        return str(f)
    n = nginx_factory("server { listen 127.0.0.1:{port}; location / { "
                      "apigw; apigw_spec %s; } }" % spec([]))
    rc, out = n.test()
    assert rc == 0, out
    used = spec([{"sso": []}])
    n = nginx_factory("server { listen 127.0.0.1:{port}; location / { "
                      "apigw; apigw_spec %s; } }" % used)
    rc, out = n.test()
    assert rc == 1 and ('%s: security scheme "sso"' % used) in out, out

def test_invalid_yaml(nginx_factory):
    rc, out = nginx_t(nginx_factory, ["bad-yaml.yaml"])
    assert rc == 1, out
    assert "[emerg]" in out
    assert ("apigw: %s/bad-yaml.yaml: /: YAML error at line 3, column 6: "
            % SPECS) in out
    assert 'invalid OpenAPI document(s) in "apigw_spec"' in out
    assert "test failed" in out


def test_wrong_type_and_missing_field_all_listed(nginx_factory):
    rc, out = nginx_t(nginx_factory, ["bad-type.yaml", "bad-missing.yaml"])
    assert rc == 1, out
    assert ("apigw: %s/bad-type.yaml: /paths/~1books/get/x-apigw-backend/"
            "method: must be a string, not a number" % SPECS) in out
    assert ('apigw: %s/bad-missing.yaml: /paths/~1books/get/x-openwhisk: '
            'missing required field "action"' % SPECS) in out


def test_openwhisk_without_apigw_openwhisk_url(nginx_factory):
    rc, out = nginx_t(nginx_factory, ["ow-nourl.yaml"])
    assert rc == 1, out
    assert ("apigw: %s/ow-nourl.yaml: /paths/~1hello/get/x-openwhisk: "
            % SPECS) in out
    assert "set the apigw_openwhisk_url directive" in out
    # with the directive the same spec is fine
    rc, out = nginx_t(nginx_factory, ["ow-nourl.yaml"],
                      openwhisk_url="http://127.0.0.1:9")
    assert rc == 0, out


def test_same_route_in_two_specs(nginx_factory):
    rc, out = nginx_t(nginx_factory, ["dup-a.yaml", "dup-b.json"])
    assert rc == 1, out
    assert ('apigw: %s/dup-b.json: /paths/~1{item}/get: GET '
            '"/dup/items/{item}" is the same path template as GET '
            '"/dup/items/{id}" (%s/dup-a.yaml: /paths/~1items~1{id}/get)'
            % (SPECS, SPECS)) in out


@pytest.mark.parametrize("other,message", [
    ("proxy_pass http://127.0.0.1:1;", "conflicts with another content "
     "handler"),
    ("fastcgi_pass 127.0.0.1:1;", 'replaces "apigw"'),
    ("uwsgi_pass 127.0.0.1:1;", 'replaces "apigw"'),
])
@pytest.mark.parametrize("after", [True, False])
def test_another_content_handler_fails(nginx_factory, other, message, after):
    # before or after "apigw", in either order: never apigw switched off
    spec = " apigw_spec %s;" % os.path.join(SPECS, "small.yaml")
    body = ("apigw;%s %s" % (spec, other)) if after \
        else ("%s apigw;%s" % (other, spec))
    n = nginx_factory("server { listen 127.0.0.1:{port}; location /x/ { %s } }"
                      % body)
    rc, out = n.test()
    assert rc == 1, out
    if other.startswith("proxy_pass") and after:
        # the proxy module's own check comes first: "apigw" set it
        assert '"proxy_pass" directive is duplicate' in out, out
    elif after:
        assert message in out, out
    else:
        assert "conflicts with another content handler" in out, out


@pytest.mark.parametrize("directive,message", [
    ("apigw_openwhisk_url http://ow.example?x=1;", "without a query"),
    ("apigw_openwhisk_url ow.example;", "needs an http:// or https:// URL"),
    ("apigw_request_id_header '';", "needs a header name"),
    ("apigw_request_id_header 'X Id';", "needs a header name"),
    ("apigw_identity_header consumer 'Bad Name';", "needs a header name"),
    ("apigw_backend_timeout 0;", "must be more than 0"),
    ("apigw_backend_connect_timeout 0;", "must be more than 0"),
    # headers that frame or route the message, or carry credentials
    ("apigw_request_id_header Content-Length;", "cannot be a header that"),
    ("apigw_request_id_header transfer-encoding;", "cannot be a header that"),
    ("apigw_request_id_header Host;", "cannot be a header that"),
    ("apigw_identity_header consumer Authorization;",
     "cannot be a header that"),
    ("apigw_identity_header subject X-Forwarded-For;",
     "cannot be a header that"),
    # the request id would never reach the backend
    ("apigw_request_id_header X-Apigw-Consumer;", "is an identity header"),
    ("apigw_request_id_header x-user; apigw_identity_header consumer X-User;",
     "is an identity header"),
    ("apigw_request_id_header RateLimit-Limit;", "a rate limit header"),
    ("apigw_validate_body_max 0;", "must be more than 0"),
    ("apigw_admin_max_body 0;", "must be more than 0"),
])
def test_values_that_would_break_requests_fail(nginx_factory, directive,
                                                message):
    n = nginx_factory("server { listen 127.0.0.1:{port}; location /x/ { "
                      "apigw; apigw_spec %s; %s } }"
                      % (os.path.join(SPECS, "small.yaml"), directive))
    rc, out = n.test()
    assert rc == 1 and message in out, out


@pytest.mark.parametrize("directive,message", [
    # 0 would re-arm the poll timer inside the timer loop: a spinning worker
    ("apigw_store_poll 0;", "must be more than 0"),
    ("apigw_public_url gw.example.com;", "needs an http:// or https:// URL"),
    ("apigw_public_url 'http://gw.example.com/?x=1';", "without a query"),
    ("apigw_store_openwhisk_url 127.0.0.1:3233;",
     "needs an http:// or https:// URL"),
    ("apigw_store_openwhisk_url 'http://ow.example/#f';", "without a query"),
])
def test_http_values_that_would_break_requests_fail(nginx_factory, directive,
                                                     message):
    n = nginx_factory("%s server { listen 127.0.0.1:{port}; "
                      "location /x/ { apigw; apigw_spec %s; } }"
                      % (directive, os.path.join(SPECS, "small.yaml")))
    rc, out = n.test()
    assert rc == 1 and message in out, out


def test_missing_spec_file(nginx_factory):
    rc, out = nginx_t(nginx_factory, ["does-not-exist.yaml"])
    assert rc == 1, out
    assert "%s/does-not-exist.yaml: /: cannot open" % SPECS in out


def test_valid_config(nginx_factory, whisk, tmp_path):
    specs = [harness.render_spec(s, str(tmp_path), WHISK=whisk.url)
             for s in ("wsk.json", "oas3.yaml", "cors-apigw.yaml")]
    n = nginx_factory("server { listen 127.0.0.1:{port}; location / { apigw; "
                      "apigw_openwhisk_url %s; %s } }"
                      % (whisk.url,
                         " ".join("apigw_spec %s;" % s for s in specs)))
    rc, out = n.test()
    assert rc == 0, out
    assert "test is successful" in out
    # the operation without a backend is a warning, not an error
    assert ("[warn]" in out and "/paths/~1nobackend/get: no backend; "
            "requests get 501" in out)


# ---- the demo configuration ----

@pytest.mark.skipif(harness.STATIC, reason="the demo config loads the .so")
def test_demo_config_parses():
    root = harness.ROOT
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(root, "build", "demo", "tmp", d),
                    exist_ok=True)
    p = subprocess.run([harness.NGINX, "-p", root + "/",
                        "-c", os.path.join(root, "examples", "nginx.conf"),
                        "-t"], capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "test is successful" in out


# ---- the apigw command-line tool ----

def cli(*args):
    p = subprocess.run([CLI] + list(args), capture_output=True, text=True,
                       cwd=SPECS)
    return p.returncode, p.stdout, p.stderr


def test_cli_check_good():
    rc, out, err = cli("check", "dup-a.yaml", "ow-nourl.yaml")
    assert rc == 0, (out, err)
    assert out == "ok: 2 operations in 2 files\n"
    rc, out, err = cli("check", "--openwhisk-url", "https://ow.example",
                       "ow-nourl.yaml")
    assert (rc, out) == (0, "ok: 1 operation in 1 file\n")


def test_cli_check_rendered_examples():
    root = harness.ROOT
    p = subprocess.run([CLI, "check"] + sorted(
        os.path.join(root, "examples", "specs", f)
        for f in os.listdir(os.path.join(root, "examples", "specs"))),
        capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.fullmatch(r"ok: \d+ operations in 2 files\n", p.stdout)


def test_cli_check_bad():
    rc, out, err = cli("check", "bad-type.yaml", "bad-missing.yaml",
                       "bad-yaml.yaml")
    assert rc == 1
    lines = out.splitlines()
    assert lines[:2] == [
        "bad-type.yaml: /paths/~1books/get/x-apigw-backend/method: must be "
        "a string, not a number",
        'bad-missing.yaml: /paths/~1books/get/x-openwhisk: missing required '
        'field "action"']
    assert lines[2].startswith("bad-yaml.yaml: /: YAML error at line 3, "
                               "column 6: ")
    assert lines[3:] == ["failed: 3 errors"]
    for line in lines[:3]:
        assert re.match(r"^[^:]+\.(yaml|json): /[^:]*: .+", line), line


def test_cli_check_conflict_across_files():
    rc, out, err = cli("check", "dup-a.yaml", "dup-b.json")
    assert rc == 1
    assert out.splitlines() == [
        'dup-b.json: /paths/~1{item}/get: GET "/dup/items/{item}" is the same '
        'path template as GET "/dup/items/{id}" (dup-a.yaml: '
        '/paths/~1items~1{id}/get)',
        "failed: 1 error"]


def test_cli_routes_columns(tmp_path):
    spec = harness.render_spec("wsk.json", str(tmp_path),
                               WHISK="http://127.0.0.1:3233")
    p = subprocess.run([CLI, "routes", spec], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = [line.split() for line in p.stdout.splitlines()]
    w = "http://127.0.0.1:3233/api/v1/web/guest/default/"
    assert rows == [
        ["GET", "/wsk/echo", "keep", w + "echo-http.http$(request.path)"],
        ["POST", "/wsk/echo", "keep", w + "echo-http.http$(request.path)"],
        ["GET", "/wsk/greet/{name}", "keep",
         w + "secure-greet.http$(request.path)",
         "[X-Require-Whisk-Auth:", "***]"],
        ["GET", "/wsk/secure", "keep", w + "secure-echo.json",
         "[X-Require-Whisk-Auth:", "***]"],
        ["GET", "/wsk/cors", "keep", w + "cors.http$(request.path)"],
    ]
    assert "s3cr3t-token" not in p.stdout
    # the columns line up
    lines = p.stdout.splitlines()
    assert len({line.index("/wsk") for line in lines}) == 1
    assert len({line.index(" keep ") for line in lines}) == 1


def test_cli_routes_fixed_method_and_no_backend(tmp_path):
    spec = harness.render_spec("oas3.yaml", str(tmp_path),
                               WHISK="http://127.0.0.1:3233")
    p = subprocess.run([CLI, "routes", "--openwhisk-url", "http://ow:1",
                        spec], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = {(r[0], r[1]): r[2:] for r in
            (line.split() for line in p.stdout.splitlines())}
    assert rows[("PUT", "/v3/books/{isbn}")] == [
        "POST", "http://127.0.0.1:3233/raw/store/{isbn}?src=spec"]
    assert rows[("GET", "/v3/nobackend")] == ["-", "-"]
    assert rows[("GET", "/v3/echo")] == [
        "keep", "http://ow:1/api/v1/web/guest/default/echo.json"]
    assert "no backend; requests get 501" in p.stderr


@pytest.mark.parametrize("args,message", [
    ((), None),
    (("bogus",), 'apigw: unknown command "bogus"'),
    (("check",), "apigw: check needs at least one FILE"),
    (("routes",), "apigw: routes needs exactly one FILE"),
    (("routes", "dup-a.yaml", "corr.yaml"),
     "apigw: routes needs exactly one FILE"),
    (("check", "--openwhisk-url"), "apigw: --openwhisk-url needs a URL"),
    # what nginx -t refuses in apigw_openwhisk_url
    (("check", "--openwhisk-url", "http://ow.example/p?x=1", "dup-a.yaml"),
     "apigw: --openwhisk-url needs an http:// or https:// URL without a "
     "query or fragment"),
    (("routes", "--openwhisk-url=ow.example", "dup-a.yaml"),
     "apigw: --openwhisk-url needs an http:// or https:// URL without a "
     "query or fragment"),
    (("check", "--bogus", "dup-a.yaml"), 'apigw: unknown option "--bogus"'),
])
def test_cli_usage_errors(args, message):
    rc, out, err = cli(*args)
    assert rc == 2
    assert out == ""
    assert "usage: apigw check [--openwhisk-url URL] FILE..." in err
    if message:
        assert err.splitlines()[0] == message
