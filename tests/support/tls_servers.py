"""Real certificates on real loopback HTTPS servers, for the TLS certificate tests.

Certificates are made with the ``cryptography`` package (asyncssh's dependency):
a private CA, and leaves signed by it (or by themselves) with any validity and
names. Each server is Python's http.server with an ssl context in a thread, on
127.0.0.1; ``renew`` loads a new certificate into the running server's context,
so the next handshake presents it (what a renewal plus reload does).
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DAY = dt.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opsdash tests")])


class CA:
    def __init__(self, cn: str = "opsdash test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        self.name = _name(cn)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def leaf(dirpath: Path, stem: str, *, ca: CA | None, days: float, names: tuple[str, ...] = ("127.0.0.1", "localhost"),
         cn: str | None = None) -> tuple[Path, Path]:
    """A certificate valid until now + ``days`` (negative: expired), signed by ``ca`` (None:
    self-signed), for ``names`` (addresses become IP SANs). Returns (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = _name(cn or names[0])
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    not_after = now + dt.timedelta(days=days)
    not_before = min(now - DAY, not_after - 30 * DAY)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca.name if ca else subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca.key if ca else key, hashes.SHA256())
    )
    c, k = dirpath / f"{stem}.pem", dirpath / f"{stem}.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


class HTTPSServer:
    def __init__(self, cert: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
        self.httpd.socket = self.ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def renew(self, cert: Path, key: Path) -> None:
        self.ctx.load_cert_chain(cert, key)  # new handshakes present the new certificate

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
