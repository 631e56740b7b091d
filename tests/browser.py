"""Headless Chromium for tests: render a local page and read back the DOM it built.

Debian's ``chromium`` package: ``make test`` installs it when missing (``infra/system-deps.sh``).
The page is opened from a ``file://`` URI with every network feature off;
``--virtual-time-budget`` lets its scripts run to completion before the DOM is dumped.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
)  # fmt: skip


def chromium() -> str:
    """Return the Chromium executable; fail (never skip) when it is not installed."""
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: make system-deps (apt-get install chromium)")
    return found


def _run(page: Path, profile: Path, *extra: str) -> str:
    completed = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def dump_dom(page: Path, profile: Path) -> str:
    """Return the DOM of ``page`` after its scripts ran, serialised as HTML."""
    return _run(page, profile, "--dump-dom")


def screenshot(page: Path, png: Path, profile: Path, size: str = "1400,3000") -> Path:
    """Write a PNG of ``page`` in a window of ``size`` pixels and return its path."""
    _run(page, profile, f"--screenshot={png}", f"--window-size={size}")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no PNG at {png}"
    return png


@dataclass
class Element:
    """One element of a parsed DOM: tag, attributes, children and its own text."""

    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: str = ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        """Return the descendants (and self) with the tag and/or the class token."""
        return [
            e
            for e in self.walk()
            if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
        ]

    def by_id(self, element_id: str) -> Element:
        (found,) = [e for e in self.walk() if e.attrs.get("id") == element_id]
        return found

    def texts(self, cls: str | None = None) -> list[str]:
        """Return the text of every ``<text>`` element (optionally with the class token)."""
        return [e.text for e in self.find_all("text", cls)]


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse(dom: str) -> Element:
    """Return the element tree of a serialised DOM."""
    builder = _Builder()
    builder.feed(dom)
    builder.close()
    return builder.root
