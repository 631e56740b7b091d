"""The domain package imports no Prefect and none of the orchestration layers."""

import ast
from pathlib import Path

FORBIDDEN = {"prefect", "prefect_aws", "tasks", "flows", "blocks"}
DOMAIN = Path(__file__).resolve().parents[2] / "forecast"


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_package_never_imports_prefect_or_orchestration_layers():
    offenders = {
        str(path.relative_to(DOMAIN)): sorted(_imported_roots(path) & FORBIDDEN)
        for path in DOMAIN.rglob("*.py")
        if _imported_roots(path) & FORBIDDEN
    }
    assert list(DOMAIN.rglob("*.py")), "domain package not found"
    assert offenders == {}


def test_only_the_mongo_adapter_package_imports_pymongo():
    importers = {
        p.relative_to(DOMAIN).parts[0]
        for p in DOMAIN.rglob("*.py")
        if {"pymongo", "bson", "pymongoarrow"} & _imported_roots(p)
    }
    assert importers == {"mongo"}
