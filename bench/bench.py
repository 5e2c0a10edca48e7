#!/usr/bin/python3
"""`make bench`: wrk against a bare proxy_pass and against apigw, same run.

Three nginx instances on loopback: a backend answering `return 200`, a
gateway with a bare `proxy_pass` (upstream keepalive), and a gateway with
apigw routing one spec of 100 operations (the request matches one in the
middle).  Rounds alternate bare/apigw so drift on a noisy machine hits both;
the report gives the median of the rounds and the ratio apigw/bare.

The validation scenario: a POST of a 1 KB JSON body to an operation whose
request body schema has 20 properties, through bare proxy_pass, through apigw
with validation off and through apigw with `apigw_validate on` (a second
server of the same apigw nginx), in the same alternating rounds.

Two more apigw gateways add a rate limit to the same routing: a local one
(shared memory; high enough never to reject) and a global one on a
redis-server started for the run (one pipelined round trip per request).
"""

import argparse
import json
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
    lines += [
        "  /body:",
        "    post:",
        "      operationId: postBody",
        "      x-apigw-backend: {url: 'http://127.0.0.1:%d/body'}"
        % backend_port,
        "      requestBody:",
        "        required: true",
        "        content:",
        "          application/json:",
        "            schema: " + json.dumps(BODY_SCHEMA),
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ~20 properties of the common kinds, and a 1 KB body that satisfies them
BODY_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "email", "age", "active"],
    "additionalProperties": False,
    "properties": dict(
        [("id", {"type": "string", "format": "uuid"}),
         ("name", {"type": "string", "minLength": 1, "maxLength": 64}),
         ("email", {"type": "string", "pattern": "^[^@ ]+@[^@ ]+$"}),
         ("age", {"type": "integer", "minimum": 0, "maximum": 150}),
         ("active", {"type": "boolean"}),
         ("score", {"type": "number", "minimum": 0, "maximum": 100}),
         ("role", {"type": "string", "enum": ["admin", "user", "guest"]}),
         ("born", {"type": "string", "format": "date"}),
         ("seen", {"type": "string", "format": "date-time"}),
         ("tags", {"type": "array", "maxItems": 10,
                   "items": {"type": "string", "maxLength": 32}}),
         ("address", {"type": "object", "required": ["city"],
                      "properties": {"street": {"type": "string"},
                                     "city": {"type": "string"},
                                     "zip": {"type": "string",
                                             "pattern": "^[0-9]{5}$"}}})]
        + [("field%d" % i, {"type": "string", "maxLength": 200})
           for i in range(9)]),
}


def body_1k():
    doc = {"id": "123e4567-e89b-12d3-a456-426614174000", "name": "Ada",
           "email": "ada@example.com", "age": 36, "active": True,
           "score": 97.5, "role": "admin", "born": "1815-12-10",
           "seen": "2026-11-26T10:00:00Z", "tags": ["math", "engines"],
           "address": {"street": "St James's Square", "city": "London",
                       "zip": "12345"}}
    for i in range(9):
        doc["field%d" % i] = "x" * 60
    text = json.dumps(doc)
    pad = 1024 - len(text)
    doc["field8"] = "x" * (60 + pad)
    text = json.dumps(doc)
    assert len(text) == 1024, len(text)
    return text


def post_script(path, body):
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n'
                'wrk.body = %s\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                % json.dumps(body))
    return path


