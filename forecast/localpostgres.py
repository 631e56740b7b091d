"""Debian's PostgreSQL for the local Prefect server: installed, its cluster created and started,
and one role and database per state home.

The local Prefect server keeps its state in PostgreSQL, as a production server does, instead of
SQLite. This module makes that true on a Debian machine with nothing installed: the
``postgresql`` package is installed with apt when missing (as root, or through ``sudo -n``), the
Debian cluster is created if there is none and started if it is down (``pg_ctlcluster
--skip-systemctl-redirect``: these machines have no systemd), and a role and a database are
created, or brought up to date, through ``psql`` run as the ``postgres`` user.

Passwords never travel in argv: the SQL goes to ``psql`` on stdin, and the role's password is
set from a SCRAM-SHA-256 verifier computed here (PostgreSQL stores it as such), so even the
statement, were it logged, would not hold the password. The cluster is shared by everything on
the machine; a home's role and database are named after the home (``forecast_prefect_<hash>``),
so two checkouts or two tests never share or reset each other's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from forecast.errors import ConfigurationError

PACKAGE = "postgresql"
"""Debian's PostgreSQL metapackage (15 on bookworm): the server, the client, postgresql-common."""
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default for scram_iterations
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Cluster:
    """One Debian PostgreSQL cluster (a line of ``pg_lsclusters``)."""

    version: str
    name: str
    port: int
    online: bool


@dataclass(frozen=True)
class Database:
    """A database and the role that owns it, on a local cluster."""

    name: str
    role: str
    port: int
    host: str = "127.0.0.1"

    def url(self, password: str) -> str:
        """The SQLAlchemy URL Prefect's server takes (asyncpg), password included: for the
        server's environment only, never argv or a log."""
        return (
            f"postgresql+asyncpg://{self.role}:{quote(password, safe='')}"
            f"@{self.host}:{self.port}/{self.name}"
        )


def database_name(home: Path) -> str:
    """The role and database of a state home: ``forecast_prefect_`` and a hash of its path."""
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return f"forecast_prefect_{digest}"


