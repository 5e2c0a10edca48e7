#!/usr/bin/python3
"""`make bench`: wrk against a bare proxy_pass and against apigw, same run.

Three nginx instances on loopback: a backend answering `return 200`, a
gateway with a bare `proxy_pass` (upstream keepalive), and a gateway with
apigw routing one spec of 100 operations (the request matches one in the
middle), plus operations secured by an API key, a JWT (RS256, ES256; with
the verified-token cache and without it) and both.  Rounds alternate
bare/apigw so drift on a noisy machine hits both; the report gives the
median of the rounds and the ratio apigw/bare.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import MODULE, NGINX, free_port, wait_port  # noqa: E402

API_KEY = "bench-key-0123456789"

OUT = os.path.join(ROOT, "build", "bench")


def nginx_conf(path, body, load=False, workers=1):
    d = os.path.dirname(path)
    for t in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(d, "tmp", t), exist_ok=True)
    with open(path, "w") as f:
        f.write("""%s
daemon off;
worker_processes %d;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %s/tmp/body;
    proxy_temp_path %s/tmp/proxy;
    fastcgi_temp_path %s/tmp/fastcgi;
    uwsgi_temp_path %s/tmp/uwsgi;
    scgi_temp_path %s/tmp/scgi;
    keepalive_requests 100000;
