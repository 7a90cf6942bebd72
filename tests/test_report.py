"""The design report: one content model (sections) rendered to the terminal, Markdown and a
self-contained HTML page; its candidates, budget and plots; the written files; and the HTML
rendered in headless Chromium with each plot present, visible and inside its own section."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import pytest
from rich.console import Console

from archsmith import ArchConfig
from archsmith.design import design
from archsmith.report import (
    PLOT_FILES, Plot, kv_curves, kv_heads_by_attention, make_plots, render_terminal, sections, to_html, to_markdown,
    why_first_won, write_outputs,
)

# Each plot and the section it belongs in (the section's title starts with this).
PLOT_SECTIONS = {"params": "Parameters", "kv_cache": "Compute and memory", "scaling": "Scaling"}


@pytest.fixture(scope="module")
def d():
    return design("7B", context=32768)


@pytest.fixture(scope="module")
def plots(d):
    return make_plots(d)


@pytest.fixture(scope="module")
def outdir(d, tmp_path_factory):
    path = tmp_path_factory.mktemp("design")
    write_outputs(d, path)
    return path


def _terminal(d) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    render_terminal(d, console)
    return console.export_text()


def _section(text: str, title: str) -> str:
    """The Markdown between ``## title`` and the next ``## ``."""
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _expected_titles(d) -> list[str]:
    titles = ["Summary", "Candidates", "Architecture", "Why each component", "Parameters", "Compute and memory",
              "Budget", "Scaling: this design at 2x and 10x", f"Against the real family: {d.reference['model']}",
              "How the search went"]
    return titles + (["Warnings"] if d.warnings else [])


# --- the content and its three views ----------------------------------------------------------------


def test_every_section_in_every_view(d):
    titles = [s.title for s in sections(d)]
    assert titles == _expected_titles(d)
    md, text = to_markdown(d), _terminal(d)
    for title in titles:
        assert f"\n## {title}\n" in md, title
        assert title in text, title


def test_terminal_view(d):
    text = _terminal(d)
    # the nearest real model of the llama3 family by size and shape, within the family (not another family's 7B)
    assert d.reference["model"] == "llama-3.1-8b"
    for needle in (f"{d.params.total:,}", "Against the real family: llama-3.1-8b", "GQA", "2x (14B)", "10x (70B)",
                   "MHA (32 KV), GQA (8 KV), MQA (1 KV)", "16.00 GiB / 4.00 GiB / 0.50 GiB",
                   "KV cache at 32,768 tokens (bf16, batch 1)", "The design wins because"):
        assert needle in text, needle
    assert "<svg" not in text and "![" not in text  # plots are for the files


def test_markdown_has_every_number(d):
    md = to_markdown(d)
    assert f"{d.params.total:,}" in md
    assert f'"hidden_size": {d.config.hidden_size}' in md  # the complete config
    for text in d.justification.values():
        assert text.replace("|", "\\|") in md
    for step in d.steps:
        assert step in md
    for s in d.scaling:
        for change in s.changes:
            assert change in md
    for difference in d.reference["differences"]:
        assert difference in md
    assert "![" not in md  # no plot paths given, no images linked


def test_candidates_table_lists_every_candidate(d):
    md = to_markdown(d)
    table = _section(md, "Candidates")
    text = _terminal(d)
    assert len(d.candidates) >= 3  # the design and its neighbouring rungs
    for c in d.candidates:
        assert f"| {c.label}" in table and f"{c.total:,} ({100 * c.error:+.2f}%)" in table, c.label
        assert c.label in text and f"{c.total:,}" in text
        assert f"{c.config.hidden_size:,} x {c.config.num_hidden_layers}" in table
        assert f"{c.config.num_attention_heads} / {c.config.num_key_value_heads} / {c.config.head_dim}" in table
    assert table.index("| design") < min(table.index(f"| {c.label}") for c in d.candidates[1:])


def test_why_the_first_won_comes_from_the_data(d):
    why = why_first_won(d)
    assert why in to_markdown(d)
    assert " ".join(why.split()) in " ".join(_terminal(d).split())  # rich wraps it; the words are the same
    assert why.startswith("The design wins because it is the llama3 family curve's rung for 7B")
    assert f"{100 * d.candidates[0].error:+.2f}%" in why
    for c in d.candidates[1:]:
        assert f"{c.label} ({c.config.hidden_size:,} x {c.config.num_hidden_layers}, {100 * c.error:+.2f}%" in why
    assert not any(c.canonical for c in d.candidates)
    assert "No real model of the llama3 family is within 5% of 7B." in why


