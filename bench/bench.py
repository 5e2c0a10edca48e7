#!/usr/bin/python3
"""`make bench`: wrk against a bare proxy_pass and against apigw, same run.

nginx instances on loopback: a backend answering `return 200`; a gateway
with a bare `proxy_pass` (upstream keepalive); one apigw gateway whose
servers each add one thing to the same routing (one spec of 100 operations,
the request matching one in the middle): request validation, a local rate
limit, a Redis rate limit (on a redis-server started for the run; one round
trip per request, and hybrid), API keys, JWTs (RS256 with and without the
verified-token cache, ES256), and the full stack (route + API key + JWT
RS256 + a local, Redis or hybrid limit); and two apigw gateways on
embedded stores holding 1 and N APIs (default 10,000) loaded through the
management API, for the managed-URL match and the memory per 1,000 APIs.

Every scenario runs once per round, rounds alternate all of them (in a new
order each round) so drift on a noisy machine hits each alike, and the report
gives medians and the ratio to the bare proxy_pass of the same run (POST
scenarios: to a bare POST), and the CPU time the gateway's worker ran per
request with its paired ratio to the bare proxy's.  Then DESIGN.md's latency bar: routing and the
full stack (local and Redis limit) at half of their saturation, with the
open-loop client bench/openloop.c, each paired with the bare proxy_pass.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
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
OPENLOOP = os.path.join(ROOT, "build", "openloop")
API_KEY = "bench-key-0123456789"


# What apigw adds to a routed request, as stock nginx configuration: the
# request id both ways and the X-Forwarded-* (issue 2) ...
ROUTE_HEADERS = """
            proxy_set_header X-Request-ID $request_id;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Url
                             $scheme://$host:$server_port$request_uri;
            add_header X-Request-ID $request_id;"""
# ... and in the full stack: identity to the backend, the limit's headers
FULL_HEADERS = """
            proxy_set_header X-Apigw-Consumer bench;
            proxy_set_header X-Apigw-Subject bench-user;
            proxy_set_header X-Apigw-Scopes read;
            add_header RateLimit-Limit 1000000000;
            add_header RateLimit-Remaining 999999999;
            add_header RateLimit-Reset 1;
            add_header RateLimit-Policy "1000000000;w=1;burst=999999999";"""
HDR_REF = ("nginx `proxy_pass` adding the same headers as apigw "
           "(request id both ways, `X-Forwarded-*`), by configuration")
# the rows of the latency bar: p99 added at half of saturation
LATENCY = ("apigw routing (100 operations, match in the middle)",
           "full stack: route + API key + JWT RS256 + local limit",
           "full stack with the Redis limit (one round trip)")
FULL_REF = ("nginx `proxy_pass` adding the full stack's headers (those "
            "above, the three identity headers, the four `RateLimit-*`), "
            "by configuration, sent the key and token")


def header_work(lines):
    return """location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";%s
        }""" % lines


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
                          conf], stderr=subprocess.DEVNULL)
    if not wait_port(port, p, timeout=60):
        p.kill()
        with open(os.path.join(os.path.dirname(conf), "error.log")) as f:
            sys.exit("bench: nginx failed:\n" + f.read()[-4000:])
    return p


def spec(path, backend_port, n=100):
    lines = ["openapi: 3.0.3", "info: {title: bench, version: '1'}",
             "servers: [{url: /bench}]", "paths:"]
    for i in range(n):
        lines += [
            "  /res%d/{id}:" % i,
            "    parameters: [{name: id, in: path, required: true,"
            " schema: {type: string}}]",
            "    get:",
            "      operationId: get%d" % i,
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


def managed_doc(backend_port, i):
    """A small API as the management API gets it: two operations."""
    return json.dumps({
        "swagger": "2.0", "info": {"title": "api%d" % i, "version": "1"},
        "basePath": "/svc%d" % i,
        "paths": {"/items/{id}": {
            "get": {"operationId": "getItem", "responses": {},
                    "x-apigw-backend": {
                        "url": "http://127.0.0.1:%d/items/{id}"
                               % backend_port}},
            "put": {"operationId": "putItem", "responses": {},
                    "x-apigw-backend": {
                        "url": "http://127.0.0.1:%d/items/{id}"
                               % backend_port}}}}})


def managed_load(admin_port, backend_port, n, tenants):
    """POST n APIs over one keepalive connection; returns seconds."""
    c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=60)
    t0 = time.time()
    for i in range(n):
        c.request("POST", "/v2/t%d/apis" % (i % tenants),
                  managed_doc(backend_port, i),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            sys.exit("bench: management API answered %d" % r.status)
    c.close()
    return time.time() - t0


def workers(master_pid):
    """The /proc/PID/status text of each of a master's worker processes."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/status" % pid) as f:
                st = f.read()
        except OSError:
            continue
        if re.search(r"^PPid:\s+%d$" % master_pid, st, re.M):
            found[int(pid)] = st
    return found


