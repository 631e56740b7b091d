"""S3 for tests: a real moto server over HTTP on 127.0.0.1, buckets and Airbyte-style uploads.

No in-process patching: the pipeline reaches the server through boto3 exactly as it would
reach AWS, with dummy credentials from the environment.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.s3 import S3Bucket

REGION = "eu-west-1"
AIRBYTE_PREFIX = "airbyte-sync/"
AIRBYTE_FOLDERS = {".json": "infoclimat", ".xlsx": "wunderground"}


class MotoS3:
    """A running moto server and the few S3 operations tests need."""

    def __init__(self, server: ThreadedMotoServer) -> None:
        host, port = server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self._client = boto3.client("s3", endpoint_url=self.url, region_name=REGION)

    def client(self) -> Any:
        return self._client

    def credentials(self) -> AwsCredentials:
        """prefect-aws credentials that reach this server (keys from the environment)."""
        return AwsCredentials(aws_client_parameters=AwsClientParameters(endpoint_url=self.url))

    def new_bucket(self, kind: str = "landing") -> str:
        """Create a bucket with a unique, DNS-valid name and return it."""
        name = f"forecast-{kind}-{uuid.uuid4().hex[:8]}"
        self._client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        return name

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self._client.put_object(Bucket=bucket, Key=key, Body=body)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self._client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def zone_block(self, bucket: str, folder: str) -> S3Bucket:
        """An unsaved ``s3-bucket`` block for ``folder`` in ``bucket``."""
        return S3Bucket(bucket_name=bucket, bucket_folder=folder, credentials=self.credentials())

    def upload_landing(
        self, bucket: str, directory: Path, prefix: str = AIRBYTE_PREFIX
    ) -> list[str]:
        """Upload every JSON/workbook of ``directory`` where Airbyte put them; return the keys."""
        keys = []
        for path in sorted(directory.iterdir()):
            key = f"{prefix}{AIRBYTE_FOLDERS[path.suffix]}/{path.name}"
            self.put(bucket, key, path.read_bytes())
            keys.append(key)
        return keys


@contextmanager
def moto_s3() -> Iterator[MotoS3]:
    """Start a moto server on an ephemeral loopback port with dummy AWS credentials; stop it after."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "test")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        env.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)  # one line per request
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            yield MotoS3(server)
        finally:
            server.stop()


def station_counts(mongo_server: Any, database: str) -> dict[str, int]:
    """Return the number of documents per station id in ``database``."""
    collection = mongo_server.client()[database]["weather_measurements"]
    return {
        row["_id"]: row["n"]
        for row in collection.aggregate([{"$group": {"_id": "$station.id", "n": {"$sum": 1}}}])
    }
