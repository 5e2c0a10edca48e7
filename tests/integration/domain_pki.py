"""A test CA and certificates for the custom-domain tests, made with the
openssl command-line tool at test time."""

import hashlib
import os
import ssl
import subprocess


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True)


CA_CNF = """[ca]
default_ca = ca_default
[ca_default]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
copy_extensions = copy
unique_subject = no
[policy_any]
commonName = supplied
"""


class Pki:
    """CA "ca" (trusted by the clients) and leaf certificates signed by it;
    issue() returns (chain path, key path)."""

    def __init__(self, d):
        self.dir = d
        self.n = 0
        self.make_ca("ca")
        self.make_ca("rogue-ca")
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write(CA_CNF)
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_ca(self, name):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3",
                "-subj", "/CN=apigw test %s" % name,
                "-keyout", name + "-key.pem", "-out", name + ".pem",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                cwd=self.dir)

    def issue(self, cn, sans, ca="ca", expired=False, key_type="ec"):
        """A leaf for DNS names `sans`; the chain file has the leaf only
        (the CA is the trust anchor)."""
        self.n += 1
        name = "leaf%d" % self.n
        if key_type == "ec":
            newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        else:
            newkey = ["-newkey", "rsa:2048"]
        openssl("req", *newkey, "-nodes", "-subj", "/CN=%s" % cn,
                "-keyout", name + "-key.pem", "-out", name + ".csr",
                cwd=self.dir)
        ext = "%s.ext" % name
        with open(self.path(ext), "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n"
                    "basicConstraints=CA:FALSE\n"
                    % ",".join("DNS:" + s for s in sans))
        if expired:
            openssl("ca", "-batch", "-config", "ca.cnf", "-cert", ca + ".pem",
                    "-keyfile", ca + "-key.pem", "-in", name + ".csr",
                    "-out", name + ".pem", "-extfile", ext, "-notext",
                    "-startdate", "20200101000000Z",
                    "-enddate", "20200201000000Z", cwd=self.dir)
        else:
            openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
                    "-CAkey", ca + "-key.pem", "-set_serial",
                    str(5000 + self.n), "-days", "2", "-extfile", ext,
                    "-out", name + ".pem", cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + "-key.pem")


def read(path):
    with open(path) as f:
        return f.read()


def fingerprint(pem_path):
    """SHA-256 of the certificate's DER, as AA:BB:..."""
    der = ssl.PEM_cert_to_DER_cert(read(pem_path).split(
        "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def served_fingerprint(port, server_name, cafile=None):
    """The SHA-256 fingerprint of the certificate served for SNI
    `server_name` (verified against `cafile` when given)."""
    import socket
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=server_name) as t:
            der = t.getpeercert(binary_form=True)
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))
