#!/usr/bin/env python3
"""Zip the "no successful run" check Lambda for Terraform, reproducibly.

Terraform reads ``infra/terraform/modules/monitoring/.build/last_success.zip`` (the AWS provider
is the only provider the stack needs, so the zip is not made by the ``archive`` provider). The
same source gives the same bytes: fixed timestamps, permissions and order, so the function's
``source_code_hash`` only changes when the code does. Standard library only.

    python3 infra/build-lambda-zip.py        # prints the zip's path and base64 sha256
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

MODULE = Path(__file__).resolve().parent / "terraform" / "modules" / "monitoring"
SOURCES = (MODULE / "lambda" / "last_success.py",)
ZIP = MODULE / ".build" / "last_success.zip"
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def build(target: Path = ZIP) -> str:
    """Write the zip and return its base64-encoded sha256 (Terraform's ``filebase64sha256``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.partial")
    # Stored, not deflated: deflate output may differ between zlib builds; the file is 1 KiB.
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for source in sorted(SOURCES):
            entry = zipfile.ZipInfo(source.name, date_time=EPOCH)
            entry.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            entry.create_system = 3  # Unix, whatever the building machine is
            archive.writestr(entry, source.read_bytes())
    partial.replace(target)
    return base64.b64encode(hashlib.sha256(target.read_bytes()).digest()).decode()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ZIP
    digest = build(out)
    sys.stdout.write(f"{out} sha256 {digest}\n")
