"""The design report: one content model rendered three ways.

:func:`sections` turns a :class:`~archsmith.design.Design` into titled blocks (paragraphs, tables,
bullet lists, plots). The terminal view (rich), the Markdown file and the self-contained HTML file
all render those same blocks, so they never disagree. A :class:`Plot` block sits in the section it
illustrates: the files show it there (Markdown links the PNG under ``plots/``, HTML inlines the SVG),
the terminal leaves it out. The plots (matplotlib, imported only when drawn):

- ``params``: where the parameters go (Parameters);
- ``kv_cache``: the KV cache against context for exactly the MHA/GQA/MQA variants the text states,
  with the GPU's memory and what the weights leave of it (Compute and memory);
- ``scaling``: the family from 0.1x to 10x, hidden and layers on their own log axes, with the real
  models of the family overlaid (Scaling).
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .design import Candidate, Design, format_count, scaling_family
from .design.counts import GIB
from .design.core import CANONICAL_WITHIN  # real models this close to the target are listed as candidates
from .design.counts import format_gib
from .files import OutputDir
from .sizing import kv_cache_bytes

PNG_DPI = 200  # the PNG files (>= 150 dpi); the HTML inlines the same figures as SVG


# --- the content ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Code:
    caption: str
    text: str
    language: str = "json"


@dataclass(frozen=True)
class Plot:
    key: str  # one of PLOT_FILES
    caption: str


Block = Union[str, Table, Bullets, Code, Plot]


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block]


def _flops(n: float) -> str:
    return f"{n / 1e9:,.2f} GFLOP"


def title(d: Design) -> str:
    return f"archsmith design: {format_count(d.target)} parameters, {d.style.name} style"


def _shape(cfg) -> str:
    return (f"hidden {cfg.hidden_size:,} x {cfg.num_hidden_layers} layers, {cfg.num_attention_heads} heads "
            f"({cfg.num_key_value_heads} KV) of {cfg.head_dim}, ffn {cfg.intermediate_size:,}")


def sections(d: Design) -> list[Section]:
    cfg, p, est = d.config, d.params, d.estimate
    plan = d.hf_export()
    out = [
        Section("Summary", [Table(["", ""], [
            ["target", f"{d.target:,} ({format_count(d.target)})"],
            ["designed", f"{p.total:,} ({d.error:+.3%})"],
            ["style", d.style.summary],
            ["shape", _shape(cfg)],
            ["context", f"{d.context:,} tokens, batch {d.request.batch}"],
            ["HF export", f"{plan.architecture}" + (" (remote code)" if plan.remote_code else "")],
        ])]),
        Section("Candidates", _candidate_blocks(d)),
        Section("Architecture", [
            Table(["field", "value"], [[k, _value(getattr(cfg, k))] for k in _SHOWN_FIELDS]),
            Code("The complete archsmith config (every field)", cfg.to_json()),
        ]),
        Section("Why each component", [Table(["component", "reason"], [
            [name.replace("_", " "), text] for name, text in d.justification.items()
        ])]),
        Section("Parameters", [
            Table(["component", "params", "share"], [
                *[[name, f"{value:,}", f"{100 * value / p.total:.2f}%"] for name, value in _parts(d)],
                ["non-embedding", f"{p.non_embedding:,}", f"{100 * p.non_embedding / p.total:.2f}%"],
                ["total", f"{p.total:,}", "100%"],
            ]),
            Plot("params", f"Where the {format_count(p.total)} parameters go"),
        ]),
        Section("Compute and memory", [
            _compute_table(d), Bullets(list(est.assumptions)),
            Plot("kv_cache", f"KV cache against context (bf16, batch {d.request.batch}): "
                             + ", ".join(kv_heads_by_attention(d)) + f", with the {_gpu_words(d)}'s memory"),
        ]),
    ]
    if d.budget is not None:
        out.append(Section("Budget", _budget_blocks(d.budget)))
    out.append(Section("Scaling: this design at 2x and 10x", _scaling_blocks(d)))
    if d.reference:
        ref = d.reference
        out.append(Section(f"Against the real family: {ref['model']}", [
            f"The nearest real {d.style.name}-family model by size and shape is {ref['model']} "
            f"({ref['params']:,} params; source: {ref['source']}).",
            Table(["", "this design", ref["model"]], [
                [k, _value(getattr(cfg, k)), _value(v)] for k, v in ref["shape"].items()
            ] + [["total params", f"{p.total:,}", f"{ref['params']:,}"]]),
            Bullets(ref["differences"] or ["identical shape"]),
        ]))
    out.append(Section("How the search went", [Bullets(d.steps)]))
    if d.warnings:
        out.append(Section("Warnings", [Bullets(d.warnings)]))
    return out


def _parts(d: Design) -> list[tuple[str, int]]:
    p = d.params
    return [("embedding", p.embedding), ("attention", p.attention), ("ffn", p.ffn), ("norm", p.norm),
            ("lm_head", p.lm_head)]


_SHOWN_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "intermediate_size", "max_position_embeddings", "position_embedding", "rope_theta", "rope_scaling",
    "sliding_window", "norm_type", "norm_eps", "mlp_type", "hidden_act", "qkv_bias", "qk_norm",
    "tie_word_embeddings",
)


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


# --- candidates -------------------------------------------------------------------------------------


def _candidate_label(c: Candidate) -> str:
    return f"{c.label} (real model, canonical)" if c.canonical else c.label


def _candidate_blocks(d: Design) -> list[Block]:
    ctx = f"{d.context:,}"
    rows = []
    for c in d.candidates:
        cfg = c.config
        rows.append([
            _candidate_label(c),
            f"{cfg.hidden_size:,} x {cfg.num_hidden_layers}",
            f"{cfg.num_attention_heads} / {cfg.num_key_value_heads} / {cfg.head_dim}",
            f"{cfg.intermediate_size:,} ({cfg.intermediate_size / cfg.hidden_size:.2f}x)",
            f"{c.total:,} ({100 * c.error:+.2f}%)",
            format_gib(c.kv_cache_bytes),
            _flops(c.flops_per_token),
            format_gib(c.decode_bytes_per_token),
            str(c.max_tp),
            ", ".join(map(str, c.pipeline_stages)) or "none of 2, 4, 8",
        ])
    table = Table(["candidate", "hidden x layers", "heads / KV / head_dim", "ffn (x hidden)", "total (error)",
                   f"KV cache at {ctx} (bf16, batch {d.request.batch})", "forward FLOPs/token (2N + attention)",
                   "decode bytes/token", "max TP", "pipeline stages"], rows)
    return [table, why_first_won(d)]


def why_first_won(d: Design) -> str:
    """Why the design, not another candidate, is first: generated only from the candidates and the search."""
    style, target = d.style.name, format_count(d.target)
    family = d.style.ffn_ratio
    first = d.candidates[0]
    mine = first.config.intermediate_size / first.config.hidden_size
    offset = d.facts["search"]["rung_offset"]
    if offset == 0:
        lead = (f"The design wins because it is the {style} family curve's rung for {target}: the rung whose "
                f"nominal total (FFN at the family's {family:.3g}x) is nearest the target, with the FFN then fitted "
                f"to land {100 * first.error:+.2f}%. Rungs, not the smallest error, decide the shape, so hidden, "
                "layers and heads only grow as the budget grows.")
    else:
        lead = (f"The {style} family curve's rung for {target} cannot land within 1% with any FFN, so the design "
                f"is the nearest rung that does ({offset:+d} from it), at {100 * first.error:+.2f}%; the rungs "
                "only grow with the budget.")
    rungs = [c for c in d.candidates[1:] if not c.canonical]
    parts = [lead]
    if rungs:
        described = []
        for c in rungs:
            ratio = c.config.intermediate_size / c.config.hidden_size
            side = "further from" if abs(ratio - family) > abs(mine - family) else "as near as or nearer to"
            described.append(f"{c.label} ({c.config.hidden_size:,} x {c.config.num_hidden_layers}, "
                             f"{100 * c.error:+.2f}%, ffn {ratio:.2f}x hidden, {side} the family's {family:.3g}x "
                             f"than the design's {mine:.2f}x)")
        parts.append(f"The other rungs are its neighbours on the curve: {'; '.join(described)}.")
    real = [c for c in d.candidates if c.canonical]
    if real:
        listed = []
        for c in real:
            same = (c.config.hidden_size, c.config.num_hidden_layers, c.config.num_attention_heads,
                    c.config.num_key_value_heads, c.config.intermediate_size) == (
                first.config.hidden_size, first.config.num_hidden_layers, first.config.num_attention_heads,
                first.config.num_key_value_heads, first.config.intermediate_size)
            listed.append(f"{c.label} ({100 * c.error:+.2f}%" + (", the design's own shape)" if same else ")"))
        parts.append(f"Real {style}-family models within {CANONICAL_WITHIN:.0%} of the target, counted with this "
                     f"request's vocabulary, tying and context, are listed beside it: {', '.join(listed)}.")
    else:
        parts.append(f"No real model of the {style} family is within {CANONICAL_WITHIN:.0%} of {target}.")
    return " ".join(parts)


# --- compute, memory and budget -------------------------------------------------------------------


def kv_heads_by_attention(d: Design) -> dict[str, int]:
    """The KV-head count behind each variant in ``d.kv_cache_by_attention`` (MHA/GQA/MQA): the design's own
    choice, so the text's numbers and the plot's curves are one."""
    return dict(d.facts["attention"]["variants"])


def _gpu_words(d: Design) -> str:
    a = d.facts["attention"]
    return a["gpu"] if a["gpus"] == 1 else f"{a['gpus']} x {a['gpu']}"


def _compute_table(d: Design) -> Table:
    est = d.estimate
    six = est.flops["6N"]
    exact = est.flops["exact_causal"]
    mem = est.training_memory
    kv = d.kv_cache_by_attention
    heads = kv_heads_by_attention(d)
    batch = d.request.batch
    a = d.facts["attention"]
    rows = [
        ["FLOPs per token, forward (2N, the 6N convention's forward / exact causal)",
         f"{_flops(six.forward_per_token)} / {_flops(exact.forward_per_token)}"],
        ["FLOPs per token, training (6N / exact causal)",
         f"{_flops(six.training_per_token)} / {_flops(exact.training_per_token)}"],
        [f"KV cache at {d.context:,} tokens (bf16, batch {batch})", format_gib(est.kv_cache_bytes)],
        ["KV cache with " + ", ".join(f"{k} ({heads[k]} KV)" for k in kv),
         " / ".join(format_gib(v) for v in kv.values())],
        ["KV cache per token (bf16)", f"{est.kv_cache_bytes_per_token / 1024:,.1f} KiB"],
        ["weights (bf16 / fp8)", f"{format_gib(est.weight_bytes['bf16'])} / {format_gib(est.weight_bytes['fp8'])}"],
        [f"serving memory ({_gpu_words(d)}, {format_gib(a['budget_bytes'])} usable each)",
         f"{format_gib(_usable_beside_weights(d))} left beside the bf16 weights"
         if _usable_beside_weights(d) > 0 else "the bf16 weights alone do not fit"],
        [f"training memory, one {d.context:,}-token sequence (AdamW, mixed precision)", format_gib(mem.total)],
        ["  ... with full activation checkpointing", format_gib(mem.total_checkpointed)],
    ]
    return Table(["quantity", "value"], rows)


def _usable_beside_weights(d: Design) -> int:
    a = d.facts["attention"]
    return a["budget_bytes"] * a["gpus"] - a["weights_bytes"]


def _budget_blocks(b: dict[str, Any]) -> list[Block]:
    if b["tokens"] is None:  # outside the fit's range: the text says why
        return [b["text"]]
    rows = [
        ["given", b["given"]],
        ["parameters", f"{b['params']:,} ({format_count(b['params'])})"],
        ["training tokens", f"{b['tokens']:,.0f} ({format_count(b['tokens'])})"],
        ["tokens per parameter", f"{b['tokens_per_param']:.1f}"],
        ["training FLOPs (6ND)", f"{b['training_flops']:.3g}"],
        [f"{b['gpu']} GPU-hours", f"{b['gpu_hours']:,.0f}"],
        ["MFU (assumed)", f"{b['mfu']:.0%}"],
        ["predicted loss (nats/token)", f"{b['predicted_loss']:.3f}"],
        ["formula (Chinchilla approach 3)", b["formula"]],
    ]
    if b.get("inference_tokens") is not None:
        rows.insert(4, ["inference tokens (Sardana et al. 2023)", f"{b['inference_tokens']:.3g}"])
    return [b["text"], Table(["", ""], rows)]


def _scaling_blocks(d: Design) -> list[Block]:
    designs = [(1.0, d)] + [(s.factor, s.design) for s in d.scaling]
    labels = [f"{f:g}x ({format_count(x.target)})" for f, x in designs]

    def row(name: str, get) -> list[str]:
        return [name] + [get(x) for _, x in designs]

    table = Table(["", *labels], [
        row("total params", lambda x: f"{x.params.total:,}"),
        row("hidden x layers", lambda x: f"{x.config.hidden_size:,} x {x.config.num_hidden_layers}"),
        row("heads / KV heads / head_dim",
            lambda x: f"{x.config.num_attention_heads} / {x.config.num_key_value_heads} / {x.config.head_dim}"),
        row("ffn (ratio)",
            lambda x: f"{x.config.intermediate_size:,} ({x.config.intermediate_size / x.config.hidden_size:.2f}x)"),
        row("tied embeddings", lambda x: str(x.config.tie_word_embeddings)),
        row("training FLOPs/token (6N)", lambda x: _flops(x.estimate.flops["6N"].training_per_token)),
        row(f"KV cache at {d.context:,} (batch {d.request.batch})", lambda x: format_gib(x.estimate.kv_cache_bytes)),
    ])
    blocks: list[Block] = [table]
    for s in d.scaling:
        blocks.append(f"What changed at {s.factor:g}x, and why:")
        blocks.append(Bullets(s.changes))
    blocks.append(Plot("scaling", f"The {d.style.name} family from 0.1x to 10x the target, with the real "
                                  f"{d.style.name}-family models"))
    return blocks


# --- terminal ---------------------------------------------------------------------------------------


def render_terminal(d: Design, console) -> None:
    """Print the report with rich (no plots; the config JSON is left to --json and --out)."""
    from rich.panel import Panel
    from rich.table import Table as RichTable

    console.print(Panel.fit(title(d), style="bold"))
    for section in sections(d):
        console.rule(f"[bold]{section.title}")
        for block in section.blocks:
            if isinstance(block, (Code, Plot)):
                continue  # the full config is for --json and --out; plots are in the files
            if isinstance(block, Table):
                show_header = any(block.header)
                table = RichTable(show_header=show_header, header_style="bold", expand=False)
                for i, name in enumerate(block.header):
                    table.add_column(name, overflow="fold", justify="right" if i and _numeric(block, i) else "left")
                for r in block.rows:
                    table.add_row(*r)
                console.print(table)
            elif isinstance(block, Bullets):
                for item in block.items:
                    console.print(f"  - {item}", highlight=False)
            else:
                console.print(block, highlight=False)


def _numeric(table: Table, column: int) -> bool:
    return all(r[column][:1].isdigit() for r in table.rows if r[column])


# --- Markdown ---------------------------------------------------------------------------------------


def to_markdown(d: Design, plots: dict[str, str] | None = None) -> str:
    """The report as Markdown; ``plots`` maps a plot key (see PLOT_FILES) to the image path linked in its
    section. Without it no image is linked."""
    lines = [f"# {title(d)}", ""]
    for section in sections(d):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Plot):
                if plots and block.key in plots:
                    lines += [f"![{_md_cell(block.caption)}]({plots[block.key]})", ""]
                continue
            lines += _markdown_block(block) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Table):
        out = ["| " + " | ".join(_md_cell(h) for h in block.header) + " |",
               "|" + "|".join("---" for _ in block.header) + "|"]
        return out + ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in block.rows]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items]
    if isinstance(block, Code):
        return [f"{block.caption}:", "", f"```{block.language}", block.text, "```"]
    return [block]


# --- HTML -------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; } td, th { border: 1px solid #ddd; padding: .3em .6em;
vertical-align: top; text-align: left; } th { background: #f4f4f4; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
figure.plot { margin: 1em 0; } figure.plot svg { display: block; width: 100%; max-width: 900px; height: auto; }
figcaption { color: #555; font-size: .9em; }
"""


