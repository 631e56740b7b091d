"""Create the production block documents from Terraform's outputs (``terraform output -json``).

- ``forecast-aws``: an ``AwsCredentials`` block with the region only: on ECS the task role's
  credentials come from the standard chain, so no key is stored anywhere.
- ``forecast-lake-<zone>``: one ``s3-bucket`` block per zone bucket; ``forecast-lake`` refers
  to them.
- ``forecast-mongo``: the MongoDB URI read from AWS Secrets Manager now, at deploy time, and
  stored as a ``SecretStr`` (encrypted by Prefect, never shown). Rotating the URI means
  updating the secret and running the command again.
- ``infoclimat-token``: a Prefect ``Secret`` from the token's secret, when it has a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.blocks.system import Secret
from prefect_aws import AwsCredentials
from prefect_aws.s3 import S3Bucket
from pydantic import SecretStr

from blocks.lake import ZONES, ForecastLake
from blocks.local import save_mongo
from blocks.names import AWS_BLOCK, INFOCLIMAT_TOKEN_BLOCK, LAKE_BLOCK, MONGO_BLOCK
from forecast.errors import ConfigurationError


@dataclass(frozen=True)
class Outputs:
    """The Terraform outputs the blocks need."""

    region: str
    buckets: dict[str, str]
    mongo_secret: str
    token_secret: str | None

    @classmethod
    def from_terraform(cls, document: Mapping[str, Any], region: str) -> Outputs:
        """Read ``terraform output -json`` (each output is ``{"value": ...}``)."""

        def value(name: str) -> Any:
            if name not in document:
                raise ConfigurationError(f"terraform output {name!r} is missing")
            return document[name]["value"]

        buckets = value("bucket_names")
        missing = [zone for zone in ZONES if zone not in buckets]
        if missing:
            raise ConfigurationError(f"terraform output bucket_names lacks {missing}")
        token = document.get("infoclimat_token_secret_arn", {}).get("value")
        return cls(region, dict(buckets), value("mongo_uri_secret_arn"), token)


def _secret(client: Any, secret_id: str) -> str | None:
    """Return the secret's current value, or None while it has none (created empty by
    Terraform). A secret that does not exist at all raises: its ARN is wrong."""
    stages = client.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    if not any("AWSCURRENT" in labels for labels in stages.values()):
        return None
    return str(client.get_secret_value(SecretId=secret_id)["SecretString"])


def save_production_blocks(outputs: Outputs, secrets_client: Any) -> list[str]:
    """Save the production blocks; return their names (values are never returned or printed).

    Raises:
        ConfigurationError: the MongoDB URI secret has no value yet.
    """
    credentials = AwsCredentials(region_name=outputs.region)
    credentials.save(AWS_BLOCK, overwrite=True)
    references = {}
    for zone in ZONES:
        S3Bucket(bucket_name=outputs.buckets[zone], credentials=credentials).save(
            f"{LAKE_BLOCK}-{zone}", overwrite=True
        )
        references[zone] = f"s3-bucket/{LAKE_BLOCK}-{zone}"
    ForecastLake(**references).save(LAKE_BLOCK, overwrite=True)
    uri = _secret(secrets_client, outputs.mongo_secret)
    if not uri:
        raise ConfigurationError(
            f"the MongoDB URI secret {outputs.mongo_secret} has no value: "
            "aws secretsmanager put-secret-value --secret-id <arn> --secret-string <uri>"
        )
    save_mongo(uri, MONGO_BLOCK)
    saved = [AWS_BLOCK, *(f"{LAKE_BLOCK}-{zone}" for zone in ZONES), LAKE_BLOCK, MONGO_BLOCK]
    token = _secret(secrets_client, outputs.token_secret) if outputs.token_secret else None
    if token:
        Secret(value=SecretStr(token)).save(INFOCLIMAT_TOKEN_BLOCK, overwrite=True)
        saved.append(INFOCLIMAT_TOKEN_BLOCK)
    return saved


def load_outputs(path: Path, region: str) -> Outputs:
    """Read a ``terraform output -json`` file."""
    return Outputs.from_terraform(json.loads(path.read_text(encoding="utf-8")), region)
