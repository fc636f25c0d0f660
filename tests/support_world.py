"""The world service for tests: ``sim.process``'s child process with the HTTP adapters
over it (``gateways()``), and a fake product receiver for its pushes. For
tests/test_world_service.py, the chaos test and the bench (see ``sim.process``)::

    world = start_world_service(world_file, db_url, day_seconds=0.5,
                                replies_url=receiver.url, credential="secret")
    gateways = world.gateways()        # adapters.world_http over it
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from activities.gateways import Gateways
from adapters.http_client import HttpConfig
from adapters.world_http import http_gateways
from sim import process
from sim.process import free_port
from sim.world_file import WorldFile

__all__ = ["FakeReceiver", "WorldService", "free_port", "start_world_service"]


class WorldService(process.WorldService):
    """``sim.process.WorldService`` with the HTTP adapters over it."""

    def config(self, timeout: float = 5.0) -> HttpConfig:
        """The adapters' configuration for this service (its TLS files, if any)."""
        t = self.tls
        return HttpConfig(
            base_url=self.url,
            credential=self.credential,
            timeout=timeout,
            ca_bundle=str(t.ca) if t else None,
            client_cert=str(t.client_cert) if t and t.client_cert else None,
            client_key=str(t.client_key) if t and t.client_key else None,
        )

    def gateways(self, timeout: float = 5.0) -> Gateways:
        return http_gateways(self.config(timeout))


def start_world_service(
    world_file: Path | WorldFile | None,
    db_url: str,
    day_seconds: float,
    replies_url: str | None = None,
    credential: str | None = None,
    **kw: Any,
) -> WorldService:
    """``sim.process.start_world_service``, answering a ``WorldService`` of the tests."""
    return process.start_world_service(
        world_file, db_url, day_seconds, replies_url, credential, cls=WorldService, **kw
    )


# A fake product receiver ----------------------------------------------------------------
class FakeReceiver:
    """``POST /integrations/acro/replies``: records each reply, answers 202 — or, while
    ``fail_next`` > 0, ``fail_code`` (one fewer each time)."""

    def __init__(self, credential: str | None = None) -> None:
        self.credential = credential
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_next = 0
        self.fail_code = 503
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                code, answer = receiver._answer(self.path, dict(self.headers), body)
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.attempts += 1
            if path != "/integrations/acro/replies":
                return 404, {"detail": "no such route"}
            if self.credential and headers.get("Authorization") != f"Bearer {self.credential}":
                return 401, {"detail": "unauthorised"}
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_code, {"detail": "failing on purpose"}
            reply = json.loads(body)
            status = (
                "duplicate"
                if any(r["reply_id"] == reply["reply_id"] for r in self.received)
                else "delivered"
            )
            self.received.append(reply)
            self.headers.append(headers)
            return 202, {"reply_id": reply["reply_id"], "status": status}

    def reply_ids(self) -> list[str]:
        with self._lock:
            return [r["reply_id"] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# TLS files for a test ----------------------------------------------------------------------
def tls_files(folder: Path) -> process.WorldTls:
    """A CA, a certificate of it for 127.0.0.1 and one for a client (PEM files in
    ``folder``): the service over HTTPS asking callers for a certificate of the CA."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> Path:
        (folder / f"{stem}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path = folder / f"{stem}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("world test CA"))
        .issuer_name(name("world test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def issued(cn: str, server: bool) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.ExtendedKeyUsageOID.SERVER_AUTH]
                    if server
                    else [x509.ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return key, builder.sign(ca_key, hashes.SHA256())

    ca_path = write("ca", ca_key, ca)
    server_cert = write("server", *issued("world service", True))
    client_cert = write("client", *issued("worker", False))
    return process.WorldTls(
        cert=server_cert,
        key=folder / "server.key",
        ca=ca_path,
        client_ca=ca_path,
        client_cert=client_cert,
        client_key=folder / "client.key",
    )
