"""The harness's own promises that the other tests lean on."""

import socket

import harness


def test_free_ports_are_never_handed_out_twice():
    # bind(0) alone repeats a port about once in 1,200 gateways of five
    # ports; a repeat made a gateway's admin port its TLS port
    ports = [harness.free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))