def workers_rss_kb(master_pid):
    """Resident memory of a master's worker processes, in KB."""
    return sum(int(re.search(r"^VmRSS:\s+(\d+)", st, re.M).group(1))
               for st in workers(master_pid).values())


def cpu_ns(pids):
    """CPU time the processes' threads have run, in ns (schedstat)."""
    total = 0
    for pid in pids:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
    return total


def managed_conf(d, port, admin_port):
    os.makedirs(d, mode=0o777)
    os.chmod(d, 0o777)
    return """
    apigw_store file:%s/store.json zone_size=256m;
    apigw_public_url http://127.0.0.1:%d;
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / { apigw; }
    }
    server {
        listen 127.0.0.1:%d;
        location / { apigw_admin; apigw_admin_token_file off; }
    }""" % (d, port, port, admin_port)


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
    from idp import Key, make_token
    rsa, ec = Key("RSA", "rs"), Key("ES256", "es")
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump({"keys": [rsa.jwk(), ec.jwk()]}, f)
    with open(os.path.join(d, "keys.txt"), "w") as f:
        f.write("key %s id=bench consumer=bench\n"
                % hashlib.sha256(API_KEY.encode()).hexdigest())
    claims = {"iss": "bench", "aud": "bench", "sub": "bench-user",
              "exp": int(time.time()) + 7200, "scope": "read"}
    return (make_token(rsa, claims, alg="RS256"),
            make_token(ec, claims, alg="ES256"))


def wrk(url, args, script=None, headers=(), gateway=()):
    """requests/s, p99 (ms), the command, and the CPU time the gateway's
    workers (pids) spent per request (us)"""
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections),
           "-d", "%ds" % args.duration, "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    cpu0 = cpu_ns(gateway)
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    cpu = cpu_ns(gateway) - cpu0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    p99 = float(m.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        sys.exit("bench: errors during the run of %s:\n%s"
                 % (" ".join(cmd), out))
    return rps, p99, cmd, cpu / 1000.0 / max(n, 1)


def openloop(url, rate, headers=(), duration=5, warm=1):
    """bench/openloop at a fixed rate (rate None: as fast as 64
    connections go, i.e. saturation as this client sees it)"""
    cmd = [OPENLOOP, "-r", "%d" % (rate or 10 ** 7), "-c", "64", "-d",
           str(duration), "-w", str(warm)]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True)
    try:
        d = json.loads(out.stdout)
    except ValueError:
        sys.exit("bench: %s failed:\n%s" % (" ".join(cmd), out.stderr))
    if d["errors"] or d["non2xx"] or d["unanswered"]:
        sys.exit("bench: errors during %s:\n%s" % (" ".join(cmd),
                                                     out.stdout))
    return d


