"""TLS material for a broker with mutual TLS, made with openssl."""

import subprocess
from pathlib import Path

from .waits import HarnessError


def make_tls_material(directory, client_names=("client",)):
    """A CA, a server certificate for 127.0.0.1/localhost and client certificates, with openssl."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        result = subprocess.run(list(args), cwd=d, capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError("openssl failed: %s\n%s" % (" ".join(args), result.stderr))

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=edge-test-ca")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    material = {"ca": str(d / "ca.crt"), "server_cert": str(d / "server.crt"), "server_key": str(d / "server.key")}
    for name in client_names:
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "%s.key" % name, "-out", "%s.csr" % name,
            "-subj", "/CN=%s" % name)
        run("openssl", "x509", "-req", "-in", "%s.csr" % name, "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "%s.crt" % name, "-days", "2", "-extfile", "client.ext")
        material[name] = {"cert": str(d / ("%s.crt" % name)), "key": str(d / ("%s.key" % name))}
    return material