def to_html(d: Design, plots: dict[str, RenderedPlot] | None = None) -> str:
    """A self-contained HTML page: inline CSS, each plot an inline SVG in its section; nothing is fetched."""
    if plots is None:
        plots = make_plots(d)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title(d))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title(d))}</h1>",
    ]
    for section in sections(d):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Plot):
                if block.key in plots:
                    parts.append(f'<figure class="plot" id="plot-{block.key}">{plots[block.key].svg}'
                                 f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
                continue
            parts.append(_html_block(block))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_block(block: Block) -> str:
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header) if any(block.header) else ""
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in block.rows)
        return f"<table>{'<tr>' + head + '</tr>' if head else ''}{rows}</table>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Code):
        return f"<details><summary>{html.escape(block.caption)}</summary><pre>{html.escape(block.text)}</pre></details>"
    return f"<p>{html.escape(block)}</p>"


# --- plots ------------------------------------------------------------------------------------------

PLOT_FILES = {  # plot key -> file name under plots/
    "params": "params.png",
    "scaling": "scaling.png",
    "kv_cache": "kv_cache.png",
}


@dataclass(frozen=True)
class RenderedPlot:
    png: bytes  # PNG_DPI, for plots/*.png and the Markdown
    svg: str  # an <svg> element, ids prefixed per plot, for inlining in the HTML


