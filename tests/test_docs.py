"""The README and docs/ say what the code and the measurements say, and every link and cited
heading in them leads somewhere: a reader who follows one finds the section it names."""

import pathlib
import re

import pytest

from conftest import ROOT

LINKED_DOCS = ["README.md", "BUILD_NOTES.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
"""Markdown files whose relative links and #anchors must resolve."""

CITING_FILES = ["README.md", *LINKED_DOCS[2:], *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "configs").glob("*.flags"))]
"""Files that cite BUILD_NOTES sections by heading, as BUILD_NOTES.md "Heading"."""

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CITATION = re.compile(r'BUILD_NOTES(?:\.md)?,?\s+"([^"]+)"')
FENCE = re.compile(r"^(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks: a `# comment` in a shell example is not a
    heading, and a link in a code sample is not a link."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def headings(path: pathlib.Path) -> list[str]:
    return [line.lstrip("#").strip() for line in prose_lines(path.read_text())
            if re.match(r"#{1,6} ", line)]


def anchors(path: pathlib.Path) -> set[str]:
    """GitHub's anchors of a file's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated one numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for heading in headings(path):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(doc: pathlib.Path) -> list[str]:
    """Each relative link of `doc` whose file is missing or whose #anchor names no heading."""
    problems = []
    for line in prose_lines(doc.read_text()):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path).resolve() if path else doc
            if not linked.exists():
                problems.append(f"{doc.name}: {target}: no such file")
            elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
                problems.append(f"{doc.name}: {target}: no heading #{anchor} in {linked.name}")
    return problems


def names_a_heading(cited: str, titles: list[str]) -> bool:
    """A citation names a heading in full, or up to the heading's own qualifier:
    "Pretrained backbone" for "Pretrained backbone (issue 8)"."""
    return any(t == cited or t.startswith((cited + " (", cited + ":")) for t in titles)


def citations(path: pathlib.Path) -> list[str]:
    """BUILD_NOTES headings a file cites; a flagfile's comment lines are read as one text,
    so a citation may wrap from one `#` line to the next."""
    text = path.read_text()
    if path.suffix == ".flags":
        text = " ".join(line.lstrip("#").strip() for line in text.splitlines()
                        if line.startswith("#"))
    return [" ".join(c.split()) for c in CITATION.findall(" ".join(text.split()))]


@pytest.mark.parametrize("name", LINKED_DOCS)
def test_every_relative_link_and_anchor_resolves(name):
    assert broken_links(ROOT / name) == []


@pytest.mark.parametrize("name", CITING_FILES)
def test_every_cited_build_notes_heading_exists(name):
    titles = headings(ROOT / "BUILD_NOTES.md")
    missing = [c for c in citations(ROOT / name) if not names_a_heading(c, titles)]
    assert missing == [], f"{name} cites BUILD_NOTES sections that have no heading"


def test_the_checks_catch_a_missing_file_a_missing_heading_and_a_stale_citation(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Speed (issue 7)\n```\n# not a heading\n```\n")
    doc = tmp_path / "doc.md"
    doc.write_text("# Doc\n[a](other.md#speed-issue-7) [b](gone.md) [c](other.md#not-a-heading)\n"
                   "[d](#doc) [e](https://example.com/x) [f](#nowhere)\n"
                   'BUILD_NOTES.md "Speed" and BUILD_NOTES "Spe"\n')
    assert broken_links(doc) == ["doc.md: gone.md: no such file",
                                 "doc.md: other.md#not-a-heading: no heading #not-a-heading "
                                 "in other.md",
                                 "doc.md: #nowhere: no heading #nowhere in doc.md"]
    titles = headings(tmp_path / "other.md")
    assert [names_a_heading(c, titles) for c in citations(doc)] == [True, False]
    flags = tmp_path / "x.flags"
    flags.write_text('# Measured (BUILD_NOTES.md "Speed\n# (issue 7)"): fast\n--model=dfdnet\n')
    assert citations(flags) == ["Speed (issue 7)"]


def test_github_anchors_drop_punctuation_and_number_repeats(tmp_path):
    doc = tmp_path / "h.md"
    doc.write_text("# Quiet terminal: `make demo` line by line (session 5)\n# Faces\n# Faces\n"
                   "# Where it looks fake: `--explain`\n")
    assert anchors(doc) == {"quiet-terminal-make-demo-line-by-line-session-5", "faces",
                            "faces-1", "where-it-looks-fake---explain"}


def test_readme_demo_time_is_the_one_build_notes_measured():
    readme = (ROOT / "README.md").read_text()
    notes = (ROOT / "BUILD_NOTES.md").read_text()
    (claimed,) = re.findall(r"`make demo` took (\d+m\d+s)", readme)
    measured = re.search(r"Demo, whole product:.*?(\d+m\d+s) wall", notes, re.S).group(1)
    assert claimed == measured


def test_readme_stays_short():
    """The README is what a newcomer reads first; the reference lives in docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_docs_name_only_export_flags_that_exist():
    import subprocess
    import sys

    from conftest import TF_ENV
    out = subprocess.run([sys.executable, "-m", "dfd.export", "--helpfull"], env=TF_ENV,
                         capture_output=True, text=True, timeout=300).stdout
    export = {line.split(":")[0].strip().removeprefix("--") for line in out.splitlines()
              if line.startswith("  --")}
    text = "\n".join((ROOT / name).read_text() for name in ["README.md", *LINKED_DOCS[2:]])
    named = set(re.findall(r"--(int8_\w+|calibration_\w+|parity_\w+)", text))
    assert named and named <= export, named - export
