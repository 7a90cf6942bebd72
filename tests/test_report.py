"""The design report: terminal, Markdown and self-contained HTML, the written files, and the
HTML rendered in headless Chromium with its plots present and drawn."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from rich.console import Console

from archsmith import ArchConfig
from archsmith.design import design
from archsmith.report import make_plots, render_terminal, to_html, to_markdown, write_outputs


@pytest.fixture(scope="module")
def d():
    return design("7B", context=32768)


@pytest.fixture(scope="module")
def outdir(d, tmp_path_factory):
    path = tmp_path_factory.mktemp("design")
    write_outputs(d, path)
    return path


def test_terminal_view(d):
    console = Console(record=True, width=160)
    render_terminal(d, console)
    text = console.export_text()
    for needle in ("Why each component", "Parameters", "Compute and memory", "Scaling", f"{d.params.total:,}",
                   "Llama-3.1-8B", "GQA", "2x (14B)", "10x (70B)"):
        assert needle in text, needle


def test_markdown_has_every_section_and_number(d):
    md = to_markdown(d, {"params": "plots/params.png"})
    for heading in ("## Summary", "## Architecture", "## Why each component", "## Parameters",
                    "## Compute and memory", "## Scaling: this design at 2x and 10x", "## How the search went"):
        assert heading in md
    assert f"{d.params.total:,}" in md and "![params](plots/params.png)" in md
    assert '"hidden_size": 4096' in md  # the complete config
    for text in d.justification.values():
        assert text.replace("|", "\\|") in md


def test_html_is_self_contained(d):
    page = to_html(d)
    assert page.count('<img class="plot"') == 3
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)) == 3
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from anywhere


def test_plots_are_png(d):
    plots = make_plots(d)
    assert len(plots) == 3 and all(png.startswith(b"\x89PNG") for png in plots.values())


def test_written_files(d, outdir):
    names = {p.relative_to(outdir).as_posix() for p in outdir.rglob("*") if p.is_file()}
    assert {"archsmith.json", "config.json", "design.json", "report.md", "report.html"} <= names
    assert ArchConfig.from_json((outdir / "archsmith.json").read_text()) == d.config
    assert json.loads((outdir / "config.json").read_text()) == d.hf_export().config
    assert json.loads((outdir / "design.json").read_text())["params"]["total"] == d.params.total
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (outdir / "report.md").read_text()):
        assert (outdir / link).stat().st_size > 0


# Runs after load inside the rendered page and records each plot's decoded and laid-out size.
PROBE = (
    '<script>window.addEventListener("load", () => {'
    ' const sizes = [...document.querySelectorAll("img.plot")].map(i => {'
    '  const box = i.getBoundingClientRect();'
    '  return [i.naturalWidth, i.naturalHeight, Math.round(box.width), Math.round(box.height)]; });'
    ' document.body.setAttribute("data-plots", JSON.stringify(sizes)); });</script>'
)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must install Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


def _dump_dom(chromium: str, page, profile) -> str:
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_html_renders_in_headless_chromium_with_its_plots(outdir, tmp_path):
    chromium = _chromium()
    page = tmp_path / "probe.html"
    page.write_text((outdir / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = _dump_dom(chromium, page, tmp_path / "profile")
    assert "Why each component" in dom and "Parameters" in dom
    assert len(re.findall(r'<img class="plot"[^>]*src="data:image/png;base64,', dom)) == 3
    match = re.search(r'data-plots="([^"]*)"', dom)
    assert match, "the probe did not run"
    sizes = json.loads(match.group(1).replace("&quot;", '"'))
    assert len(sizes) == 3
    for natural_w, natural_h, shown_w, shown_h in sizes:
        assert natural_w > 200 and natural_h > 100  # decoded: a real image, not a broken icon
        assert shown_w > 200 and shown_h > 100  # laid out at a visible size