def new_password() -> str:
    """A random password safe in a URL without quoting (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677).

    ``ALTER ROLE ... PASSWORD '<verifier>'`` sets the password without the statement holding it.
    """
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class LocalPostgres:
    """Debian's PostgreSQL on this machine, driven through its own tools."""

    def installed(self) -> bool:
        """Whether a PostgreSQL server and Debian's cluster tools are installed."""
        return shutil.which("pg_lsclusters") is not None and bool(_server_versions())

    def install(self) -> None:
        """``apt-get install postgresql`` (as root, or through ``sudo -n``).

        Raises:
            ConfigurationError: no apt (not Debian), no root and no password-less sudo, or apt
                failed (its last lines are in the message).
        """
        if shutil.which("apt-get") is None:
            raise ConfigurationError(
                "PostgreSQL is not installed and this is not a Debian system (no apt-get): "
                "install PostgreSQL 15, or run `forecast setup --no-prefect-server` to keep "
                "Prefect's ephemeral API"
            )
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", PACKAGE]):
            _run(_as_root(command, f"installing {PACKAGE}"), env=environment, timeout=900)

    def cluster(self) -> Cluster | None:
        """The cluster to use: ``main`` of the newest version, else the newest one (None: none)."""
        listed = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
        ).stdout
        clusters = []
        for line in listed.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2].isdigit():
                clusters.append(
                    Cluster(fields[0], fields[1], int(fields[2]), fields[3] == "online")
                )
        if not clusters:
            return None
        clusters.sort(key=lambda c: (float(c.version), c.name == "main"))
        return clusters[-1]

    def start(self) -> Cluster:
        """Install PostgreSQL if missing, create the cluster if there is none, start it if it is
        down; return it, online.

        Raises:
            ConfigurationError: a step needs root that this user cannot get, or failed.
        """
        if not self.installed():
            self.install()
        cluster = self.cluster()
        if cluster is None:
            version = _server_versions()[-1]
            _run(_as_root(["pg_createcluster", version, "main"], "creating its cluster"))
            cluster = self.cluster()
            if cluster is None:
                raise ConfigurationError("pg_createcluster made no cluster (see pg_lsclusters)")
        if not cluster.online:
            start = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster.version, cluster.name, "start"]  # fmt: skip
            _run(_as_root(start, "starting its cluster"))
            cluster = Cluster(cluster.version, cluster.name, cluster.port, True)
        return cluster

    def ensure_database(self, name: str, password: str) -> Database:
        """Create role ``name`` (login, this password) and database ``name`` it owns, or set the
        password of an existing role; return the database. Idempotent.

        Raises:
            ConfigurationError: the name is not a plain lowercase identifier, or psql failed.
        """
        cluster = self.start()
        _check_name(name)
        verifier = scram_verifier(password)
        script = (
            f"SELECT 'CREATE ROLE {name}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_roles WHERE rolname = '{name}')\\gexec\n"
            f"ALTER ROLE {name} LOGIN PASSWORD '{verifier}';\n"
            f"SELECT 'CREATE DATABASE {name} OWNER {name}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = '{name}')\\gexec\n"
        )
        self.psql(script, cluster=cluster)
        return Database(name=name, role=name, port=cluster.port)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (closing its connections) and its role, if they exist."""
        _check_name(name)
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);\nDROP ROLE IF EXISTS {name};\n")

    def query(self, database: str, sql: str) -> list[list[str]]:
        """Rows of ``sql`` run in ``database`` as the ``postgres`` user (fields as text)."""
        _check_name(database)
        text = self.psql(sql, database=database, tuples=True)
        return [line.split("|") for line in text.splitlines() if line]

    def psql(
        self, script: str, *, database: str = "postgres", tuples: bool = False, cluster: Cluster | None = None
    ) -> str:  # fmt: skip
        """Run ``script`` (on stdin, never argv) with ``psql`` as the ``postgres`` user; return
        its output.

        Raises:
            ConfigurationError: psql failed (its error is in the message).
        """
        cluster = cluster or self.start()
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(cluster.port), "-d", database]  # fmt: skip
        if tuples:
            command += ["-A", "-t"]
        return _run(_as_postgres(command), stdin=script)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigurationError(f"{name!r} is not a plain PostgreSQL name ([a-z_][a-z0-9_]*)")


def _server_versions() -> list[str]:
    """Installed PostgreSQL server versions (``/usr/lib/postgresql/<v>/bin/postgres``), oldest first."""
    root = Path("/usr/lib/postgresql")
    found = [p.parent.parent.name for p in root.glob("*/bin/postgres")] if root.is_dir() else []
    return sorted(found, key=float)


def _as_root(command: list[str], why: str) -> list[str]:
    if os.geteuid() == 0:
        return command
    if shutil.which("sudo"):
        return ["sudo", "-n", *command]
    raise ConfigurationError(
        f"PostgreSQL for the local Prefect server needs root for {why}: run "
        f"`sudo {' '.join(command)}` once, or `forecast setup --no-prefect-server`"
    )


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user (peer authentication on the local socket)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    if shutil.which("sudo"):
        return ["sudo", "-n", "-u", "postgres", *command]
    raise ConfigurationError(
        "creating the local Prefect server's database needs the postgres user: run this as "
        "root or with password-less sudo, or `forecast setup --no-prefect-server`"
    )


def _run(
    command: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> str:  # fmt: skip
    """Run ``command``; return its stdout.

    Raises:
        ConfigurationError: it could not start or exited non-zero (its last output lines are in
            the message; a sudo that wants a password says so).
    """
    try:
        done = subprocess.run(
            command, input=stdin, env=env, capture_output=True, text=True, timeout=timeout,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigurationError(f"{' '.join(command[:4])}: {exc}") from exc
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ConfigurationError(f"`{' '.join(command[:6])}` exited {done.returncode}: {tail}")
    return done.stdout
