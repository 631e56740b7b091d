"""A production-style URI: SCRAM credentials, TLS, authSource, retryWrites and w=majority.

SecantusDB runs with ``--auth`` and a TLS certificate made here (a throw-away self-signed CA);
the user is created before auth is switched on (SecantusDB has no localhost exception), then the
pipeline's MongoDB code talks to it only through the URI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from flows.cli import main
from forecast import mongo
from forecast.errors import TransientError
from tests.flows.test_mongo_adapter import plans as sample_plans
from tests.support import SecantusServer, free_port

PASSWORD = "s3cr@t:pw"  # characters that must be escaped in a URI
ESCAPED = "s3cr%40t%3Apw"


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )  # fmt: skip
    return cert_file, key_file


def _uri(port: int, ca_file: Path, password: str = ESCAPED) -> str:
    return (
        f"mongodb://loader:{password}@127.0.0.1:{port}/?tls=true&tlsCAFile={ca_file}"
        "&authSource=admin&retryWrites=true&w=majority&serverSelectionTimeoutMS=2000"
    )


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    """Yield (port, CA file) of a SecantusDB requiring SCRAM auth over TLS."""
    home = tmp_path_factory.mktemp("secure")
    storage, port = str(home / "data"), free_port()
    plain = SecantusServer(home / "setup", storage=storage, port=port)
    plain.start()
    plain.client().admin.command(
        "createUser", "loader", pwd=PASSWORD,
        roles=[{"role": "readWrite", "db": "secure_db"}, {"role": "dbAdmin", "db": "secure_db"}],
    )  # fmt: skip
    plain.stop()
    cert_file, key_file = _certificate(home)
    server = SecantusServer(
        home / "run", storage=storage, port=port,
        extra_args=["--auth", "--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file)],
    )  # fmt: skip
    server.probe_uri = _uri(port, cert_file)
    server.start()
    yield port, cert_file
    server.stop()


def test_the_load_works_through_an_authenticated_tls_uri(secure):
    target = mongo.MongoTarget(uri=_uri(*secure), database="secure_db")
    planned = sample_plans()
    with mongo.connect(target) as client:
        mongo.prepare(client, target)
        counts = mongo.load(client, target, planned)
        assert counts.inserted == 5 and counts.failed == 0
        assert mongo.reconcile(client, target, planned).ok
    assert PASSWORD not in repr(target) and ESCAPED not in target.display


def test_a_wrong_password_fails_without_printing_it(secure, capsys, tmp_path):
    uri_file = tmp_path / "uri"
    uri_file.write_text(_uri(*secure, password="wrong-pw%21") + "\n")
    code = main(["crud-check", "--mongo-uri-file", str(uri_file), "--database", "secure_db"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "wrong-pw" not in out + err
    assert "refused the credentials of the URI (code 18: authentication failed)" in err
    assert "mongodb://***@127.0.0.1" in err and len(err.strip().splitlines()) == 1


def test_crud_check_passes_over_tls_with_credentials(secure, capsys, monkeypatch):
    monkeypatch.setenv("FORECAST_MONGO_URI", _uri(*secure))
    code = main(["crud-check", "--database", "secure_db"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "all steps ok" in out and ESCAPED not in out + err and PASSWORD not in out + err


def test_without_tls_the_server_is_unreachable(secure):
    port, _ = secure
    plain_uri = f"mongodb://loader:{ESCAPED}@127.0.0.1:{port}/?authSource=admin&serverSelectionTimeoutMS=500"
    target = mongo.MongoTarget(uri=plain_uri, database="secure_db")
    with pytest.raises(TransientError) as raised, mongo.connect(target):
        pass
    assert ESCAPED not in str(raised.value) and PASSWORD not in str(raised.value)
