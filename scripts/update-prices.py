#!/usr/bin/env python3
"""Regenerates crates/core/data/prices.json from LiteLLM's model_prices_and_context_window.json.

The bundled table is data taken from a maintained source, never prices typed by hand. It keeps
only current chat and embeddings models of the providers Switchyard talks to, grouped under the provider names
the gateway uses (`openai`, `azure`, `anthropic`, `gemini`, `vertex`, `bedrock`, and the
OpenAI-compatible vendors `mistral`, `groq`, `deepseek`, `xai`, `together`, `fireworks`), with
prices in USD per million tokens.

Usage, from the litellm package on PyPI (which bundles the same table as
`litellm/model_prices_and_context_window_backup.json`):
    pip download --no-deps litellm==1.109.1 litellm==1.94.1 -d /tmp/litellm   # (two runs of pip download)
    scripts/update-prices.py --wheel /tmp/litellm/litellm-1.109.1-*.whl --older-wheel /tmp/litellm/litellm-1.94.1-*.whl
or from a bare git directory of BerriAI/litellm:
    scripts/update-prices.py --git-dir PATH/litellm.git [--rev HEAD]
or from a downloaded file (give its commit so the header can name it):
    scripts/update-prices.py --file model_prices_and_context_window.json --commit SHA --date YYYY-MM-DD

Python 3.9+, standard library only.
"""

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "core" / "data" / "prices.json"
SOURCE_PATH = "model_prices_and_context_window.json"
UPSTREAM = "https://github.com/BerriAI/litellm"

# LiteLLM provider -> (our provider group, key prefix LiteLLM puts before the upstream model id,
# whether the key must carry that prefix and the rest is a vendor id that may contain slashes such
# as `meta-llama/Llama-3.3-70B-Instruct-Turbo`). Without it, a slash marks a region-pinned or
# commitment entry (`bedrock/us-east-1/...`, `azure/eu/...`), which is left out.
# Order matters: it is the order of the groups in the output, which the catalog's cross-provider
# fallback walks. Model makers come first, then hosts of open models, then the clouds, which
# resell others' models at their own prices (Azure lists `mistral-large-latest` too).
PROVIDERS = [
    ("openai", "openai", "", False),
    ("anthropic", "anthropic", "", False),
    ("gemini", "gemini", "gemini/", False),
    ("mistral", "mistral", "mistral/", True),
    ("deepseek", "deepseek", "deepseek/", True),
    ("xai", "xai", "xai/", True),
    ("groq", "groq", "groq/", True),
    ("together_ai", "together", "together_ai/", True),
    ("fireworks_ai", "fireworks", "fireworks_ai/", True),
    ("azure", "azure", "azure/", False),
    ("vertex_ai-language-models", "vertex", "vertex_ai/", False),
    ("vertex_ai-anthropic_models", "vertex", "vertex_ai/", False),
    ("vertex_ai-embedding-models", "vertex", "vertex_ai/", False),
    ("bedrock_converse", "bedrock", "", False),
    ("bedrock", "bedrock", "", False),
]

PER_MILLION = 1_000_000
DATE_SUFFIX = re.compile(r"^(?P<base>.+?)(?:-\d{8}|-\d{4}-\d{2}-\d{2})$")

NOTES = [
    "Prices are USD per million tokens at the standard tier: LiteLLM's batch, flex and priority "
    "prices are left out.",
    "Tiered prices (e.g. above 200k or 272k input tokens) are not represented: the base tier is "
    "kept, so very long prompts on such models cost more than this table says.",
    "cache_write is the 5-minute cache-write price (Anthropic, Bedrock); 1-hour writes cost more.",
    "reasoning is present only where the source prices reasoning tokens apart from output tokens.",
    "Undated aliases (e.g. claude-sonnet-4 for claude-sonnet-4-20250514) are added by the script "
    "where the source has only the dated id; they take the latest dated snapshot's prices.",
]


def per_million(value):
    """A per-token price as a per-million price, rounded to drop float noise (2.4999999999e0)."""
    if value is None:
        return None
    return float(f"{float(value) * PER_MILLION:.10g}")


def upstream_model_id(key, prefix, vendor_ids):
    """The model id as the provider's API takes it, or None for keys that are not model ids:
    region-pinned or commitment entries, Together's size buckets (`together-ai-up-to-4b`) and
    Vertex's `@default` duplicates of undated ids, and prefixes without a model (`accounts/fireworks/models/`)."""
    if key.startswith(prefix):
        key = key[len(prefix):]
    elif vendor_ids:
        return None
    if not key or key.endswith(("@default", "/")) or ("/" in key and not vendor_ids):
        return None
    return key


def is_current_model(entry, today):
    """A chat model priced for input and output, or an embeddings model priced for input (its
    output is free: LiteLLM gives 0 or nothing)."""
    mode = entry.get("mode")
    if mode not in ("chat", "embedding") or entry.get("input_cost_per_token") is None:
        return False
    if mode == "chat" and entry.get("output_cost_per_token") is None:
        return False
    # A deprecated model is often still served (and billed) for months: keep those deprecated
    # within the last year, so that a request to one is never unpriced.
    deprecated = entry.get("deprecation_date")
    cutoff = (dt.date.fromisoformat(today) - dt.timedelta(days=365)).isoformat()
    return not (isinstance(deprecated, str) and deprecated[:10] < cutoff)


