"""A tiny document model rendered to both Markdown and HTML, so the two show the same content.

Every piece of text is plain text: the renderers escape it for their format (HTML entities;
Markdown punctuation), so nothing from a results file can inject markup or links.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field


@dataclass
class Heading:
    level: int
    text: str

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.text.lower()).strip("-")


@dataclass
class Paragraph:
    text: str


@dataclass
class Note:
    """A warning that must be seen (sample data, failed models)."""

    text: str


@dataclass
class BulletList:
    items: list[str]


@dataclass
class Cell:
    text: str
    bold: bool = False


@dataclass
class Table:
    header: list[str]
    rows: list[list]  # each cell a str or a Cell
    right_align_from: int = 1  # numeric columns start here
    caption: str = ""


@dataclass
class Image:
    path: str  # relative to the report
    alt: str
    caption: str = ""


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks):
        self.blocks.extend(b for b in blocks if b is not None)
        return self


# --------------------------------------------------------------------------- Markdown

# Enough to stop emphasis, code, links/images ([ ]), tables (|) and raw HTML (< >) in text.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>~])")


def md_escape(text) -> str:
    """Backslash-escape Markdown punctuation (GitHub and Python-Markdown honour these)."""
    text = _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
    return "\\" + text if text[:1] in ("#", "-", "+", ">") else text  # not a heading, list or quote


def _md_cell(cell) -> str:
    if isinstance(cell, Cell):
        return f"**{md_escape(cell.text)}**" if cell.bold else md_escape(cell.text)
    return md_escape(cell)


def markdown_table(b: Table) -> list[str]:
    align = ["---" if i < b.right_align_from else "---:" for i in range(len(b.header))]
    lines = ["| " + " | ".join(md_escape(h) for h in b.header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
    return lines + (["", f"*{md_escape(b.caption)}*"] if b.caption else [])


def to_markdown(doc: Document) -> str:
    out = [f"# {md_escape(doc.title)}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * b.level} {md_escape(b.text)}", ""]
        elif isinstance(b, Paragraph):
            out += [md_escape(b.text), ""]
        elif isinstance(b, Note):
            out += [f"> **Note:** {md_escape(b.text)}", ""]
        elif isinstance(b, BulletList):
            out += [f"- {md_escape(i)}" for i in b.items] + [""]
        elif isinstance(b, Table):
            out += markdown_table(b) + [""]
        elif isinstance(b, Image):
            # the path is ours (figures/<name>.png), but escape parentheses all the same
            out += [f"![{md_escape(b.alt)}]({b.path.replace('(', '%28').replace(')', '%29')})", ""]
            if b.caption:
                out += [f"*{md_escape(b.caption)}*", ""]
        else:
            raise TypeError(f"unknown block {type(b).__name__}")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- HTML

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1.2rem; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td strong { color: #0a5c2b; }
.note { background: #fff4ce; border-left: 4px solid #d4a000; padding: 0.6rem 1rem; margin: 1rem 0; }
figure { margin: 0.5rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85rem; }
caption { caption-side: bottom; color: #555; font-size: 0.85rem; text-align: left; }
nav ul { columns: 3; }
"""


def h(text) -> str:
    return html.escape(str(text), quote=True)


def _html_cell(cell, numeric: bool) -> str:
    cls = ' class="num"' if numeric else ""
    if isinstance(cell, Cell):
        inner = f"<strong>{h(cell.text)}</strong>" if cell.bold else h(cell.text)
    else:
        inner = h(cell)
    return f"<td{cls}>{inner}</td>"


def to_html(doc: Document) -> str:
    """A standalone page: inline CSS, no script, no external resources; images are relative files."""
    body = []
    toc = [b for b in doc.blocks if isinstance(b, Heading) and b.level == 2]
    if toc:
        body.append(
            "<nav><ul>" + "".join(f'<li><a href="#{h(t.anchor)}">{h(t.text)}</a></li>' for t in toc) + "</ul></nav>"
        )
    for b in doc.blocks:
        if isinstance(b, Heading):
            body.append(f'<h{b.level} id="{h(b.anchor)}">{h(b.text)}</h{b.level}>')
        elif isinstance(b, Paragraph):
            body.append(f"<p>{h(b.text)}</p>")
        elif isinstance(b, Note):
            body.append(f'<div class="note"><strong>Note:</strong> {h(b.text)}</div>')
        elif isinstance(b, BulletList):
            body.append("<ul>" + "".join(f"<li>{h(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{h(c)}</th>" for c in b.header)
            rows = "".join(
                "<tr>" + "".join(_html_cell(c, i >= b.right_align_from) for i, c in enumerate(row)) + "</tr>"
                for row in b.rows
            )
            cap = f"<caption>{h(b.caption)}</caption>" if b.caption else ""
            body.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Image):
            cap = f"<figcaption>{h(b.caption)}</figcaption>" if b.caption else ""
            body.append(f'<figure><img src="{h(b.path)}" alt="{h(b.alt)}">{cap}</figure>')
        else:
            raise TypeError(f"unknown block {type(b).__name__}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{h(doc.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{h(doc.title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def figure_block(path, fig_dir, caption: str) -> Image:
    """A figure saved in fig_dir, referred to relative to the report beside fig_dir."""
    return Image(f"{fig_dir.name}/{path.name}", alt=caption, caption=caption)
