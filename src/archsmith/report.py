"""The design report: one content model rendered three ways.

:func:`sections` turns a :class:`~archsmith.design.Design` into titled blocks (paragraphs,
tables, bullet lists). The terminal view (rich), the Markdown file and the self-contained
HTML file all render those same blocks, so they never disagree. Only the files carry plots
(matplotlib, imported when first needed): where the parameters go, how the design family
scales from 0.1x to 10x, and the KV cache against context for MHA, GQA and MQA.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .design import Design, format_count, scaling_family
from .files import OutputDir
from .sizing import kv_cache_bytes

GIB = 2**30


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


Block = Union[str, Table, Bullets, Code]


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block]


def _gib(n: float) -> str:
    return f"{n / GIB:,.2f} GiB"


def _flops(n: float) -> str:
    return f"{n / 1e9:,.2f} GFLOP"


def title(d: Design) -> str:
    return f"archsmith design: {format_count(d.target)} parameters, {d.style.name} style"


def sections(d: Design) -> list[Section]:
    cfg, p, est = d.config, d.params, d.estimate
    plan = d.hf_export()
    out = [
        Section("Summary", [Table(["", ""], [
            ["target", f"{d.target:,} ({format_count(d.target)})"],
            ["designed", f"{p.total:,} ({d.error:+.3%})"],
            ["style", d.style.summary],
            ["shape", f"hidden {cfg.hidden_size:,} x {cfg.num_hidden_layers} layers, {cfg.num_attention_heads} heads "
                      f"({cfg.num_key_value_heads} KV) of {cfg.head_dim}, ffn {cfg.intermediate_size:,}"],
            ["context", f"{d.context:,} tokens"],
            ["HF export", f"{plan.architecture}" + (" (remote code)" if plan.remote_code else "")],
        ])]),
        Section("Architecture", [
            Table(["field", "value"], [[k, _value(getattr(cfg, k))] for k in _SHOWN_FIELDS]),
            Code("The complete archsmith config (every field)", cfg.to_json()),
        ]),
        Section("Why each component", [Table(["component", "reason"], [
            [name.replace("_", " "), text] for name, text in d.justification.items()
        ])]),
        Section("Parameters", [Table(["component", "params", "share"], [
            *[[name, f"{value:,}", f"{100 * value / p.total:.2f}%"] for name, value in (
                ("embedding", p.embedding), ("attention", p.attention), ("ffn", p.ffn), ("norm", p.norm),
                ("lm_head", p.lm_head),
            )],
            ["non-embedding", f"{p.non_embedding:,}", f"{100 * p.non_embedding / p.total:.2f}%"],
            ["total", f"{p.total:,}", "100%"],
        ])]),
        Section("Compute and memory", [_compute_table(d), Bullets(list(est.assumptions))]),
        Section("Scaling: this design at 2x and 10x", _scaling_blocks(d)),
    ]
    if d.reference:
        ref = d.reference
        out.append(Section(f"Against the real family: {ref['model']}", [
            f"The nearest real {d.style.name}-family model in size is {ref['model']} "
            f"({ref['params']:,} params counted in this style; source: {ref['source']}).",
            Bullets(ref["differences"] or ["identical shape"]),
        ]))
    out.append(Section("How the search went", [Bullets(d.steps)]))
    if d.warnings:
        out.append(Section("Warnings", [Bullets(d.warnings)]))
    return out


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


def _compute_table(d: Design) -> Table:
    est = d.estimate
    six = est.flops["6N"]
    exact = est.flops["exact_causal"]
    mem = est.training_memory
    kv = d.kv_cache_by_attention
    rows = [
        ["FLOPs per token, forward (6N / exact causal)",
         f"{_flops(six.forward_per_token)} / {_flops(exact.forward_per_token)}"],
        ["FLOPs per token, training (6N / exact causal)",
         f"{_flops(six.training_per_token)} / {_flops(exact.training_per_token)}"],
        [f"KV cache at {d.context:,} tokens (bf16, batch 1)", _gib(est.kv_cache_bytes)],
        ["KV cache with " + ", ".join(kv), " / ".join(_gib(v) for v in kv.values())],
        ["KV cache per token (bf16)", f"{est.kv_cache_bytes_per_token / 1024:,.1f} KiB"],
        ["weights (bf16 / fp8)", f"{_gib(est.weight_bytes['bf16'])} / {_gib(est.weight_bytes['fp8'])}"],
        [f"training memory, one {d.context:,}-token sequence (AdamW, mixed precision)", _gib(mem.total)],
        ["  ... with full activation checkpointing", _gib(mem.total_checkpointed)],
    ]
    return Table(["quantity", "value"], rows)


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
        row("ffn (ratio)", lambda x: f"{x.config.intermediate_size:,} ({x.config.intermediate_size / x.config.hidden_size:.2f}x)"),
        row("tied embeddings", lambda x: str(x.config.tie_word_embeddings)),
        row("training FLOPs/token (6N)", lambda x: _flops(x.estimate.flops["6N"].training_per_token)),
        row(f"KV cache at {d.context:,}", lambda x: _gib(x.estimate.kv_cache_bytes)),
    ])
    blocks: list[Block] = [table]
    for s in d.scaling:
        blocks.append(f"What changed at {s.factor:g}x, and why:")
        blocks.append(Bullets(s.changes))
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
            if isinstance(block, Code):
                continue  # the full config is for --json and --out
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
    """The report as Markdown; ``plots`` maps a plot title to an image path to link."""
    lines = [f"# {title(d)}", ""]
    for section in sections(d):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _markdown_block(block) + [""]
    if plots:
        lines += ["## Plots", ""]
        for caption, path in plots.items():
            lines += [f"![{caption}]({path})", ""]
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
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
"""


