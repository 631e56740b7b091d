"""One JSON document read value by value from text blocks, with ``json``'s own errors.

``JsonReader`` keeps a sliding window of the text. The values a caller wants whole are decoded by
the standard library's C scanner (``JSONDecoder.scan_once``: the same hooks, the same errors);
the containers a caller wants to stream (an object's members, an array's items) are walked here
with the grammar and messages of ``json.decoder.JSONObject``/``JSONArray``. Positions are
absolute, so an error carries the line and column that ``json.loads`` of the whole text gives.

Errors are raised as ``JsonSyntaxError`` only once the rest of the text has been read: a byte
that is not UTF-8 anywhere in the file wins over a syntax error (``NotUtf8`` is raised instead),
as when the whole content is decoded before it is parsed, and whether only whitespace follows
the error (the "truncated?" hint) is known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*").match
_WHITESPACE_STR = " \t\n\r"
_NEXT_ITEM = re.compile(r"[ \t\n\r]*,[ \t\n\r]*").match
# A value cut by the end of the window fails within a few characters of that end (a literal,
# a number, a \uXXXX\uXXXX escape) or as an unterminated string: more text is read, and the
# value decoded again. Any other error is an error of the document.
_CUT_MARGIN = 32
_RUN_CHARS = 1 << 16  # most text decoded in one run of array items (see JsonReader._run)


class JsonSyntaxError(ValueError):
    """The text is not JSON: ``json.JSONDecodeError``'s message and place in the whole text."""

    def __init__(self, msg: str, pos: int, lineno: int, colno: int, at_end: bool) -> None:
        super().__init__(f"{msg}: line {lineno} column {colno} (char {pos})")
        self.msg, self.pos, self.lineno, self.colno = msg, pos, lineno, colno
        self.at_end = at_end  # only whitespace (str.isspace) follows pos: the text ends early