def test_canonical_real_model_is_listed_beside_the_design():
    d8 = design("8B")
    canonical = [c for c in d8.candidates if c.canonical]
    assert [c.label for c in canonical] == ["llama-3.1-8b"]
    table = _section(to_markdown(d8), "Candidates")
    assert f"| llama-3.1-8b (real model, canonical) | 4,096 x 32 |" in table
    why = why_first_won(d8)
    assert "within 5% of the target" in why and "llama-3.1-8b (+0.38%, the design's own shape)" in why
    assert "No real model" not in why


def test_budget_section(d):
    assert d.budget is not None  # a --params design reports Chinchilla's tokens beside it
    budget = _section(to_markdown(d), "Budget")
    assert d.budget["text"] in budget and d.budget["formula"] in budget
    for needle in ("training tokens", "tokens per parameter", "training FLOPs (6ND)", "GPU-hours", "MFU (assumed)",
                   "predicted loss", f"{d.budget['predicted_loss']:.3f}", f"{d.budget['tokens_per_param']:.1f}"):
        assert needle in budget, needle
    without = dataclasses.replace(d, budget=None)
    assert "Budget" not in [s.title for s in sections(without)]
    assert "## Budget" not in to_markdown(without)


def test_budget_from_flops():
    pytest.importorskip("archsmith.scaling_laws")
    d = design(flops=1e21)
    md = to_markdown(d)
    budget = _section(md, "Budget")
    assert d.budget["given"] in budget and d.budget["text"] in budget
    assert f"{d.budget['training_flops']:.3g}" in budget


# --- plots -------------------------------------------------------------------------------------------


def test_plots_sit_in_their_sections(d):
    placed = {block.key: section.title for section in sections(d) for block in section.blocks
              if isinstance(block, Plot)}
    assert set(placed) == set(PLOT_FILES) == set(PLOT_SECTIONS)
    for key, title in placed.items():
        assert title.startswith(PLOT_SECTIONS[key]), (key, title)
    md = to_markdown(d, {key: f"plots/{name}" for key, name in PLOT_FILES.items()})
    for key, name in PLOT_FILES.items():
        heading = [line for line in md[: md.index(f"(plots/{name})")].splitlines() if line.startswith("## ")][-1]
        assert heading.startswith(f"## {PLOT_SECTIONS[key]}"), (key, heading)


def test_kv_plot_draws_exactly_the_variants_the_text_states(d):
    assert list(kv_heads_by_attention(d)) == list(d.kv_cache_by_attention) == ["MHA", "GQA", "MQA"]
    assert kv_heads_by_attention(d) == {"MHA": 32, "GQA": 8, "MQA": 1}  # GQA is this design's own 8 KV heads
    curves = kv_curves(d, [1024, d.context])
    assert {k: v[1][1] for k, v in curves.items()} == d.kv_cache_by_attention
    # an MHA design (GPT-2 class) gets the text's own alternatives, computed at its batch
    small = design("125M", style="gpt2", batch=4)
    curves = kv_curves(small, [small.context])
    assert {k: v[1][0] for k, v in curves.items()} == small.kv_cache_by_attention
    assert kv_heads_by_attention(small)["MHA"] == small.config.num_attention_heads