%s
}
""" % ("load_module %s;" % MODULE if load else "", workers, d, d, d, d, d,
       d, d, body))


def start(conf, port):
    p = subprocess.Popen([NGINX, "-p", os.path.dirname(conf) + "/", "-c",
                          conf], stderr=subprocess.PIPE)
    if not wait_port(port, p):
        sys.exit("bench: nginx failed: %s" % p.stderr.read().decode())
    return p


def spec(path, backend_port, n=100):
    lines = ["openapi: 3.0.3", "info: {title: bench, version: '1'}",
             "servers: [{url: /bench}]", "paths:"]
    for i in range(n):
        lines += [
            "  /res%d/{id}:" % i,
            "    get:",
            "      operationId: get%d" % i,
            "      parameters: [{name: id, in: path, required: true,"
            " schema: {type: string}}]",
            "      x-apigw-backend: {url: 'http://127.0.0.1:%d/res%d/{id}'}"
            % (backend_port, i),
            "    post:",
            "      operationId: post%d" % i,
            "      x-apigw-backend: {url: 'http://127.0.0.1:%d/res%d'}"
            % (backend_port, i),
        ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def auth_spec(path, backend_port, base, jwks_file):
    """Operations secured by an API key, RS256 / ES256 JWTs, key + JWT."""
    lines = ["openapi: 3.0.3", "info: {title: auth, version: '1'}",
             "servers: [{url: %s}]" % base,
             "components:", "  securitySchemes:",
             "    key: {type: apiKey, in: header, name: X-Api-Key}",
             "    rs: {type: http, scheme: bearer, x-apigw-jwt: {issuer: "
             "bench, audiences: [bench], algorithms: [RS256], jwks_file: "
             "'%s'}}" % jwks_file,
             "    es: {type: http, scheme: bearer, x-apigw-jwt: {issuer: "
             "bench, audiences: [bench], algorithms: [ES256], jwks_file: "
             "'%s'}}" % jwks_file,
             "paths:"]
    for name, sec in (("key", "[{key: []}]"), ("jwt", "[{rs: []}]"),
                      ("es", "[{es: []}]"),
                      ("keyjwt", "[{key: [], rs: []}]")):
        lines += [
            "  /%s/{id}:" % name,
            "    get:",
            "      operationId: %s" % name,
            "      security: %s" % sec,
            "      parameters: [{name: id, in: path, required: true,"
            " schema: {type: string}}]",
            "      x-apigw-backend: {url: 'http://127.0.0.1:%d/%s/{id}'}"
            % (backend_port, name),
        ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def credentials(d):
    """A keys file, a JWKS file and one RS256 and one ES256 token."""
    import hashlib
    import json as _json
    from idp import Key, make_token
    rsa, ec = Key("RSA", "rs"), Key("ES256", "es")
    with open(os.path.join(d, "jwks.json"), "w") as f:
        _json.dump({"keys": [rsa.jwk(), ec.jwk()]}, f)
    with open(os.path.join(d, "keys.txt"), "w") as f:
        f.write("key %s id=bench consumer=bench\n"
                % hashlib.sha256(API_KEY.encode()).hexdigest())
    claims = {"iss": "bench", "aud": "bench", "sub": "bench-user",
              "exp": int(time.time()) + 7200, "scope": "read"}
    return (make_token(rsa, claims, alg="RS256"),
            make_token(ec, claims, alg="ES256"))


def wrk(url, args, headers=()):
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections),
           "-d", "%ds" % args.duration, "--latency", url]
    for h in headers:
        cmd[1:1] = ["-H", h]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    p99 = float(m.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        sys.exit("bench: errors during the run:\n" + out)
    return rps, p99, " ".join(cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    shutil.rmtree(OUT, ignore_errors=True)
    procs = []
    try:
        bport, pport, aport = free_port(), free_port(), free_port()

        conf = os.path.join(OUT, "backend", "nginx.conf")
        os.makedirs(os.path.dirname(conf))
        nginx_conf(conf, """
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / { return 200 "ok\\n"; }
    }""" % bport)
        procs.append(start(conf, bport))

        conf = os.path.join(OUT, "bare", "nginx.conf")
        os.makedirs(os.path.dirname(conf))
        nginx_conf(conf, """
    upstream backend { server 127.0.0.1:%d; keepalive 64; }
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }""" % (bport, pport))
        procs.append(start(conf, pport))

        conf = os.path.join(OUT, "apigw", "nginx.conf")
        os.makedirs(os.path.dirname(conf))
        d = os.path.dirname(conf)
        spec(os.path.join(d, "bench.yaml"), bport)
        rs_tok, es_tok = credentials(d)
        jwks = os.path.join(d, "jwks.json")
        auth_spec(os.path.join(d, "auth.yaml"), bport, "/a", jwks)
        auth_spec(os.path.join(d, "auth-nc.yaml"), bport, "/n", jwks)
        nginx_conf(conf, """
    apigw_keys_file keys.txt;
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / {
            apigw;
            apigw_spec bench.yaml;
        }
        location /a/ {
            apigw;
            apigw_spec auth.yaml;
        }
        location /n/ {
            apigw;
            apigw_spec auth-nc.yaml;
            apigw_token_cache off;
        }
    }""" % aport, load=True)
        procs.append(start(conf, aport))

        key = "X-Api-Key: " + API_KEY
        rs = "Authorization: Bearer " + rs_tok
        es = "Authorization: Bearer " + es_tok
        scenarios = [
            ("apigw routing (100 operations, match in the middle)",
             "/bench/res50/12345?q=1", ()),
            ("apigw + API key (header)", "/a/key/12345", (key,)),
            ("apigw + JWT RS256 (cached)", "/a/jwt/12345", (rs,)),
            ("apigw + JWT RS256 (uncached: every request verified)",
             "/n/jwt/12345", (rs,)),
            ("apigw + JWT ES256 (uncached)", "/n/es/12345", (es,)),
            ("apigw + API key + JWT RS256 (cached)", "/a/keyjwt/12345",
             (key, rs)),
        ]

        path = scenarios[0][1]
        bare = []
        gw = {name: [] for name, _, _ in scenarios}
        cmd = None
        short = argparse.Namespace(**{**vars(args), "duration": 2})
        # warm up all
        wrk("http://127.0.0.1:%d%s" % (pport, path), short)
        for name, target, headers in scenarios:
            wrk("http://127.0.0.1:%d%s" % (aport, target), short, headers)
        for _ in range(args.rounds):
            bare.append(wrk("http://127.0.0.1:%d%s" % (pport, path), args))
            for name, target, headers in scenarios:
                r = wrk("http://127.0.0.1:%d%s" % (aport, target), args,
                        headers)
                gw[name].append(r)
                if cmd is None:
                    cmd = r[2]

        b_rps = statistics.median(r[0] for r in bare)
        b_p99 = statistics.median(r[1] for r in bare)

        table = [
            "| scenario | requests/s | p99 (ms) | ratio to bare |",
            "|---|---:|---:|---:|",
            "| bare `proxy_pass` (keepalive upstream) | %.0f | %.2f | 1.00 |"
            % (b_rps, b_p99),
        ]
        for name, _, _ in scenarios:
            g_rps = statistics.median(r[0] for r in gw[name])
            g_p99 = statistics.median(r[1] for r in gw[name])
            table.append("| %s | %.0f | %.2f | %.2f |"
                         % (name, g_rps, g_p99, g_rps / b_rps))
        report = "\n".join(table) + "\n\n" + \
            "Medians of %d alternating rounds of `%s` (path `%s`), %s, " \
            "nproc=%d.\n" % (args.rounds, cmd.replace(str(aport), "PORT"),
                             path, time.strftime("%Y-%m-%d"),
                             os.cpu_count())
        print(report)
        with open(os.path.join(OUT, "results.md"), "w") as f:
            f.write(report)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


if __name__ == "__main__":
    main()
