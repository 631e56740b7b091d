"""The slow infrastructure tiers are modules pytest does not collect in `make test`; this keeps
each one run by a Makefile target that .ci/run calls, so none can be left behind unseen."""

from __future__ import annotations

import re

from tests.infra.support import ROOT

HELPERS = {"__init__.py", "conftest.py", "support.py"}


def _targets() -> dict[str, str]:
    """Return ``{target: recipe}`` of the Makefile."""
    makefile = (ROOT / "Makefile").read_text()
    found = {}
    for match in re.finditer(
        r"^([a-z][\w-]*):[^=\n]*\n((?:\t.*\n)*)", makefile, flags=re.MULTILINE
    ):
        found[match.group(1)] = match.group(2)
    return found


def test_every_slow_tier_module_is_run_by_a_target_that_ci_runs():
    modules = {p.name for p in (ROOT / "tests" / "infra").glob("*.py")} - HELPERS
    slow = {name for name in modules if not name.startswith("test_")}
    assert slow == {"apply_against_moto.py", "image_run.py"}
    ci = (ROOT / ".ci" / "run").read_text()
    targets = _targets()
    for module in slow:
        running = [t for t, recipe in targets.items() if f"pytest tests/infra/{module}" in recipe]
        assert running, f"no Makefile target runs tests/infra/{module}"
        assert any(re.search(rf"^tier {t}$", ci, flags=re.MULTILINE) for t in running), module
    assert re.search(r"^tier test$", ci, flags=re.MULTILINE)


def test_the_image_tier_builds_the_image_first():
    prerequisites = re.search(
        r"^image-test:(.*)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE
    )
    assert prerequisites and "image" in prerequisites.group(1).split()