def _png_dpi(png: bytes) -> tuple[float, int]:
    """(dots per inch from the pHYs chunk, pixel width)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width = struct.unpack(">I", png[16:20])[0]
    pos = 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"pHYs":
            x, y, unit = struct.unpack(">IIB", png[pos + 8:pos + 17])
            assert unit == 1 and x == y  # pixels per metre
            return x * 0.0254, width
        pos += 12 + length
    raise AssertionError("no pHYs chunk")


def test_png_plots_are_at_least_150_dpi(plots):
    assert set(plots) == set(PLOT_FILES)
    for key, plot in plots.items():
        dpi, width = _png_dpi(plot.png)
        assert dpi >= 149.9, (key, dpi)
        assert width >= 7 * 150, (key, width)  # figures are 7.5 in wide before tight cropping


def test_plots_are_labelled(plots, d):
    for key, plot in plots.items():
        svg = plot.svg
        texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
        assert len(texts) > 10, key  # title, axis labels, ticks, legend
        assert "legend" in svg, key
    kv = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", plots["kv_cache"].svg))
    gpu = d.facts["attention"]["gpu"]
    for needle in ("MHA: 32 KV heads", "GQA: 8 KV heads (this design)", "MQA: 1 KV head", f"{gpu} memory",
                   "left beside the bf16 weights", "context (tokens", "KV cache (GiB"):
        assert needle in kv, needle
    scaling = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", plots["scaling"].svg))
    for name in d.style.family:  # the real models of the family, labelled by name
        assert name in scaling, name
    for needle in ("hidden size (log scale)", "layers (log scale)", "total parameters", "this design"):
        assert needle in scaling, needle
    params = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", plots["params"].svg))
    for part in ("embedding", "attention", "ffn", "norm", "lm_head", f"{d.params.total:,}"):
        assert part in params, part


def test_html_is_self_contained(d, plots):
    page = to_html(d, plots)
    assert page.count("<svg") == 3 and page.count("</svg>") == 3
    assert "<img" not in page and "<script" not in page and "<link" not in page
    for attr in re.findall(r'\b(?:src|href)="([^"]*)"', page):
        assert attr.startswith("#"), attr  # only references inside the page
    assert not re.search(r"url\((?!#)", page)
    for key in PLOT_FILES:  # ids of one plot are its own
        ids = re.findall(r'\bid="([^"]+)"', plots[key].svg)
        assert ids and all(i.startswith(f"{key}-") for i in ids)
    assert len(set(re.findall(r'\bid="([^"]+)"', page))) == len(re.findall(r'\bid="([^"]+)"', page))


def test_html_places_each_plot_in_its_section(d, plots):
    page = to_html(d, plots)
    for key, title in PLOT_SECTIONS.items():
        at = page.index(f'<figure class="plot" id="plot-{key}">')
        heading = re.findall(r"<h2>([^<]*)</h2>", page[:at])[-1]
        assert heading.startswith(title), (key, heading)


def test_import_needs_neither_matplotlib_nor_torch():
    code = ("import sys, archsmith, archsmith.design, archsmith.report; "
            "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_written_files(d, outdir):
    names = {p.relative_to(outdir).as_posix() for p in outdir.rglob("*") if p.is_file()}
    expected = {"archsmith.json", "config.json", "design.json", "report.md", "report.html"}
    assert expected | {f"plots/{name}" for name in PLOT_FILES.values()} == names
    assert ArchConfig.from_json((outdir / "archsmith.json").read_text()) == d.config
    assert json.loads((outdir / "config.json").read_text()) == d.hf_export().config
    assert json.loads((outdir / "design.json").read_text())["params"]["total"] == d.params.total
    md = (outdir / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(links) == sorted(f"plots/{name}" for name in PLOT_FILES.values())
    for link in links:
        assert (outdir / link).read_bytes().startswith(b"\x89PNG")
        assert _png_dpi((outdir / link).read_bytes())[0] >= 149.9
    assert (outdir / "report.html").read_text().count("<svg") == 3


# --- headless Chromium --------------------------------------------------------------------------------

# Runs after load inside the rendered page: for each plot, its laid-out box, whether it is the element
# drawn at its own centre once scrolled into view, how much it drew, and the nearest <h2> before it.
PROBE = (
    "<script>window.addEventListener('load', () => {"
    " let heading = null; const found = [];"
    " for (const el of document.querySelectorAll('h2, figure.plot svg')) {"
    "  if (el.tagName.toLowerCase() === 'h2') { heading = el.textContent; continue; }"
    "  el.scrollIntoView({block: 'center'});"
    "  const box = el.getBoundingClientRect(); const style = getComputedStyle(el);"
    "  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);"
    "  found.push({key: el.closest('figure').id, section: heading, width: Math.round(box.width),"
    "   height: Math.round(box.height), shown: style.display !== 'none' && style.visibility === 'visible'"
    "   && Number(style.opacity) > 0, onTop: hit !== null && el.contains(hit),"
    "   drawn: el.querySelectorAll('path, use, text').length}); }"
    " document.body.setAttribute('data-plots', JSON.stringify(found)); });</script>"
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
         f"--user-data-dir={profile}", "--window-size=1200,900", "--virtual-time-budget=5000", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_html_renders_in_headless_chromium_with_its_plots(outdir, tmp_path):
    chromium = _chromium()
    page = tmp_path / "probe.html"
    page.write_text((outdir / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = _dump_dom(chromium, page, tmp_path / "profile")
    assert "Why each component" in dom and "Candidates" in dom
    match = re.search(r'data-plots="([^"]*)"', dom)
    assert match, "the probe did not run"
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert sorted(p["key"] for p in found) == sorted(f"plot-{key}" for key in PLOT_SECTIONS)
    for plot in found:
        key = plot["key"].removeprefix("plot-")
        assert plot["section"].startswith(PLOT_SECTIONS[key]), plot  # beside its section, not at the end
        assert plot["width"] > 200 and plot["height"] > 100, plot  # laid out at a visible size
        assert plot["shown"] and plot["onTop"], plot  # not hidden, not covered
        assert plot["drawn"] > 20, plot  # the figure's own paths and labels are in the page
