"""The few Markdown files the site shows, as reStructuredText (no Markdown parser offline).

The benchmark scripts write their results as GitHub Markdown (``benchmarks/results/*.md``,
``docs/benchmarks.md``): headings, paragraphs, bullet lists, pipe tables, code spans,
bold, links and fenced code. ``md_to_rst`` converts exactly that subset; ``docs/conf.py``
writes the results into ``docs/_generated/*.inc``, which the pages ``.. include::``.
(myst-parser would do this in general; it is not a dependency of the docs build.)
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

#: Underline characters of Markdown heading levels 1, 2, 3 ... once included in a page
#: whose title uses overlined ``=`` and whose sections use ``=``.
LEVELS = "=-~^\""

_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_TABLE_SEP = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _escape(text):
    """reST-escape plain Markdown text (no code spans in it)."""
    text = text.replace("\\", "\\\\")
    text = text.replace("|", "\\|")  # |x| would be a substitution reference
    text = re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)  # word_ would be a reference
    text = re.sub(r"(?<![\w*])\*(?=\s)", r"\\*", text)  # a lone * is no emphasis
    return text


def inline(text):
    """Code spans, links, bold and the rest of one line of Markdown, as reST."""
    parts, pos = [], 0
    for m in _CODE.finditer(text):
        parts.append(_inline_plain(text[pos:m.start()]))
        # reST inline markup must touch a space or punctuation: x``y``z -> x\ ``y``\ z
        before = "\\ " if m.start() and text[m.start() - 1].isalnum() else ""
        after = "\\ " if m.end() < len(text) and text[m.end()].isalnum() else ""
        parts.append(f"{before}``{m.group(1)}``{after}")
        pos = m.end()
    parts.append(_inline_plain(text[pos:]))
    return "".join(parts)


def _inline_plain(text):
    links, pos, parts = list(_LINK.finditer(text)), 0, []
    for m in links:
        parts.append(_escape(text[pos:m.start()]))
        parts.append(f"`{_escape(m.group(1))} <{m.group(2)}>`__")
        pos = m.end()
    parts.append(_escape(text[pos:]))
    return "".join(parts)


def _cells(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)]


def list_table(rows, header_rows=1, indent=""):
    """A ``list-table`` directive from rows of reST cell text."""
    lines = [f"{indent}.. list-table::", f"{indent}   :header-rows: {header_rows}", ""]
    for row in rows:
        for j, cell in enumerate(row):
            lead = "* - " if j == 0 else "  - "
            lines.append(f"{indent}   {lead}{cell}".rstrip())
    return lines + [""]


def md_to_rst(text, top_level=1):
    """Convert the Markdown subset described in the module docstring.

    ``top_level``: the index in :data:`LEVELS` of a level-1 Markdown heading (1: a ``#``
    heading becomes a ``-`` section, for a file included under a page's ``=`` section).
    """
    lines = text.splitlines()
    out, i = [], 0

    def blank():
        if out and out[-1] != "":
            out.append("")

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("<!--"):  # HTML comment: skipped
            while i < len(lines) and "-->" not in lines[i]:
                i += 1
            i += 1
            continue
        if stripped.startswith("```"):
            lang = stripped[3:].strip() or "text"
            blank()
            out += [f".. code-block:: {lang}", ""]
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                out.append(f"   {lines[i]}".rstrip())
                i += 1
            out.append("")
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            title = inline(m.group(2))
            char = LEVELS[min(len(m.group(1)) - 1 + top_level, len(LEVELS) - 1)]
            blank()
            out += [title, char * max(len(title), 3), ""]
            i += 1
            continue
        if stripped.startswith("|") and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            header = _cells(line)
            rows = [header]
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            width = len(header)
            rows = [(r + [""] * width)[:width] for r in rows]
            blank()
            out += list_table([[inline(c) for c in r] for r in rows])
            continue
        if re.match(r"^(-{3,}|\*{3,})$", stripped):  # horizontal rule: a blank line
            blank()
            i += 1
            continue
        m = re.match(r"^(\s*)([-*+]|\d+\.)\s+(.*)$", line)
        if m:
            if out and out[-1] != "" and not re.match(r"^\s*([-*+]|\d+\.)\s", lines[i - 1]):
                out.append("")
            depth = len(m.group(1)) // 2
            bullet = "-" if not m.group(2)[0].isdigit() else "#."
            pad = "  " * depth
            out.append(f"{pad}{bullet} {inline(m.group(3))}")
            i += 1
            # continuation lines of the item
            while (i < len(lines) and lines[i].strip() and lines[i].startswith(" ")
                   and not re.match(r"^\s*([-*+]|\d+\.)\s", lines[i])):
                out.append(f"{pad}{' ' * (len(bullet) + 1)}{inline(lines[i].strip())}")
                i += 1
            continue
        if not stripped:
            blank()
            i += 1
            continue
        out.append(inline(stripped))
        i += 1
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def csv_table(path, columns, rename=None, filter_row=None, fmt=None):
    """Rows of a CSV file as a ``list-table`` (selected ``columns``, optional formats)."""
    rename, fmt = rename or {}, fmt or {}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if filter_row is None or filter_row(r)]
    body = [[inline(rename.get(c, c)) for c in columns]]
    for r in rows:
        body.append([inline(fmt[c](r[c]) if c in fmt else r[c]) for c in columns])
    return "\n".join(list_table(body))


def write_if_changed(path, text):
    """Write ``text`` unless the file already holds it (keeps Sphinx's incremental build)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
