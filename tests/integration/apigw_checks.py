"""Shared checks of the integration tests (imported by the test modules)."""

import json
import re

import harness

HEX32 = re.compile(r"[0-9a-f]{32}")


def assert_error(r, status, message, id_header="X-Request-ID"):
    """An error apigw answered itself: the JSON shape, with the request id
    of the response header; returns that id."""
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    rid = r.header(id_header)
    assert rid, r
    assert len(r.header_all(id_header)) == 1, r
    assert r.json() == {"status": status, "message": message,
                        "request_id": rid}, r
    return rid


def last_raw(whisk):
    """The last request the raw echo backend (/raw/...) received."""
    return json.loads(harness.request(whisk.port, "GET",
                                      "/_whisk/last?kind=raw").body)


def header_values(entry, name):
    """Values of a header in a stand-in log entry, in received order."""
    name = name.lower()
    return [v for k, v in entry["headers"] if k.lower() == name]


def header_names(entry):
    return [k.lower() for k, _ in entry["headers"]]


def gateway(spec_lines, extra_server="", extra_location="", extra_http=""):
    """The http{} content of one apigw server on {port}."""
    return """
%s
server {
    listen 127.0.0.1:{port};
    %s
    location / {
        apigw;
        %s
        %s
    }
}
""" % (extra_http, extra_server, spec_lines, extra_location)
