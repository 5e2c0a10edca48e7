#!/usr/bin/python3
"""`make run`: nginx with apigw, the example specs and the OpenWhisk stand-in.

Runs in the foreground; Ctrl-C stops everything.
"""

import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATEWAY = ("127.0.0.1", 8080)
WHISK = ("127.0.0.1", 3233)
NGINX = os.environ.get("APIGW_NGINX", "/usr/sbin/nginx")


def port_busy(addr):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(addr) == 0


def wait_port(addr, proc, what):
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"demo: {what} exited with status {proc.returncode}")
        if port_busy(addr):
            return
        time.sleep(0.05)
    sys.exit(f"demo: {what} did not start listening on {addr[0]}:{addr[1]}")


def main():
    for addr, what in ((GATEWAY, "the gateway"), (WHISK, "the stand-in")):
        if port_busy(addr):
            sys.exit(f"demo: {addr[0]}:{addr[1]} is in use ({what} port); "
                     "stop whatever listens there and retry")

    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(ROOT, "build/demo/tmp", d), exist_ok=True)

    conf = os.path.join(ROOT, "examples/nginx.conf")
    test = subprocess.run([NGINX, "-p", ROOT + "/", "-c", conf, "-t", "-q"],
                          capture_output=True, text=True)
    if test.returncode != 0:
        sys.exit("demo: nginx -t failed:\n" + test.stderr)

    procs = []
    whisk = subprocess.Popen(
        ["/usr/bin/python3", os.path.join(ROOT, "tests/whisk/whisk.py"),
         "--host", WHISK[0], "--port", str(WHISK[1])],
        stdout=subprocess.DEVNULL)
    procs.append(whisk)
    wait_port(WHISK, whisk, "the OpenWhisk stand-in")

    nginx = subprocess.Popen([NGINX, "-p", ROOT + "/", "-c", conf])
    procs.append(nginx)
    wait_port(GATEWAY, nginx, "nginx")

    g = "http://%s:%d" % GATEWAY
    print(f"""
apigw demo is running: nginx + apigw on {g}, OpenWhisk stand-in on
http://{WHISK[0]}:{WHISK[1]}.  Specs: examples/specs/, config:
examples/nginx.conf, access log: build/demo/access.log.

Try:
  curl -i {g}/club/hello?name=Ada
  curl -i {g}/club/books
  curl -i {g}/club/books/2
  curl -i -X POST -H 'Content-Type: application/json' \\
       -d '{{"title": "SICP"}}' {g}/club/books
  curl -s {g}/club/cover.png | file -
  curl -i -X OPTIONS -H 'Origin: https://bookclub.example' \\
       -H 'Access-Control-Request-Method: POST' {g}/club/books
  curl -i {g}/hello/world?name=Grace
  curl -i {g}/hello/greeting/Linus        (secured web action; apigw injects the key)
  curl -i -X DELETE {g}/club/books        (405 with Allow)
  curl -i {g}/club/nope                   (404 JSON)

Check a spec before deploying it:
  build/apigw check examples/specs/*
  build/apigw routes --openwhisk-url http://127.0.0.1:3233 examples/specs/bookclub.yaml

Ctrl-C stops the demo.
""", flush=True)

    def stop(*_):
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGQUIT if p is nginx else signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        print("\napigw demo stopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    while True:
        for p in procs:
            if p.poll() is not None:
                print(f"demo: a process exited ({p.args[0]}, status "
                      f"{p.returncode}); stopping", file=sys.stderr)
                stop()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