class JsonReader:
    """A JSON text given in blocks, read from absolute character positions.

    Args:
        blocks: The text, in order (e.g. ``TextBlocks``); read lazily, block by block.
        decoder: Decodes the values read whole (its hooks and ``parse_constant`` apply).
    """

    def __init__(self, blocks: Iterable[str], decoder: json.JSONDecoder) -> None:
        self._blocks: Iterator[str] = iter(blocks)
        self._scan = decoder.scan_once  # type: ignore[attr-defined]  # the C scanner
        self.buf = ""
        self.base = 0  # absolute position of buf[0]
        self.eof = False
        self._lines = 0  # line ends before base
        self._line_start = 0  # absolute position where the line holding base starts
        self._item_chars = 0  # length of the last array item decoded alone, with its ","

    # ------------------------------------------------------------------------------ window

    def _fill(self, keep: int) -> bool:
        """Read one more block, dropping the text before ``keep``; False at the end."""
        if self.eof:
            return False
        text = next(self._blocks, None)
        if text is None:
            self.eof = True
            return False
        cut = min(keep - self.base, len(self.buf))
        if cut > 0:
            dropped = self.buf[:cut]
            ends = dropped.count("\n")
            if ends:
                self._lines += ends
                self._line_start = self.base + dropped.rfind("\n") + 1
            self.buf = self.buf[cut:] + text
            self.base += cut
        else:
            self.buf += text
        return True

    def line_of(self, pos: int) -> int:
        """Return the line (from 1) of ``pos``, a position in the window (read, not dropped)."""
        return self._lines + self.buf.count("\n", 0, pos - self.base) + 1

    def char(self, pos: int) -> str:
        """Return the character at ``pos``, or ``""`` past the end of the text."""
        while pos - self.base >= len(self.buf):
            if not self._fill(pos):
                return ""
        return self.buf[pos - self.base]

    def skip_ws(self, pos: int) -> int:
        """Return the position of the first non-whitespace character from ``pos`` on."""
        while True:
            local = pos - self.base
            if local < len(self.buf):
                end = _WHITESPACE(self.buf, local).end()  # type: ignore[union-attr]
                if end < len(self.buf):
                    return self.base + end
                pos = self.base + end
            if not self._fill(pos):
                return pos

    # ------------------------------------------------------------------------------ values

    def value(self, pos: int) -> tuple[Any, int]:
        """Decode the value starting at ``pos`` whole; return it and the position after it."""
        while True:
            local = pos - self.base
            try:
                value, end = self._scan(self.buf, local)
            except StopIteration as stop:
                msg, at = "Expecting value", int(stop.value)
            except json.JSONDecodeError as exc:
                msg, at = exc.msg, exc.pos
            else:
                # A number near the end of the window may go on in the next block ("2." of 2.5).
                if end + _CUT_MARGIN < len(self.buf) or not self._fill(pos):
                    return value, self.base + end
                continue
            cut = msg.startswith("Unterminated string") or at >= len(self.buf) - _CUT_MARGIN
            if not (cut and self._fill(pos)):
                raise self.error(msg, self.base + at)

    def skip_value(self, pos: int) -> int:
        """Read past the value at ``pos`` (an array item by item), returning where it ends."""
        if self.char(pos) == "[":
            return self.array(pos, self._value_end)
        return self.value(pos)[1]

    def _value_end(self, pos: int) -> int:
        return self.value(pos)[1]

    # ------------------------------------------------------------------------------ containers

    def members(self, pos: int, member: Callable[[str, int], int]) -> tuple[list[str], int]:
        """Walk the object at ``pos`` (its ``{``), calling ``member(key, value_position)``.

        ``member`` must read the value and return the position after it. Returns the keys in
        order (duplicates included) and the position after the closing ``}``.
        """
        keys: list[str] = []
        end, empty = self._first_key(pos + 1)
        if empty:
            return keys, end
        while True:
            key, end = self.value(end)
            if self.char(end) != ":":
                end = self.skip_ws(end)
                if self.char(end) != ":":
                    raise self.error("Expecting ':' delimiter", end)
            keys.append(key)
            end = member(key, self.skip_ws(end + 1))
            end = self.skip_ws(end)
            nextchar = self.char(end)
            if nextchar == "}":
                return keys, end + 1
            if nextchar != ",":
                raise self.error("Expecting ',' delimiter", end)
            end = self.skip_ws(end + 1)
            if self.char(end) != '"':
                raise self.error("Expecting property name enclosed in double quotes", end)

    def _first_key(self, pos: int) -> tuple[int, bool]:
        """Return where the first key of the object opened before ``pos`` starts, and False;
        for an empty object, the position after its ``}`` and True."""
        nextchar = self.char(pos)
        if nextchar == '"':
            return pos, False
        if nextchar in _WHITESPACE_STR:
            pos = self.skip_ws(pos)
            nextchar = self.char(pos)
        if nextchar == "}":
            return pos + 1, True
        if nextchar != '"':
            raise self.error("Expecting property name enclosed in double quotes", pos)
        return pos, False

    def array(self, pos: int, item: Callable[[int], int]) -> int:
        """Walk the array at ``pos`` (its ``[``), calling ``item(position)`` for each item.

        ``item`` must read the item and return the position after it. Returns the position
        after the closing ``]``.
        """
        end = self.skip_ws(pos + 1)
        if self.char(end) == "]":
            return end + 1
        while True:
            end = item(end)
            # Fast path: "," between items, the next item already in the window.
            between = _NEXT_ITEM(self.buf, end - self.base)
            if between is not None and between.end() < len(self.buf):
                end = self.base + between.end()
                continue
            end = self.skip_ws(end)
            nextchar = self.char(end)
            if nextchar == "]":
                return end + 1
            if nextchar != ",":
                raise self.error("Expecting ',' delimiter", end)
            end = self.skip_ws(end + 1)

    def items(self, pos: int, take: Callable[[list[Any]], None], batch: int) -> int:
        """Walk the array at ``pos`` (its ``[``), handing its items to ``take`` in order, in
        lists of at most ``batch``; return the position after the closing ``]``.

        Items well inside the window are decoded fast (``_run``); near its end, or at anything
        but ``, item``, one item goes the careful way (refills, ``json``'s errors).
        """
        items: list[Any] = []
        end = self.skip_ws(pos + 1)
        if self.char(end) == "]":
            return end + 1
        while True:
            end, full = self._run(end, items, batch)
            while len(items) >= batch:
                take(items[:batch])
                items = items[batch:]
            if full:
                continue
            value, end = self.value(self.skip_ws(end))
            items.append(value)
            end = self.skip_ws(end)
            nextchar = self.char(end)
            if nextchar == "]":
                if items:
                    take(items)
                return end + 1
            if nextchar != ",":
                raise self.error("Expecting ',' delimiter", end)
            end = self.skip_ws(end + 1)

    def _run(self, pos: int, items: list[Any], batch: int) -> tuple[int, bool]:
        """Decode the array items from ``pos`` on that lie well inside the window, appending
        them to ``items`` until ``batch`` are waiting; return where the next item starts, and
        whether the batch is full (else that item must be read the careful way).

        Runs of objects are decoded in one call: the text up to a ``},`` wrapped in ``[...]``.
        The run is taken only if it decodes to its very end, which makes it a sequence of
        whole items, the ones decoding them one by one gives (a ``},`` inside a string or a
        nested object fails the run, and the items are decoded one by one instead).
        """
        scan, next_item, buf, base = self._scan, _NEXT_ITEM, self.buf, self.base
        limit = len(buf) - _CUT_MARGIN
        local = pos - base
        runs = True  # one failed run per window: items go one by one until the next window
        while local < limit:
            if len(items) >= batch:
                return base + local, True
            room = (batch - len(items)) * self._item_chars
            last = buf.rfind("},", local, min(local + room, limit)) if room and runs else -1
            between = next_item(buf, last + 1) if last > local else None
            while between is not None and between.end() >= limit:
                # The "," and the whitespace after the last "}," run past the window: end the
                # run at the "}," before it (checked before decoding: one decode per run).
                last = buf.rfind("},", local, last)
                between = next_item(buf, last + 1) if last > local else None
            if between is not None:
                run = "[" + buf[local : last + 1] + "]"
                try:
                    values, after = scan(run, 0)
                except (StopIteration, json.JSONDecodeError):
                    after = -1
                if after == len(run):
                    items.extend(values)
                    local = between.end()
                    continue
                runs = False
            try:
                value, after = scan(buf, local)
            except (StopIteration, json.JSONDecodeError):
                break  # decoded again the careful way: json's error, or more text
            between = next_item(buf, after) if after < limit else None
            if between is None:
                break
            items.append(value)
            self._item_chars = min(between.end() - local, _RUN_CHARS // 2) or 1
            local = between.end()
        return base + local, False

    # ------------------------------------------------------------------------------ errors

    def error(self, msg: str, pos: int) -> JsonSyntaxError:
        """Return the error ``msg`` at ``pos``, once the rest of the text has been read."""
        local = pos - self.base
        lineno = self._lines + self.buf.count("\n", 0, local) + 1
        last = self.buf.rfind("\n", 0, local)
        colno = local - last if last >= 0 else pos - self._line_start + 1
        return JsonSyntaxError(msg, pos, lineno, colno, self.finish(pos))

    def finish(self, pos: int) -> bool:
        """Read the rest of the text; return whether only whitespace follows ``pos``.

        Raises:
            NotUtf8: from the text blocks, when a later byte is not UTF-8.
        """
        tail = self.buf[max(pos - self.base, 0) :]
        blank = not tail or tail.isspace()
        self.buf, self.base = "", self.base + len(self.buf)
        for text in self._blocks:
            blank = blank and (not text or text.isspace())
        self.eof = True
        return blank