def wrk(url, args, script=None):
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections),
           "-d", "%ds" % args.duration, "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
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
        vport = free_port()

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
        spec(os.path.join(OUT, "apigw", "bench.yaml"), bport)
        nginx_conf(conf, """
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / {
            apigw;
            apigw_spec bench.yaml;
        }
    }
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / {
            apigw;
            apigw_spec bench.yaml;
            apigw_validate on;
        }
    }""" % (aport, vport), load=True)
        procs.append(start(conf, aport))

        # the same routing with a local limit, and with a Redis limit
        rdport, lport, gport = free_port(), free_port(), free_port()
        rd = subprocess.Popen(["redis-server", "--port", str(rdport),
                               "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
        procs.append(rd)
        if not wait_port(rdport, rd):
            sys.exit("bench: redis-server failed")

        for name, port, limit in (
                ("local", lport, "apigw_rate_limit rate=1000000000r/s "
                                 "key=address;"),
                ("redis", gport, "apigw_rate_limit rate=1000000000r/s "
                                 "key=address store=redis "
                                 "on_redis_failure=closed;")):
            conf = os.path.join(OUT, name, "nginx.conf")
            os.makedirs(os.path.dirname(conf))
            spec(os.path.join(OUT, name, "bench.yaml"), bport)
            nginx_conf(conf, """
    apigw_limit_redis redis://127.0.0.1:%d;
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / {
            apigw;
            apigw_spec bench.yaml;
            %s
        }
    }""" % (rdport, port, limit), load=True)
            procs.append(start(conf, port))

        path = "/bench/res50/12345?q=1"
        bpath = "/bench/body"
        script = post_script(os.path.join(OUT, "post.lua"), body_1k())
        bare, gw, loc, glob = [], [], [], []
        pbare, pgw, pval = [], [], []
        cmd = None
        runs = [
            (bare, pport, path, None), (gw, aport, path, None),
            (pbare, pport, bpath, script), (pgw, aport, bpath, script),
            (pval, vport, bpath, script),
            (loc, lport, path, None), (glob, gport, path, None),
        ]
        # warm up each
        short = argparse.Namespace(**{**vars(args), "duration": 2})
        for _, port, p, sc in runs:
            wrk("http://127.0.0.1:%d%s" % (port, p), short, sc)
        for _ in range(args.rounds):
            for res, port, p, sc in runs:
                r = wrk("http://127.0.0.1:%d%s" % (port, p), args, sc)
                res.append(r)
                if res is gw:
                    cmd = r[2]

        b_rps = statistics.median(r[0] for r in bare)
        b_p99 = statistics.median(r[1] for r in bare)
        g_rps = statistics.median(r[0] for r in gw)
        g_p99 = statistics.median(r[1] for r in gw)
        l_rps = statistics.median(r[0] for r in loc)
        l_p99 = statistics.median(r[1] for r in loc)
        r_rps = statistics.median(r[0] for r in glob)
        r_p99 = statistics.median(r[1] for r in glob)

        pb_rps = statistics.median(r[0] for r in pbare)
        pb_p99 = statistics.median(r[1] for r in pbare)
        pg_rps = statistics.median(r[0] for r in pgw)
        pg_p99 = statistics.median(r[1] for r in pgw)
        pv_rps = statistics.median(r[0] for r in pval)
        pv_p99 = statistics.median(r[1] for r in pval)

        table = [
            "| scenario | requests/s | p99 (ms) | ratio to bare |",
            "|---|---:|---:|---:|",
            "| bare `proxy_pass` (keepalive upstream) | %.0f | %.2f | 1.00 |"
            % (b_rps, b_p99),
            "| apigw routing (100 operations, match in the middle) "
            "| %.0f | %.2f | %.2f |" % (g_rps, g_p99, g_rps / b_rps),
            "| apigw routing + local rate limit (shared memory) "
            "| %.0f | %.2f | %.2f |" % (l_rps, l_p99, l_rps / b_rps),
            "| apigw routing + Redis rate limit (one round trip) "
            "| %.0f | %.2f | %.2f |" % (r_rps, r_p99, r_rps / b_rps),
            "| bare `proxy_pass`, POST 1 KB JSON | %.0f | %.2f | 1.00 |"
            % (pb_rps, pb_p99),
            "| apigw, POST 1 KB JSON, not validated | %.0f | %.2f | %.2f |"
            % (pg_rps, pg_p99, pg_rps / pb_rps),
            "| apigw, POST 1 KB JSON validated (20 properties) "
            "| %.0f | %.2f | %.2f |" % (pv_rps, pv_p99, pv_rps / pb_rps),
        ]
        report = "\n".join(table) + "\n\n" + \
            "Medians of %d alternating rounds of `%s` (path `%s`), %s, " \
            "nproc=%d.\n" % (args.rounds, cmd.replace(str(aport), "PORT"),
                             path, time.strftime("%Y-%m-%d"),
                             os.cpu_count())
        report += "Validated / not validated: %.2f (POST rows: `-s post.lua`" \
            ", path `%s`).\n" % (pv_rps / pg_rps, bpath)
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
