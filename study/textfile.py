"""The guarded reading of UTF-8 text and JSON that dataset readers (`study.tasks.readers`) and the submission
scorer (`study.scoring`) share: one decoder, one JSON parser, one error family.

Decisions, the same for every file the study reads:
- A leading UTF-8 byte-order mark is dropped: it marks the encoding, it is not text. (Read as content it would
  glue itself to the first label of a TSV file, or make Python's json refuse the document.)
- Bad UTF-8 is reported with the line of the first bad byte.
- Beside syntax errors, JSON can fail in two ways Python's json does not call syntax errors: an integer of more
  than 4,300 digits (a bare ValueError, the interpreter's int-to-str limit) and nesting deeper than the
  recursion limit (a RecursionError). Both are reported like syntax errors, never as crashes.
- Every failure is a `TextFileError` (the caller's subclass of it: `DataError` for a dataset file,
  `ScoringError` for a submission), naming the file, the line where there is one, the problem and the rule
  the file breaks.

Standard library only, and no imports from the project: anything may import it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class TextFileError(Exception):
    """A file that is not the text it must be: names the file, the line (or JSON path), the problem and the
    rule it breaks. Subclasses may word the rule differently, but take the same keywords."""

    def __init__(self, problem: str, *, path: Path | str | None = None, line: int | str | None = None,
                 rule: str | None = None) -> None:
        self.problem, self.path, self.line, self.rule = problem, path, line, rule
        super().__init__(self._message())

    def _message(self) -> str:
        where = "" if self.path is None else (f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: ")
        return f"{where}{self.problem}" + (f" (rule: {self.rule})" if self.rule else "")


def decode_utf8(raw: bytes, *, path: Path | str, rule: str = "UTF-8 text",
                error: type[TextFileError] = TextFileError) -> str:
    """`raw` as UTF-8 text, a leading byte-order mark dropped; bad UTF-8 raises `error` at its line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise error(f"not valid UTF-8 ({err.reason})", path=path, line=line, rule=rule) from None


def read_utf8(path: Path, *, rule: str = "UTF-8 text", error: type[TextFileError] = TextFileError) -> str:
    """A file's text (`decode_utf8`)."""
    return decode_utf8(Path(path).read_bytes(), path=path, rule=rule, error=error)


def split_lines(text: str) -> list[str]:
    """Lines without their line ends (\\n, \\r\\n, \\r, as Python's text mode); a final line end does not start
    another line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def json_problem(err: Exception) -> str:
    """What is wrong, in words, for an exception of `json.loads`."""
    if isinstance(err, json.JSONDecodeError):
        return f"{err.msg} (column {err.colno})"
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return str(err).split(";")[0]  # the int limit's message goes on with how to raise the limit


def parse_json(text: str, *, path: Path | str, rule: str, line: int | None = None,
               error: type[TextFileError] = TextFileError) -> Any:
    """`json.loads(text)`, its every failure raised as `error` naming the file and the rule.

    `line`: the file's line that `text` is (one line of a JSON-lines file), reported as is; without it, the
    line of a syntax error in the document.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        where = line if line is not None else (err.lineno if isinstance(err, json.JSONDecodeError) else None)
        raise error(f"not valid JSON: {json_problem(err)}", path=path, line=where, rule=rule) from None