def make_plots(d: Design) -> dict[str, RenderedPlot]:
    """Plot key -> the figure as PNG and inline SVG (matplotlib is imported here, not with the package)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    style = {"svg.fonttype": "none", "svg.hashsalt": "archsmith", "font.size": 10, "axes.titlesize": 11,
             "axes.labelsize": 10, "legend.fontsize": 8.5, "xtick.labelsize": 9, "ytick.labelsize": 9}
    out = {}
    with plt.rc_context(style):
        for key, draw in (("params", _plot_params), ("scaling", _plot_scaling), ("kv_cache", _plot_kv)):
            fig = draw(d, plt)
            png, svg = io.BytesIO(), io.StringIO()
            fig.savefig(png, format="png", dpi=PNG_DPI, bbox_inches="tight")
            fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
            plt.close(fig)
            out[key] = RenderedPlot(png.getvalue(), _inline_svg(svg.getvalue(), key))
    return out


def _inline_svg(text: str, key: str) -> str:
    """The <svg> element alone (no XML prolog, DOCTYPE or metadata), its ids unique to this plot."""
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{key}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{key}-\1)", text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{key}-\1"', text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{key}" ', 1)


_COLORS = {"embedding": "#8da0cb", "attention": "#66c2a5", "ffn": "#fc8d62", "norm": "#e78ac3", "lm_head": "#a6d854"}


def _plot_params(d: Design, plt):
    p = d.params
    parts = _parts(d)
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    names = [n for n, _ in parts]
    values = [v for _, v in parts]
    bars = ax.barh(names, values, color=[_COLORS[n] for n in names],
                   label=[f"{n}: {v:,}" for n, v in parts])
    for bar, v in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {format_count(v)} ({_share(v, p.total)})",
                va="center", fontsize=9)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_count_formatter())
    ax.set_xlabel("parameters (count)")
    ax.set_ylabel("component")
    ax.set_xlim(0, max(values) * 1.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title=f"total {p.total:,}", fontsize=8,
              title_fontsize=8.5, frameon=False)
    ax.set_title(f"Parameter breakdown: {d.config.hidden_size:,} x {d.config.num_hidden_layers} layers, "
                 f"{format_count(p.total)} params")
    return fig


def _share(part: int, total: int) -> str:
    pct = 100 * part / total
    return f"{pct:.1f}%" if pct >= 0.1 else f"{pct:.2g}%"


def _count_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: format_count(v) if v else "0")


def _int_formatter(leading: tuple[int, ...] | None = None):
    """Plain integers on a log axis; with ``leading``, only ticks whose first digit is one of them."""
    from matplotlib.ticker import FuncFormatter

    def label(v: float, _) -> str:
        if v <= 0 or (leading and int(f"{v:.0e}"[0]) not in leading):
            return ""
        return f"{v:,.0f}"

    return FuncFormatter(label)


def _tokens_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v / 1024:g}K" if v >= 1024 else f"{v:g}")


def family_models(d: Design) -> list[tuple[str, Any, int]]:
    """The real models of the style's family: (preset name, ArchConfig, total params)."""
    from .presets import get_preset
    from .sizing import count_params

    out = []
    for name in d.style.family:
        cfg = get_preset(name)
        out.append((name, cfg, count_params(cfg).total))
    return out


