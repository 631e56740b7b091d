"""Binary streams read as text in bounded blocks: strict UTF-8 (a leading BOM dropped) or another
single encoding a caller has chosen (Windows-1252 for some CSV exports).

The parsers never read a raw object whole: ``TextBlocks`` reads ``BLOCK_SIZE`` bytes at a time
and decodes them incrementally, so a multi-byte character split between two blocks is fine and
a byte that is not text in the encoding is reported with its offset from the start of the object
(BOM included), exactly as decoding the whole content at once would report it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import BinaryIO

BLOCK_SIZE = 1024 * 1024
"""Bytes asked of a stream per read."""

BOM = b"\xef\xbb\xbf"


class NotUtf8(ValueError):
    """A byte of the stream is not part of valid text in the encoding read (UTF-8 by default)."""

    def __init__(self, offset: int, byte: int, encoding: str = "utf-8") -> None:
        super().__init__(f"byte 0x{byte:02x} at offset {offset}")
        self.offset, self.byte, self.encoding = offset, byte, encoding


def read_blocks(stream: BinaryIO, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
    """Yield the stream's bytes in reads of at most ``block_size`` bytes, until it ends."""
    while block := stream.read(block_size):
        yield block


class TextBlocks:
    """The text of a binary stream, block by block (strict; for UTF-8 a leading BOM is dropped).

    Iterate it once. ``bom`` tells, once the first block is out, whether a byte-order mark was
    removed. Iteration raises ``NotUtf8`` at the first byte that is not text in ``encoding``.
    """

    def __init__(
        self, stream: BinaryIO, block_size: int = BLOCK_SIZE, encoding: str = "utf-8"
    ) -> None:
        self._blocks = read_blocks(stream, block_size)
        self.encoding = encoding
        self.bom = False

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        fed = 0  # bytes given to the decoder so far, BOM included
        head = b""
        for block in self._blocks:  # the first three bytes may come in several short reads
            head += block
            if len(head) >= len(BOM):
                break
        if head.startswith(BOM) and codecs.lookup(self.encoding).name == "utf-8":
            self.bom, head, fed = True, head[len(BOM) :], len(BOM)
        for data in _chain_first(head, self._blocks):
            start = fed - len(decoder.getstate()[0])  # offset of the decoder's pending bytes
            fed += len(data)
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise NotUtf8(start + exc.start, exc.object[exc.start], self.encoding) from exc
            if text:
                yield text
            if not data:
                return


def _chain_first(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """Yield ``first`` (if any), the rest, then ``b""`` to mark the end."""
    if first:
        yield first
    yield from rest
    yield b""


_LINE_END = re.compile(r"\r\n|\r|\n")  # what the csv module treats as the end of a record


def lines(blocks: Iterator[str]) -> Iterator[str]:
    """Yield the lines of text given in blocks, without their ends (``\\r\\n``, ``\\r``, ``\\n``).

    The same lines as ``re.split(r"\\r\\n|\\r|\\n", text)`` on the whole text, without the
    empty string after a final line end.
    """
    rest = ""
    for block in blocks:
        text = rest + block
        carry = ""
        if text.endswith("\r"):  # maybe the first half of a \r\n split between blocks
            text, carry = text[:-1], "\r"
        parts = _LINE_END.split(text)
        rest = parts.pop() + carry
        yield from parts
    parts = _LINE_END.split(rest)
    if parts[-1] == "":
        parts.pop()
    yield from parts