def latency(scen, pport, rounds):
    """p99 added at half of saturation (DESIGN.md's latency bar)

    For each scenario: its saturation under the open-loop client, then
    rounds at half that rate, each run back to back with the bare
    proxy_pass sent the same request at the same rate, in alternating
    order; the figure is the median of the rounds' p99 differences.
    """
    rows = ["| scenario | saturation, open loop (requests/s) | offered "
            "(requests/s) | p50 bare / apigw (ms) | p99 bare / apigw (ms) "
            "| p99 added (ms) | rounds with a stall |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, port, p, _, hd, _ in scen:
        if name not in LATENCY:
            continue
        url = "http://127.0.0.1:%d%s" % (port, p)
        burl = "http://127.0.0.1:%d%s" % (pport, p)
        openloop(url, None, hd, duration=2)              # warm up
        rate = openloop(url, None, hd, duration=3)["throughput"] / 2
        got = {"s": [], "b": []}
        for rnd in range(rounds):
            runs = [("s", url), ("b", burl)]
            if rnd % 2:
                runs.reverse()
            for kind, u in runs:
                got[kind].append(openloop(u, rate, hd))
        med = {k: {q: statistics.median(r[q] for r in v) / 1000.0
                   for q in ("p50", "p99")} for k, v in got.items()}
        # requests due that no connection was free to send by the end: the
        # run was overloaded, and its p99 leaves them out
        unsent = sum(r["unsent"] for v in got.values() for r in v)
        added = statistics.median(
            (s["p99"] - b["p99"]) / 1000.0
            for s, b in zip(got["s"], got["b"]))
        # the machine stops everything for 70-100 ms now and then, bare
        # or not: a round whose p99 is over 10 ms on either side
        stalls = sum(1 for s, b in zip(got["s"], got["b"])
                     if max(s["p99"], b["p99"]) > 10000)
        rows.append("| %s | %.0f | %.0f | %.2f / %.2f | %.2f / %.2f | %.2f%s "
                    "| %d of %d |"
                    % (name, 2 * rate, rate, med["b"]["p50"],
                       med["s"]["p50"], med["b"]["p99"], med["s"]["p99"],
                       added, " (overloaded: %d requests not sent)" % unsent
                       if unsent else "", stalls, rounds))
    if len(rows) == 2:
        return ""
    return ("\n".join(rows) + "\n\nLatency at half of saturation: "
            "`build/openloop -r RATE -c 64 -d 5 -w 1` (bench/openloop.c: "
            "requests due at even intervals whatever came before, latency "
            "from the time each was due), saturation its throughput with "
            "no rate limit; %d rounds, each back to back with the bare "
            "`proxy_pass` sent the same requests at the same rate; p50 and "
            "p99 are medians of the rounds, p99 added the median of the "
            "rounds' differences.\n" % rounds)


def server(port, body):
    return """
    server {
        listen 127.0.0.1:%d backlog=4096;
        %s
    }""" % (port, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--latency-rounds", type=int, default=5,
                    help="rounds of the latency at half of saturation "
                    "(0: skip)")
    ap.add_argument("--managed", type=int, default=10000,
                    help="APIs loaded through the management API (0: skip)")
    ap.add_argument("--only", default="",
                    help="run only scenarios whose name contains this "
                    "(alternatives separated by |)")
    args = ap.parse_args()

    shutil.rmtree(OUT, ignore_errors=True)
    procs = []
    try:
        bport, pport, eport = free_port(), free_port(), free_port()
        fport = free_port()

        conf = os.path.join(OUT, "backend", "nginx.conf")
        os.makedirs(os.path.dirname(conf))
        nginx_conf(conf, server(bport, 'location / { return 200 "ok\\n"; }'))
        procs.append(start(conf, bport))

        conf = os.path.join(OUT, "bare", "nginx.conf")
        os.makedirs(os.path.dirname(conf))
        nginx_conf(conf, """
    upstream backend { server 127.0.0.1:%d; keepalive 64; }""" % bport
                   + server(pport, header_work(""))
                   # stock nginx doing by configuration what apigw does
                   # on every request it routes: the request id both ways
                   # and the X-Forwarded-* headers (issue 2)
                   + server(eport, header_work(ROUTE_HEADERS))
                   # ... and the headers of the full stack too: identity
                   # to the backend, the four RateLimit-* to the client
                   + server(fport, header_work(ROUTE_HEADERS
                                               + FULL_HEADERS)))
        procs.append(start(conf, pport))
        # the worker of each gateway, whose CPU time per request is measured
        pids = list(workers(procs[-1].pid))
        gw = dict.fromkeys((pport, eport, fport), pids)

        rdport = free_port()
        rd = subprocess.Popen(["redis-server", "--port", str(rdport),
                               "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
        procs.append(rd)
        if not wait_port(rdport, rd):
            sys.exit("bench: redis-server failed")

        # one apigw nginx, a server per variant of the same routing
        d = os.path.join(OUT, "apigw")
        os.makedirs(d)
        spec(os.path.join(d, "bench.yaml"), bport)
        rs_tok, es_tok = credentials(d)
        jwks = os.path.join(d, "jwks.json")
        auth_spec(os.path.join(d, "auth.yaml"), bport, "/a", jwks)
        auth_spec(os.path.join(d, "auth-nc.yaml"), bport, "/n", jwks)
        auth_spec(os.path.join(d, "auth-rl.yaml"), bport, "/f", jwks)
        auth_spec(os.path.join(d, "auth-rd.yaml"), bport, "/g", jwks)
        auth_spec(os.path.join(d, "auth-hy.yaml"), bport, "/h", jwks)
        local = ("apigw_rate_limit rate=1000000000r/s key=consumer;")
        ports = {k: free_port() for k in (
            "route", "validate", "local", "redis", "hybrid", "auth", "full")}
        body = "    apigw_keys_file keys.txt;\n" \
            "    apigw_limit_redis redis://127.0.0.1:%d;\n" % rdport
        body += server(ports["route"],
                       "location / { apigw; apigw_spec bench.yaml; }")
        body += server(ports["validate"], "location / { apigw; "
                       "apigw_spec bench.yaml; apigw_validate on; }")
        body += server(ports["local"], "location / { apigw; "
                       "apigw_spec bench.yaml; apigw_rate_limit "
                       "rate=1000000000r/s key=address; }")
        body += server(ports["redis"], "location / { apigw; "
                       "apigw_spec bench.yaml; apigw_rate_limit "
                       "rate=1000000000r/s key=address store=redis "
                       "on_redis_failure=closed; }")
        body += server(ports["hybrid"], "location / { apigw; "
                       "apigw_spec bench.yaml; apigw_rate_limit "
                       "rate=1000000000r/s key=address store=hybrid "
                       "on_redis_failure=closed; }")
        body += server(ports["auth"], """location /a/ {
            apigw; apigw_spec auth.yaml;
        }
        location /n/ {
            apigw; apigw_spec auth-nc.yaml; apigw_token_cache off;
        }""")
        body += server(ports["full"], """location /f/ {
            apigw; apigw_spec auth-rl.yaml; %s
        }
        location /g/ {
            apigw; apigw_spec auth-rd.yaml; %s
        }
        location /h/ {
            apigw; apigw_spec auth-hy.yaml; %s
        }""" % (local, local[:-1] + " store=redis on_redis_failure=closed;",
                local[:-1] + " store=hybrid on_redis_failure=closed;"))
        conf = os.path.join(d, "nginx.conf")
        nginx_conf(conf, body, load=True)
        procs.append(start(conf, ports["route"]))
        pids = list(workers(procs[-1].pid))
        gw.update(dict.fromkeys(ports.values(), pids))

        key = "X-Api-Key: " + API_KEY
        rs = "Authorization: Bearer " + rs_tok
        es = "Authorization: Bearer " + es_tok
        path = "/bench/res50/12345?q=1"
        bpath = "/bench/body"
        script = post_script(os.path.join(OUT, "post.lua"), body_1k())

        # (name, port, path, script, headers, baseline)
        scen = [
            ("bare `proxy_pass` (keepalive upstream)", pport, path, None,
             (), None),
            (HDR_REF, eport, path, None, (), "bare"),
            ("apigw routing (100 operations, match in the middle)",
             ports["route"], path, None, (), "bare"),
            ("apigw + local rate limit (shared memory)", ports["local"],
             path, None, (), "bare"),
            ("apigw + Redis rate limit (one round trip)", ports["redis"],
             path, None, (), "bare"),
            ("apigw + Redis rate limit, hybrid (synced every 100 ms)",
             ports["hybrid"], path, None, (), "bare"),
            ("apigw + API key (header)", ports["auth"], "/a/key/12345",
             None, (key,), "bare"),
            ("apigw + JWT RS256 (cached)", ports["auth"], "/a/jwt/12345",
             None, (rs,), "bare"),
            ("apigw + JWT RS256 (uncached: every request verified)",
             ports["auth"], "/n/jwt/12345", None, (rs,), "bare"),
            ("apigw + JWT ES256 (uncached)", ports["auth"], "/n/es/12345",
             None, (es,), "bare"),
            ("apigw + API key + JWT RS256 (cached)", ports["auth"],
             "/a/keyjwt/12345", None, (key, rs), "bare"),
            (FULL_REF, fport, "/f/keyjwt/12345", None, (key, rs), "bare"),
            ("full stack: route + API key + JWT RS256 + local limit",
             ports["full"], "/f/keyjwt/12345", None, (key, rs), "bare"),
            ("full stack with the Redis limit (one round trip)",
             ports["full"], "/g/keyjwt/12345", None, (key, rs), "bare"),
            ("full stack with the Redis limit, hybrid",
             ports["full"], "/h/keyjwt/12345", None, (key, rs), "bare"),
            ("bare `proxy_pass`, POST 1 KB JSON", pport, bpath, script, (),
             None),
            ("apigw, POST 1 KB JSON, not validated", ports["route"], bpath,
             script, (), "post"),
            ("apigw, POST 1 KB JSON validated (20 properties)",
             ports["validate"], bpath, script, (), "post"),
        ]

        managed = []
        if args.managed:
            for n in (1, args.managed):
                port, aport = free_port(), free_port()
                md = os.path.join(OUT, "managed%d" % n)
                conf = os.path.join(md, "nginx.conf")
                nginx_conf(conf, managed_conf(os.path.join(md, "store"),
                                              port, aport), load=True)
                p = start(conf, port)
                procs.append(p)
                gw[port] = list(workers(p.pid))
                time.sleep(0.5)
                rss0 = workers_rss_kb(p.pid)
                secs = managed_load(aport, bport, n, min(n, 100))
                time.sleep(1.0)
                rss1 = workers_rss_kb(p.pid)
                managed.append((n, secs, rss1 - rss0))
                scen.append(("apigw managed URL, %d API%s in the store"
                             % (n, "" if n == 1 else "s"), port,
                             "/api/t0/svc0/items/42", None, (), "bare"))

        if args.only:
            # alternatives separated by "|"
            scen = [s for s in scen if s[5] is None
                    or any(o and o in s[0] for o in args.only.split("|"))]

        # Every scenario is paired with the bare proxy_pass sent the very
        # same request (path, headers, body): the ratio is the cost of
        # apigw's work, not of a bigger request.  The pair runs back to
        # back, in alternating order, and the ratio is the median of the
        # rounds' pairs, so drift on a shared machine cancels out.
        def bare_of(sc, hd):
            return ("bare", sc, tuple(hd))

        results = {s[0]: [] for s in scen}
        pairs = {s[0]: [] for s in scen}
        # the gateway worker's CPU time per request: bare's over apigw's
        cpairs = {s[0]: [] for s in scen}
        bare = {}
        short = argparse.Namespace(**{**vars(args), "duration": 2})
        for name, port, p, sc, hd, _ in scen:          # warm up each
            wrk("http://127.0.0.1:%d%s" % (port, p), short, sc, hd)
        cmds = {}
        for rnd in range(args.rounds):
            # a new order every round (seeded: the same for every run), so
            # what a scenario leaves behind does not always fall on the same
            # next one
            order = list(scen)
            random.Random(rnd).shuffle(order)
            for name, port, p, sc, hd, b in order:
                if b is None:
                    continue
                runs = [("s", port), ("b", pport)]
                if rnd % 2:
                    runs.reverse()
                got = {}
                for kind, prt in runs:
                    got[kind] = wrk("http://127.0.0.1:%d%s" % (prt, p), args,
                                    sc, hd, gw[prt])
                results[name].append(got["s"])
                bare.setdefault(bare_of(sc, hd), []).append(got["b"])
                pairs[name].append(got["s"][0] / got["b"][0])
                cpairs[name].append(got["b"][3] / got["s"][3])
                cmds.setdefault(name, got["b"][2])
        # the command shown: the first scenario's (the rounds are shuffled)
        cmd = next((cmds[x[0]] for x in scen if x[0] in cmds), None)
        if cmd is None:
            sys.exit("bench: no scenario matches --only %r" % args.only)
        scen = [x for x in scen
                if x[5] is not None or bare_of(x[3], x[4]) in bare]
        for name, _, _, sc, hd, b in scen:
            if b is None:
                results[name] = bare[bare_of(sc, hd)]
                pairs[name] = [1.0]
                cpairs[name] = [1.0]

        med = {n: tuple(statistics.median(r[i] for r in rs)
                        for i in (0, 1, 3))
               for n, rs in results.items() if rs}
        table = ["| scenario | requests/s | p99 (ms) | bare, same request "
                 "(requests/s) | ratio to bare | middle half of the "
                 "ratios | gateway CPU per request, bare / this (us) "
                 "| CPU ratio |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, _, _, sc, hd, b in scen:
            rps, p99, cpu = med[name]
            brps = statistics.median(r[0] for r in bare[bare_of(sc, hd)])
            bcpu = statistics.median(r[3] for r in bare[bare_of(sc, hd)])
            if len(pairs[name]) > 1:
                q = statistics.quantiles(pairs[name], n=4)
                spread = "%.2f–%.2f" % (q[0], q[2])
            else:
                spread = ""
            table.append("| %s | %.0f | %.2f | %.0f | %.2f | %s | "
                         "%.1f / %.1f | %.2f |"
                         % (name, rps, p99, brps,
                            statistics.median(pairs[name]), spread,
                            bcpu, cpu, statistics.median(cpairs[name])))

        shown = " ".join(a for a in cmd if a not in ("-H",) and
                         not a.startswith("Authorization") and
                         not a.startswith("X-Api-Key"))
        report = "\n".join(table) + "\n\n"
        report += ("Each scenario ran %d times (the rounds in shuffled "
                   "orders), each time back to back with "
                   "the bare `proxy_pass` sent the same request (path, "
                   "headers, body), in alternating order; requests/s and "
                   "p99 are medians, the ratio is the median of the paired "
                   "runs' ratios, and the last column the range of the "
                   "middle half of them (first to third quartile).  The "
                   "gateway CPU is the time its worker ran (user and "
                   "system, from /proc/PID/task/*/schedstat) per request "
                   "answered, medians of the rounds; the CPU ratio is "
                   "the median of the paired runs' bare / this: 1.00 "
                   "means no more CPU per request than a bare proxy.  "
                   "Command: `%s` (with each scenario's headers and "
                   "`-s post.lua` for POSTs), %s, nproc=%d.\n"
                   % (args.rounds, re.sub(r":\d+/", ":PORT/", shown),
                      time.strftime("%Y-%m-%d"), os.cpu_count()))
        v = "apigw, POST 1 KB JSON validated (20 properties)"
        nv = "apigw, POST 1 KB JSON, not validated"
        if pairs.get(v) and pairs.get(nv):
            # the same round's ratios to the same bare POST
            report += "Validated / not validated: %.2f.\n" \
                % statistics.median(a / b for a, b in zip(pairs[v],
                                                          pairs[nv]))
        def against(ref, sc, what):
            """sc against the stock nginx doing its header work, both of
            the same rounds"""
            if pairs.get(ref) and pairs.get(sc):
                return ("%s / nginx adding the same headers by "
                        "configuration: %.2f (those headers cost a bare "
                        "proxy %.0f %%).\n"
                        % (what, statistics.median(
                            a / b for a, b in zip(pairs[sc], pairs[ref])),
                           100 * (1 - statistics.median(pairs[ref]))))
            return ""

        report += against(HDR_REF, "apigw routing (100 operations, match "
                          "in the middle)", "apigw routing")
        report += against(FULL_REF, "full stack: route + API key + JWT "
                          "RS256 + local limit", "full stack (local limit)")
        if len(managed) == 2:
            (n1, _, _), (nn, secs, rss) = managed
            a1 = "apigw managed URL, 1 API in the store"
            an = "apigw managed URL, %d APIs in the store" % nn
            if pairs.get(a1) and pairs.get(an):
                # the same round's ratios to the same bare proxy: the
                # medians of requests/s drift with the machine between
                # rounds
                report += ("%d APIs / 1 API (managed URL match): %.2f. "
                           % (nn, statistics.median(
                               a / b for a, b in zip(pairs[an],
                                                     pairs[a1]))))
            report += ("Loading %d APIs through the management API took "
                       "%.0f s; worker memory grew by %.1f MB, %.2f MB per "
                       "1,000 APIs.\n" % (nn, secs, rss / 1024.0,
                                          rss / 1024.0 * 1000 / nn))
        if args.latency_rounds:
            report += "\n" + latency(scen, pport, args.latency_rounds)
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