def _plot_scaling(d: Design, plt):
    family = scaling_family(d)
    real = family_models(d)
    totals = [x.params.total for _, x in family]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.2), sharex=True)
    for ax, get, name, color in (
        (top, lambda c: c.hidden_size, "hidden size", "#1f77b4"),
        (bottom, lambda c: c.num_hidden_layers, "layers", "#d62728"),
    ):
        ax.plot(totals, [get(x.config) for _, x in family], "o-", color=color, ms=5,
                label=f"{d.style.name} designs, 0.1x-10x")
        for factor, x in family:
            if factor != 1:  # the star marks the design itself
                ax.annotate(f"{factor:g}x", (x.params.total, get(x.config)), textcoords="offset points",
                            xytext=(0, -13), fontsize=8, ha="center", color=color)
        ax.scatter([t for _, _, t in real], [get(c) for _, c, _ in real], marker="D", s=28, facecolor="white",
                   edgecolor="black", zorder=3, label=f"real {d.style.name}-family models")
        points: list[tuple[int, int, list[str]]] = []  # models at (nearly) one point share one label
        for t, y, label in sorted((t, get(c), label) for label, c, t in real):
            same = [p for p in points if p[1] == y and t / p[0] < 1.05]
            if same:
                same[0][2].append(label)
            else:
                points.append((t, y, [label]))
        for n, (t, y, labels) in enumerate(points):
            level = [q for q in points if q[1] == y]  # labels at one height alternate above and below
            i = level.index((t, y, labels)) + 1 if len(level) > 1 else n
            ax.annotate(" / ".join(labels), (t, y), textcoords="offset points",
                        xytext=(-4, 6) if i % 2 else (5, -10), ha="right" if i % 2 else "left", fontsize=7.5,
                        color="#333")
        ax.scatter([d.params.total], [get(d.config)], marker="*", s=220, color="#ff7f0e", edgecolor="black",
                   zorder=4, label=f"this design ({format_count(d.params.total)})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel(f"{name} (log scale)")
        ax.grid(True, which="both", alpha=0.25)
        ax.margins(x=0.08, y=0.12)
        lo, hi = ax.get_ylim()
        ax.yaxis.set_major_formatter(_int_formatter())  # within one decade every minor tick is labelled
        ax.yaxis.set_minor_formatter(_int_formatter(leading=(2, 5) if hi / lo > 10 else None))
        ax.tick_params(axis="y", which="minor", labelsize=7.5)
    top.legend(loc="upper left")
    bottom.xaxis.set_major_formatter(_count_formatter())
    bottom.set_xlabel("total parameters (count, log scale)")
    top.set_title(f"The {d.style.name} family: width and depth against size")
    fig.tight_layout()
    return fig


def kv_curves(d: Design, contexts: list[int]) -> dict[str, tuple[int, list[int]]]:
    """Variant name -> (KV heads, bf16 KV cache at each context for the design's batch): exactly the variants
    and KV counts of ``d.kv_cache_by_attention``."""
    batch = d.request.batch
    top = max(max(contexts), d.config.max_position_embeddings)
    out = {}
    for name, heads in kv_heads_by_attention(d).items():
        cfg = d.config.replace(num_key_value_heads=heads, max_position_embeddings=top)
        out[name] = (heads, [kv_cache_bytes(cfg, c, batch, "bf16") for c in contexts])
    return out


def _plot_kv(d: Design, plt):
    cfg, a = d.config, d.facts["attention"]
    top = max(4 * d.context, 16384)
    contexts = sorted({*(round(2 ** (k / 4)) for k in range(32, 1 + round(4 * math.log2(top)))), d.context})
    curves = kv_curves(d, contexts)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, (heads, sizes) in curves.items():
        mine = " (this design)" if heads == cfg.num_key_value_heads else ""
        ax.plot(contexts, [s / GIB for s in sizes], "-", lw=2,
                label=f"{name}: {heads} KV head{'s' if heads > 1 else ''}{mine}")
    memory = a["gpu_memory"] * a["gpus"]
    ax.axhline(memory / GIB, color="black", lw=1.2, ls="--",
               label=f"{_gpu_words(d)} memory ({format_gib(memory)})")
    usable = _usable_beside_weights(d)
    if usable > 0:
        ax.axhline(usable / GIB, color="#7f7f7f", lw=1.2, ls="-.",
                   label=f"left beside the bf16 weights ({format_gib(usable)})")
    ax.axvline(d.context, color="gray", lw=1, ls=":", label=f"this design's context ({d.context:,})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(_tokens_formatter())
    ax.set_xlabel("context (tokens, log scale; K = 1,024)")
    ax.set_ylabel(f"KV cache (GiB, bf16, batch {d.request.batch})")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)  # below: never on a curve
    ax.set_title(f"KV cache against context: {cfg.num_hidden_layers} layers, {cfg.num_attention_heads} heads of "
                 f"{cfg.head_dim}" + (f", window {cfg.sliding_window:,}" if cfg.sliding_window else ""))
    return fig


# --- files ------------------------------------------------------------------------------------------


def write_outputs(d: Design, outdir: str | Path | OutputDir, force: bool = False) -> list[Path]:
    """Write archsmith.json, config.json (HF), design.json, report.md, report.html and plots/*.png
    into ``outdir``, which must be empty or missing unless ``force`` (taken as export takes its
    target; pass an :class:`OutputDir` already taken to refuse before designing)."""
    out = outdir if isinstance(outdir, OutputDir) else OutputDir(outdir, force)
    plots = make_plots(d)
    contents: dict[str, str | bytes] = {
        "archsmith.json": d.config.to_json() + "\n",
        "config.json": json.dumps(d.hf_export().config, indent=2) + "\n",
        "design.json": json.dumps(d.to_dict(), indent=2) + "\n",
    }
    links = {}
    for key, plot in plots.items():
        contents[f"plots/{PLOT_FILES[key]}"] = plot.png
        links[key] = f"plots/{PLOT_FILES[key]}"
    contents["report.md"] = to_markdown(d, links)
    contents["report.html"] = to_html(d, plots)
    with out.write() as staging:
        (staging / "plots").mkdir()
        for name, content in contents.items():
            if isinstance(content, bytes):
                (staging / name).write_bytes(content)
            else:
                (staging / name).write_text(content)
    return [out.target / name for name in contents]
