"""Fixtures of the infrastructure tiers: terraform on a copy of the stack, moto, podman.

`make test` runs `test_*.py` here: fmt, init, validate and a plan against moto. The slow tiers
are modules whose names pytest does not collect by default; their make targets name them:
`make infra-apply` (apply_against_moto.py) and `make image-test` (image_run.py), and `.ci/run`
runs both after `make test` (test_tiers.py checks that they stay wired).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.infra.support import MotoServer, Terraform, moto_server, require_tool

TERRAFORM_INSTALL = (
    "Terraform 1.11 is expected on these machines (/usr/local/bin/terraform) with the AWS "
    "provider in the filesystem mirror /opt/tf-plugins; elsewhere install it from "
    "https://developer.hashicorp.com/terraform/install"
)


@dataclass
class InitializedStack:
    """A copy of infra/terraform after `init -backend=false` and `validate`, then re-initialised
    with the moto-only files (local state, provider endpoints on the moto server)."""

    terraform: Terraform
    init_output: str
    validate_json: str


@pytest.fixture(scope="session")
def terraform_binary() -> str:
    return require_tool("terraform", TERRAFORM_INSTALL)


@pytest.fixture(scope="session")
def stack(terraform_binary, tmp_path_factory) -> InitializedStack:
    """One init reused by every Terraform test of the session."""
    terraform = Terraform(terraform_binary, tmp_path_factory.mktemp("terraform"))
    terraform.copy_stack()
    terraform.build_lambda_zip()
    init = terraform("init", "-backend=false", "-input=false")
    validate = terraform("validate", "-json", check=False)
    terraform.add_moto_files()
    terraform("init", "-input=false", "-reconfigure")
    return InitializedStack(terraform, init.stdout, validate.stdout)


@pytest.fixture(scope="session")
def moto(tmp_path_factory) -> Iterator[MotoServer]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server
