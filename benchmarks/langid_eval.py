"""Evaluate `echolens.text.langid.LanguageIdentifier` on real data.

Data (read-only, never copied into the repo), from `$ECHOLENS_DATA_DIR` or else
`../shared/datasets` beside the checkout:

- `ru22fact/*.parquet`: columns `claim`, `language` (uk, en, ru, zh-cn, and a few others);
- `cn_state_media_headlines_2022/headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv`:
  column `title`, all English.

RU22Fact's `language` labels contain errors (Chinese claims labelled `no`/`vi`/`en`,
Ukrainian ones labelled `et`/`bg`, ...). Besides raw accuracy against the labels, the script
reports accuracy after correcting labels that are wrong *unambiguously by script*, using
rules independent of the detector:

- at least 60% of the letters are Han (and no kana/Hangul) -> zh;
- at least 60% Cyrillic letters, with letters of non-East-Slavic Cyrillic alphabets
  (Kazakh ә ғ қ ң ө ұ ү һ, Serbian/Macedonian ј љ њ ћ ђ џ ѓ ќ ѕ, ...) -> other;
- at least 60% Cyrillic letters, with і, ї, є or ґ (never Russian) and none of ы, э, ё, ъ, ў
  (which Ukrainian never uses; і with ы/ў would be Belarusian) -> uk;
- at least 60% Cyrillic letters, with ы, э or ё and none of і, ї, є, ґ, ў -> ru;
- a label of zh/ru/uk on text with no Han resp. Cyrillic letters at all, or `en` on text
  with no Latin letters, is marked as a label error, and the corrected label is the script
  rule's result (or "other" when no rule applies).

Usage: `.venv/bin/python benchmarks/langid_eval.py [--json] [--data-dir DIR] [--repeat N]`
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from echolens.text.langid import LanguageIdentifier  # noqa: E402

TARGETS = ("zh", "ru", "uk", "en")
HEADLINES = (
    "cn_state_media_headlines_2022/headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv"
)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3041-\u30ff\uac00-\ud7af]")
_CYR = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
# Letters of Cyrillic alphabets other than Russian/Ukrainian/Belarusian (Kazakh, Serbian,
# Macedonian, Mongolian, ...): text with them is none of ru/uk.
_NON_EAST_SLAVIC = set("јљњћђџѓќѕәғқңөұүһӣӯҳҷ")


def data_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("ECHOLENS_DATA_DIR")
    return Path(env) if env else (ROOT.parent / "shared" / "datasets")


def normalise_label(label: str) -> str:
    label = label.strip().lower()
    if label.startswith("zh"):
        return "zh"
    return label if label in TARGETS else "other"


def script_label(text: str) -> str | None:
    """The language the script makes unambiguous, or None."""
    letters = len(_LETTER.findall(text))
    if not letters:
        return None
    han = len(_HAN.findall(text))
    cyr = len(_CYR.findall(text))
    if han >= 0.6 * letters and not _KANA_HANGUL.search(text):
        return "zh"
    if cyr >= 0.6 * letters:
        chars = set(text.lower())
        if chars & _NON_EAST_SLAVIC:
            return "other"
        if chars & set("іїєґ") and not chars & set("ыэёъў"):
            return "uk"
        if chars & set("ыэё") and not chars & set("іїєґў"):
            return "ru"
    return None


def corrected_label(text: str, label: str) -> str:
    by_script = script_label(text)
    if by_script is not None:
        return by_script
    # The label claims a script the text does not contain at all.
    if (
        (label == "zh" and not _HAN.search(text))
        or (label in ("ru", "uk") and not _CYR.search(text))
        or (label == "en" and not _LATIN.search(text))
    ):
        return "other"
    return label


def load(directory: Path) -> pl.DataFrame:
    frames = []
    files = sorted((directory / "ru22fact").glob("*.parquet"))
    if not files:
        raise SystemExit(f"no RU22Fact parquet files under {directory / 'ru22fact'}")
    for f in files:
        df = pl.read_parquet(f, columns=["claim", "language"])
        frames.append(
            df.select(
                pl.col("claim").cast(pl.String).alias("text"),
                pl.col("language").cast(pl.String).alias("label"),
                pl.lit("ru22fact").alias("dataset"),
            )
        )
    headlines = directory / HEADLINES
    if headlines.exists():
        df = pl.read_csv(headlines, columns=["title"], infer_schema=False)
        frames.append(
            df.select(
                pl.col("title").alias("text"),
                pl.lit("en").alias("label"),
                pl.lit("cn_headlines").alias("dataset"),
            )
        )
    out = pl.concat(frames).drop_nulls("text").filter(pl.col("text").str.strip_chars() != "")
    return out.with_columns(pl.col("label").map_elements(normalise_label, return_dtype=pl.String))


def accuracy(rows: list[tuple[str, str]], lang: str) -> tuple[int, int]:
    relevant = [(gold, pred) for gold, pred in rows if gold == lang]
    return sum(gold == pred for gold, pred in relevant), len(relevant)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    ap.add_argument("--data-dir", help="dataset root (default $ECHOLENS_DATA_DIR or mirror)")
    ap.add_argument("--repeat", type=int, default=1, help="timing repetitions (best is kept)")
    ap.add_argument("--errors", type=int, default=0, help="print up to N errors per language")
    args = ap.parse_args(argv)

    df = load(data_dir(args.data_dir))
    texts: list[str] = df["text"].to_list()
    labels: list[str] = df["label"].to_list()
    datasets: list[str] = df["dataset"].to_list()

    ident = LanguageIdentifier(TARGETS)
    t0 = time.perf_counter()
    ident.detect("warm up the lingua models: Путин и Зеленский говорили")  # lazy build
    ident.detect_many(["Hebei series | Episode 4: The Rhythm of Winter", "Путин говорил"] * 8)
    warmup = time.perf_counter() - t0

    best_many = best_single = float("inf")
    preds: list[str] = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        preds = ident.detect_many(texts)
        best_many = min(best_many, time.perf_counter() - t0)
        t0 = time.perf_counter()
        single = [ident.detect(t) for t in texts]
        best_single = min(best_single, time.perf_counter() - t0)
    assert single == preds, "detect and detect_many disagree"

    # RU22Fact alone is the "mixed" input (uk, en, ru, zh).
    ru_texts = [t for t, d in zip(texts, datasets, strict=True) if d == "ru22fact"]
    t0 = time.perf_counter()
    ident.detect_many(ru_texts)
    mixed_many = time.perf_counter() - t0

    corrected = [corrected_label(t, lab) for t, lab in zip(texts, labels, strict=True)]
    corrections = Counter(f"{a}->{b}" for a, b in zip(labels, corrected, strict=True) if a != b)
    raw_rows = list(zip(labels, preds, strict=True))
    cor_rows = list(zip(corrected, preds, strict=True))
    per_lang: dict[str, dict[str, Any]] = {}
    for lang in (*TARGETS, "other"):
        rc, rn = accuracy(raw_rows, lang)
        cc, cn = accuracy(cor_rows, lang)
        per_lang[lang] = {
            "raw_n": rn,
            "raw_acc": rc / rn if rn else None,
            "corrected_n": cn,
            "corrected_acc": cc / cn if cn else None,
            "confusions": dict(
                Counter(p for g, p in cor_rows if g == lang and p != lang).most_common()
            ),
        }
    per_dataset: dict[str, dict[str, Any]] = {}
    for ds in sorted(set(datasets)):
        rows = [r for r, d in zip(cor_rows, datasets, strict=True) if d == ds]
        per_dataset[ds] = {"n": len(rows), "acc": sum(g == p for g, p in rows) / len(rows)}

    report: dict[str, Any] = {
        "n": len(texts),
        "lingua_warmup_s": round(warmup, 3),
        "throughput_detect_many_per_s": round(len(texts) / best_many),
        "throughput_detect_per_s": round(len(texts) / best_single),
        "throughput_ru22fact_mixed_detect_many_per_s": round(len(ru_texts) / mixed_many),
        "label_corrections": dict(corrections.most_common()),
        "label_corrections_total": sum(corrections.values()),
        "per_language": per_lang,
        "per_dataset_corrected": per_dataset,
    }
    if args.errors:
        errs: dict[str, list[str]] = {}
        for text, gold, pred in zip(texts, corrected, preds, strict=True):
            if gold != pred and len(errs.setdefault(gold, [])) < args.errors:
                errs[gold].append(f"{pred}: {text[:120]}")
        report["errors"] = errs

    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    print(f"# langid evaluation ({len(texts)} texts)\n")
    print("| language | n (raw) | accuracy (raw labels) | n (corrected) | accuracy (corrected) |")
    print("|---|---:|---:|---:|---:|")
    for lang, r in per_lang.items():
        print(
            f"| {lang} | {r['raw_n']} | {fmt(r['raw_acc'])} | {r['corrected_n']} "
            f"| {fmt(r['corrected_acc'])} |"
        )
    print("\n| dataset | n | accuracy (corrected) |\n|---|---:|---:|")
    for ds, r in per_dataset.items():
        print(f"| {ds} | {r['n']} | {r['acc']:.4f} |")
    print(f"\nLabel corrections by script ({sum(corrections.values())} total):")
    for k, v in corrections.most_common():
        print(f"- {k}: {v}")
    print("\nConfusions after correction (gold -> predicted: count):")
    for lang, r in per_lang.items():
        if r["confusions"]:
            print(f"- {lang}: {r['confusions']}")
    print(
        f"\nThroughput: detect_many {report['throughput_detect_many_per_s']}/s, "
        f"detect {report['throughput_detect_per_s']}/s over all {len(texts)} texts; "
        "RU22Fact mix only (uk/en/ru/zh): "
        f"{report['throughput_ru22fact_mixed_detect_many_per_s']}/s"
        f" (detect_many); lingua warm-up {warmup:.2f}s"
    )
    if args.errors:
        print("\nErrors (after correction), gold -> `pred: text`:")
        for lang, items in report["errors"].items():
            print(f"- {lang}:")
            for item in items:
                print(f"  - {item}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