def row(entry):
    output = per_million(entry.get("output_cost_per_token") or 0)
    reasoning = per_million(entry.get("output_cost_per_reasoning_token"))
    out = {"input": per_million(entry["input_cost_per_token"]), "output": output}
    optional = {
        "cached_input": per_million(entry.get("cache_read_input_token_cost")),
        "cache_write": per_million(entry.get("cache_creation_input_token_cost")),
        "reasoning": reasoning if reasoning is not None and reasoning != output else None,
        "max_output_tokens": entry.get("max_output_tokens"),
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    if not isinstance(out.get("max_output_tokens", 0), int):
        del out["max_output_tokens"]
    return out


def add_undated_aliases(models):
    """`claude-sonnet-4` for `claude-sonnet-4-20250514` when the source lacks the undated id."""
    latest = {}
    for name in models:
        m = DATE_SUFFIX.match(name)
        if m and (m["base"] not in latest or name > latest[m["base"]]):
            latest[m["base"]] = name
    for base, dated in sorted(latest.items()):
        models.setdefault(base, models[dated])


def extract(source, today):
    groups = {group: {} for _, group, _, _ in PROVIDERS}
    for litellm_provider, group, prefix, vendor_ids in PROVIDERS:
        for key, entry in source.items():
            if not isinstance(entry, dict) or entry.get("litellm_provider") != litellm_provider:
                continue
            model = upstream_model_id(key, prefix, vendor_ids)
            if model is None or not is_current_model(entry, today):
                continue
            # The first entry for a model id wins (vertex lists some gemini ids twice).
            groups[group].setdefault(model, row(entry))
    for models in groups.values():
        add_undated_aliases(models)
    return {group: dict(sorted(models.items())) for group, models in groups.items()}


def git(git_dir, *args):
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True).stdout


def read_wheel(path):
    """(table, version) from a litellm wheel."""
    name = Path(path).name
    match = re.match(r"litellm-([^-]+)-", name)
    if not match:
        sys.exit(f"{name} is not a litellm wheel")
    with zipfile.ZipFile(path) as wheel:
        text = wheel.read("litellm/model_prices_and_context_window_backup.json").decode("utf-8")
    return json.loads(text), match.group(1)


def load(args):
    if args.wheel:
        source, version = read_wheel(args.wheel)
        return source, "pypi:litellm", f"litellm=={version}", args.date or dt.date.today().isoformat()
    if args.git_dir:
        commit = git(args.git_dir, "rev-parse", args.rev).strip()
        date = git(args.git_dir, "show", "-s", "--format=%cs", commit).strip()
        text = git(args.git_dir, "show", f"{commit}:{SOURCE_PATH}")
        repo = args.repo or "BerriAI/litellm"
    else:
        if not (args.commit and args.date):
            sys.exit("--file needs --commit and --date so the header can say which version it is")
        commit, date, text = args.commit, args.date, Path(args.file).read_text(encoding="utf-8")
        repo = args.repo or "BerriAI/litellm"
    return json.loads(text), repo, commit, date


def render(table):
    """JSON with one model a line, so that a price update reads as a small diff."""
    header = {k: v for k, v in table.items() if k != "providers"}
    lines = [json.dumps(header, indent=1, ensure_ascii=False)[:-2] + ","]
    lines.append(' "providers": {')
    groups = list(table["providers"].items())
    for gi, (group, models) in enumerate(groups):
        lines.append(f"  {json.dumps(group)}: {{")
        items = list(models.items())
        for mi, (model, price) in enumerate(items):
            comma = "," if mi + 1 < len(items) else ""
            lines.append(f"   {json.dumps(model)}: {json.dumps(price)}{comma}")
        lines.append("  }" + ("," if gi + 1 < len(groups) else ""))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", help="a litellm wheel downloaded from PyPI")
    src.add_argument("--git-dir", help="bare git directory holding model_prices_and_context_window.json")
    src.add_argument("--file", help="a downloaded model_prices_and_context_window.json")
    parser.add_argument(
        "--older-wheel",
        action="append",
        default=[],
        help="an older litellm wheel whose models missing from the main source are kept (LiteLLM drops retired models that are still being called)",
    )
    parser.add_argument("--rev", default="HEAD", help="revision to read with --git-dir (default HEAD)")
    parser.add_argument("--commit", help="source commit of --file")
    parser.add_argument("--date", help="date (YYYY-MM-DD) of that commit")
    parser.add_argument("--repo", help="owner/name the data was read from, if a mirror of BerriAI/litellm")
    parser.add_argument("--out", default=str(OUT), help=f"output file (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()

    source, repo, commit, date = load(args)
    providers = extract(source, today=date)
    older = []
    for path in args.older_wheel:
        old, version = read_wheel(path)
        older.append(f"litellm=={version}")
        for group, models in extract(old, today=date).items():
            for model, price in models.items():
                providers.setdefault(group, {}).setdefault(model, price)
    count = sum(len(m) for m in providers.values())
    if count < 100:
        sys.exit(f"only {count} models extracted: has the source format changed?")
    table = {
        "version": f"litellm-{date}-{commit.removeprefix('litellm==')[:12]}",
        "source": f"LiteLLM {SOURCE_PATH} ({UPSTREAM})",
        "source_repo": repo,
        "source_commit": commit,
        "source_date": date,
        "older_sources": older,
        "license": "MIT, Copyright (c) 2023 Berri AI; see NOTICE.md next to this file",
        "generated_by": "scripts/update-prices.py",
        "generated_at": dt.date.today().isoformat(),
        "units": "USD per million tokens",
        "notes": NOTES,
        "providers": providers,
    }
    out = Path(args.out)
    out.write_text(render(table), encoding="utf-8")
    sizes = ", ".join(f"{g} {len(m)}" for g, m in providers.items())
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB, {count} models: {sizes})")


if __name__ == "__main__":
    main()