def to_html(d: Design, plots: dict[str, bytes] | None = None) -> str:
    """A self-contained HTML page: inline CSS, plots embedded as base64 PNG."""
    if plots is None:
        plots = make_plots(d)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title(d))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title(d))}</h1>",
    ]
    for section in sections(d):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [_html_block(b) for b in section.blocks]
    parts.append("<h2>Plots</h2>")
    for i, (caption, png) in enumerate(plots.items()):
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img class="plot" id="plot-{i}" alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )
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


def make_plots(d: Design) -> dict[str, bytes]:
    """Caption -> PNG bytes for the three plots."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    out = {}
    for caption, draw in (
        (f"Where the {format_count(d.params.total)} parameters go", _plot_params),
        ("How the design family scales from 0.1x to 10x the target", _plot_scaling),
        (f"KV cache against context at this size (bf16, batch 1): MHA, GQA, MQA", _plot_kv),
    ):
        fig = draw(d, plt)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        out[caption] = buf.getvalue()
    return out


def _plot_params(d: Design, plt):
    p = d.params
    parts = [("embedding", p.embedding), ("attention", p.attention), ("ffn", p.ffn), ("norm", p.norm),
             ("lm_head", p.lm_head)]
    fig, ax = plt.subplots(figsize=(7, 3))
    names = [n for n, _ in parts]
    values = [v for _, v in parts]
    bars = ax.barh(names, values, color=["#8da0cb", "#66c2a5", "#fc8d62", "#e78ac3", "#a6d854"])
    for bar, v in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {format_count(v)} ({100 * v / p.total:.1f}%)",
                va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("parameters")
    ax.set_xlim(0, max(values) * 1.35)
    ax.set_title(f"{d.config.hidden_size} x {d.config.num_hidden_layers} layers, total {p.total:,}")
    return fig


def _plot_scaling(d: Design, plt):
    family = scaling_family(d)
    totals = [x.params.total for _, x in family]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(totals, [x.config.hidden_size for _, x in family], "o-", color="#1f77b4", label="hidden")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("total parameters")
    ax.set_ylabel("hidden size", color="#1f77b4")
    ax2 = ax.twinx()
    ax2.plot(totals, [x.config.num_hidden_layers for _, x in family], "s--", color="#d62728", label="layers")
    ax2.set_ylabel("layers", color="#d62728")
    for factor, x in family:
        ax.annotate(f"{factor:g}x", (x.params.total, x.config.hidden_size), textcoords="offset points",
                    xytext=(0, 6), fontsize=7, ha="center")
    ax.axvline(d.params.total, color="gray", lw=0.8, ls=":")
    ax.set_title(f"{d.style.name} designs: width and depth against size")
    return fig


def _plot_kv(d: Design, plt):
    cfg = d.config
    top = max(d.context * 4, 8192)
    contexts = []
    n = 256
    while n <= top:
        contexts.append(n)
        n *= 2
    heads = cfg.num_attention_heads
    variants = {"MHA": heads}
    if cfg.attention_kind == "GQA":
        variants[f"GQA ({cfg.num_key_value_heads} KV, this design)"] = cfg.num_key_value_heads
    else:
        gqa = [k for k in range(2, heads) if heads % k == 0]
        if gqa:
            k = min(gqa, key=lambda k: abs(k * 4 - heads))
            variants[f"GQA ({k} KV)"] = k
    variants["MQA"] = 1
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, kv in variants.items():
        variant = cfg.replace(num_key_value_heads=kv, max_position_embeddings=max(top, cfg.max_position_embeddings))
        ax.plot(contexts, [kv_cache_bytes(variant, c, 1, "bf16") / GIB for c in contexts], "o-", ms=3, label=label)
    ax.axvline(d.context, color="gray", lw=0.8, ls=":", label=f"context {d.context:,}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context (tokens)")
    ax.set_ylabel("KV cache (GiB)")
    ax.legend(fontsize=8)
    ax.set_title(f"{cfg.num_hidden_layers} layers, {heads} heads of {cfg.head_dim}")
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
    for (caption, png), file in zip(plots.items(), PLOT_FILES.values()):
        contents[f"plots/{file}"] = png
        links[caption] = f"plots/{file}"
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
