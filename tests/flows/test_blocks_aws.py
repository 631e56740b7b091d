"""`forecast blocks-aws`: production blocks from Terraform outputs and Secrets Manager (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from prefect.blocks.system import Secret
from prefect_aws.s3 import S3Bucket

from blocks.lake import ForecastLake
from blocks.mongo import ForecastMongo
from flows.cli import main

URI = "mongodb://loader:pa55word@m1:27017,m2:27017,m3:27017/?replicaSet=rs0&tls=true"


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-3")
        mongo = client.create_secret(Name="forecast-prod/mongo-uri", SecretString=URI)["ARN"]
        token = client.create_secret(Name="forecast-prod/infoclimat-token", SecretString="tok-123")[
            "ARN"
        ]
        document = {
            "bucket_names": {"value": {z: f"forecast-prod-{z}" for z in
                                       ("landing", "raw", "processed", "rejected", "reports")}},
            "mongo_uri_secret_arn": {"value": mongo},
            "infoclimat_token_secret_arn": {"value": token},
        }  # fmt: skip
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(document))
        yield path, client, mongo


def test_blocks_are_saved_from_terraform_outputs_and_the_secret(outputs, capsys):
    path, _, _ = outputs
    assert main(["blocks-aws", "--terraform-outputs", str(path), "--region", "eu-west-3"]) == 0
    out, err = capsys.readouterr()
    assert "pa55word" not in out + err and "tok-123" not in out + err
    lake = ForecastLake.load("forecast-lake")
    assert lake.references()["raw"] == "s3-bucket/forecast-lake-raw"
    assert S3Bucket.load("forecast-lake-raw").bucket_name == "forecast-prod-raw"
    assert S3Bucket.load("forecast-lake-reports").credentials.region_name == "eu-west-3"
    assert ForecastMongo.load("forecast-mongo").uri.get_secret_value() == URI
    assert Secret.load("infoclimat-token").get() == "tok-123"


def test_an_empty_mongo_secret_is_a_clear_error(outputs, capsys):
    path, client, mongo = outputs
    client.delete_secret(SecretId=mongo, ForceDeleteWithoutRecovery=True)
    client.create_secret(Name="forecast-prod/mongo-uri-empty")
    document = json.loads(path.read_text())
    document["mongo_uri_secret_arn"]["value"] = "forecast-prod/mongo-uri-empty"
    path.write_text(json.dumps(document))
    assert main(["blocks-aws", "--terraform-outputs", str(path), "--region", "eu-west-3"]) == 1
    err = capsys.readouterr().err
    assert "has no value" in err and "put-secret-value" in err
