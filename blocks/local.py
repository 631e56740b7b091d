"""Create the block documents of the local, cloud-free stack."""

from __future__ import annotations

from pathlib import Path

from prefect.filesystems import LocalFileSystem
from prefect_aws import AwsCredentials
from prefect_aws.s3 import S3Bucket
from pydantic import SecretStr

from blocks.lake import ZONES, ForecastLake
from blocks.mongo import ForecastMongo
from blocks.names import LAKE_BLOCK, MONGO_BLOCK


def save_local_lake(lake_dir: Path, name: str = LAKE_BLOCK) -> ForecastLake:
    """Save a lake block whose zones are ``local-file-system`` blocks under ``lake_dir``."""
    references = {}
    for zone in ZONES:
        LocalFileSystem(basepath=str((lake_dir / zone).resolve())).save(
            f"{name}-{zone}", overwrite=True
        )
        references[zone] = f"local-file-system/{name}-{zone}"
    lake = ForecastLake(**references)
    lake.save(name, overwrite=True)
    return lake


def save_mongo(uri: str, name: str = MONGO_BLOCK, **fields: object) -> ForecastMongo:
    """Save a MongoDB block for ``uri``."""
    block = ForecastMongo(uri=SecretStr(uri), **fields)  # type: ignore[arg-type]
    block.save(name, overwrite=True)
    return block


def save_s3_lake(
    bucket: str, prefix: str, credentials: AwsCredentials, name: str = LAKE_BLOCK
) -> ForecastLake:
    """Save a lake block whose zones are ``s3-bucket`` blocks: ``<prefix>/<zone>/`` in ``bucket``."""
    references = {}
    for zone in ZONES:
        folder = f"{prefix.strip('/')}/{zone}".lstrip("/")
        S3Bucket(bucket_name=bucket, bucket_folder=folder, credentials=credentials).save(
            f"{name}-{zone}", overwrite=True
        )
        references[zone] = f"s3-bucket/{name}-{zone}"
    lake = ForecastLake(**references)
    lake.save(name, overwrite=True)
    return lake
