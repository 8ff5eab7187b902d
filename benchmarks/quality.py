"""Test macro F1 of the TF-IDF baseline and the shipped configs side by side, and (--nested) what a study adds on
projects it never saw.

Default: the project's own split (data.seed 42) for all; each config is fitted once per init seed
(seed_everything), the baseline is deterministic. Thresholds are tuned as each config says; test is only
scored. The split's noise: a paired bootstrap over the test projects of each config's macro F1 minus the
baseline's (the same resampled projects for both), over all its seeds. Rows: default (configs/cnn.yaml, the
lesson's, early-stopped on weighted val/loss), default_ap (the same CNN stopped on val/ap, as a study's trials
are), linear, hybrid (TF-IDF beside a frozen MiniLM embedding; its encoder found in $TAGGER_MODELS_DIR), tuned,
and finetune (configs/finetune.yaml, only when named: about 6 min a fit on 2 CPU cores); --rows picks some (the baseline
always runs). A hybrid fit's time includes embedding the texts unless they are in the embedding cache. Last line
(n/a: a row not run):
    quality baseline=<f1> default=<f1> default_ap=<f1> linear=<f1> hybrid=<f1> tuned=<f1> finetune=<f1>

--nested: an outer K-fold over the development projects; on each fold a whole default study (--inner-trials
trials) runs on the other folds, and its hand-over model and the baseline are scored on the held-out fold.
Last line:
    nested lift=<mean> sd=<sd> wins=<k>/<K>
A fold that crashes ends the run at once with exit status 1 and one line on stderr:
    tagger: error: nested: outer fold <k> crashed after <min> min (<error>); no nested lift

    python benchmarks/quality.py [--data-dir DIR] [--seeds 1 2 3] [--tuned configs/tuned.yaml] [--rows default ...]
    python benchmarks/quality.py --nested [--outer 4] [--inner-trials 50] [--folds 2 3]
"""

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tagger import baseline_model as baseline
from tagger.data.datamodule import TaggerDataModule
from tagger.data.download import resolve_data_dir
from tagger.errors import TaggerError, reported
from tagger.fit_cli import cli_main
from tagger.metrics import classification_report
from tagger.redact import first_line

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Beside the baseline, which every row is compared with. finetune (configs/finetune.yaml) runs only when named:
# 20 epochs of about 19 s on 2 CPU cores, 20 min for 3 seeds, six times the rest of the default run.
ROWS = ("default", "default_ap", "linear", "hybrid", "tuned", "finetune")
DEFAULT_ROWS = ROWS[:-1]
BOOTSTRAP = 1000


def macro_f1(y: np.ndarray, predicted: np.ndarray) -> float:
    """classification_report's macro F1 (a tag never true nor predicted counts 0), fast enough to bootstrap."""
    tp, fp, fn = (y & predicted).sum(0), ((1 - y) & predicted).sum(0), (y & (1 - predicted)).sum(0)
    return float(np.mean(2 * tp / np.maximum(2 * tp + fp + fn, 1)))


def fit_and_test(
    config: Path, seed: int, data_dir: str, root: str, extra: Sequence[str] = ()
) -> tuple[dict, np.ndarray]:
    """Test figures (and the fit's seconds) and 0/1 predictions of one fit (of config, then extra arguments)."""
    start = time.perf_counter()
    quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    args = ["fit", "--config", str(config), "--seed_everything", str(seed), "--data.data_dir", data_dir, *quiet]
    args += extra
    cli = cli_main([*args, "--trainer.default_root_dir", root])
    module, dm = cli.model, cli.datamodule  # best weights and tuned threshold, restored by ThresholdTuner
    rows = dm.corpus.splits["test"]  # in the corpus's order, so that runs pair up project by project
    with torch.no_grad():  # the corpus's texts are cleaned already (cleaning twice would stem twice)
        cleaned, raw = [dm.corpus.texts[i] for i in rows], [dm.corpus.raw[i] for i in rows]
        inputs = dm.encoder.collate(dm.encoder.encode_all(cleaned, raw))
        probs = module.eval()(inputs).float().sigmoid().numpy()
    predicted = (probs >= module.threshold.cpu().numpy()).astype(np.int64)
    report = classification_report(dm.corpus.y[rows], predicted, dm.classes)
    return report["overall"] | {"seconds": time.perf_counter() - start}, predicted


def paired_bootstrap(y: np.ndarray, runs: list[np.ndarray], reference: np.ndarray) -> np.ndarray:
    """Macro F1 of the runs (averaged) minus the reference's, on the same resampled test projects each time."""
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, len(y), len(y))
        ours = np.mean([macro_f1(y[rows], run[rows]) for run in runs])
        diffs.append(ours - macro_f1(y[rows], reference[rows]))
    return np.array(diffs)


def line(name: str, runs: list[dict], diffs: np.ndarray | None = None) -> str:
    f1, weighted = [r["f1"] for r in runs], [r["f1_weighted"] for r in runs]
    spread = statistics.stdev(f1) if len(f1) > 1 else 0.0
    text = (
        f"{name:<10} macro F1 {statistics.mean(f1):.4f} ± {spread:.4f}  weighted F1 {statistics.mean(weighted):.4f}  "
        f"runs {' '.join(f'{x:.4f}' for x in f1)}  (fit {statistics.median(r['seconds'] for r in runs):.1f} s)"
    )
    if diffs is not None:
        low, high = np.percentile(diffs, [2.5, 97.5])
        text += f"  minus baseline {diffs.mean():+.4f} [{low:+.4f}, {high:+.4f}] (bootstrap sd {diffs.std():.4f})"
    return text


def split_quality(args: argparse.Namespace) -> None:
    dm = TaggerDataModule(args.data_dir)
    trained = baseline.train(dm, baseline.DEFAULT_C, "val")
    test = dm.corpus.splits["test"]
    y = dm.corpus.y[test].astype(np.int64)
    probs = trained.pipeline.predict_proba([dm.corpus.texts[i] for i in test])
    reference = (probs >= trained.model.threshold).astype(np.int64)
    results = {"baseline": [baseline.report(trained, dm.corpus)["overall"] | {"seconds": trained.seconds}]}
    print(line("baseline", results["baseline"]), flush=True)
    resamples = np.random.default_rng(1).integers(0, len(y), (BOOTSTRAP, len(y)))
    alone = np.array([macro_f1(y[rows], reference[rows]) for rows in resamples])
    low, high = np.percentile(alone, [2.5, 97.5])
    print(
        f"          the test split's noise: the baseline's macro F1 on {BOOTSTRAP} bootstrap resamples of its "
        f"{len(y)} test projects: sd {alone.std():.4f}, 95% [{low:.4f}, {high:.4f}]"
    )
    if args.tuned.exists():
        print("".join(f"  {text}" for text in args.tuned.read_text().splitlines(True) if text.startswith("#")), end="")
    rows = rows_of(args)
    for name in args.rows:
        if name not in rows:
            continue
        config, extra = rows[name]
        with tempfile.TemporaryDirectory() as root:
            runs = [fit_and_test(config, seed, args.data_dir, root, extra) for seed in args.seeds]
        results[name] = [figures for figures, _ in runs]
        diffs = paired_bootstrap(y, [predicted for _, predicted in runs], reference)
        print(line(name, results[name], diffs), flush=True)
    if "tuned" in args.rows and "tuned" not in results:
        print(f"tuned      n/a: {args.tuned} does not exist (no tuned config yet)")
    means = {name: f"{statistics.mean(r['f1'] for r in runs):.4f}" for name, runs in results.items()}
    print("quality " + " ".join(f"{name}={means.get(name, 'n/a')}" for name in ("baseline", *ROWS)))


def rows_of(args: argparse.Namespace) -> dict[str, tuple[Path, list[str]]]:
    """Each row's config and extra fit arguments. default_ap is configs/cnn.yaml stopped, checkpointed and
    plateaued on val/ap (maximised), as a study's trial trains it, instead of the lesson's weighted val/loss."""
    from tagger.fit_cli import build
    from tagger.tune.objective import judged_monitors

    cnn = CONFIGS / "cnn.yaml"
    rows = {name: (CONFIGS / f"{name}.yaml", []) for name in ("linear", "hybrid", "finetune")} | {"default": (cnn, [])}
    if "default_ap" in args.rows:
        rows["default_ap"] = (
            cnn,
            judged_monitors(build(["--config", str(cnn), "--data.data_dir", args.data_dir]).config),
        )
    return rows | ({"tuned": (args.tuned, [])} if args.tuned.exists() else {})


def nested_quality(args: argparse.Namespace) -> None:
    from tagger.nested import default_base_args, outer_folds, score_fold, summary_line
    from tagger.tune.cli import quiet
    from tagger.tune.options import TuneOptions

    quiet()
    start = time.perf_counter()
    options = TuneOptions(n_trials=args.inner_trials, noise_repeats=0)
    print(
        f"nested: {args.outer} outer folds of {args.data_dir}; on each, a default study of {args.inner_trials} trials "
        f"(--cv {options.cv}) on the other folds, then its best.ckpt and the baseline on the held-out fold",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as root:
        for fold in outer_folds(Path(args.data_dir), Path(root), args.outer, seed=args.outer_seed):
            if args.folds and fold.number not in args.folds:  # run by another process (the same cut: outer_seed)
                continue
            fold_start = time.perf_counter()
            try:
                result = score_fold(fold, options, default_base_args())
            except Exception as err:  # the folds above stand; without this one there is no lift to report
                minutes = (time.perf_counter() - fold_start) / 60
                raise TaggerError(
                    f"nested: outer fold {fold.number} crashed after {minutes:.1f} min ({type(err).__name__}: "
                    f"{first_line(err)}); no nested lift"
                ) from err
            results.append(result)
            print(
                f"outer fold {result.number}: {result.held_out} held-out projects, baseline {result.baseline_f1:.4f}, "
                f"tuned {result.tuned_f1:.4f} (the start trial handed over alike: {result.start_f1:.4f}), "
                f"lift {result.lift:+.4f}; winner {result.winner}; {result.seconds / 60:.1f} min",
                flush=True,
            )
    search = [r.tuned_f1 - r.start_f1 for r in results]
    print(f"the search's own share (tuned minus the start trial handed over alike): {statistics.mean(search):+.4f}")
    print(f"wall time {(time.perf_counter() - start) / 60:.1f} min")
    print(summary_line(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir", default=str(resolve_data_dir(None)), help="default: $TAGGER_DATA_DIR, else ./data"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--rows",
        nargs="+",
        choices=ROWS,
        default=list(DEFAULT_ROWS),
        help="the rows fitted beside the baseline (all but finetune)",
    )
    parser.add_argument("--tuned", type=Path, default=CONFIGS / "tuned.yaml", help="a tuned config, if there is one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nested", action="store_true", help="nested cross-validation of the default study")
    parser.add_argument("--outer", type=int, default=4, help="outer folds (--nested)")
    parser.add_argument("--inner-trials", type=int, default=50, help="trials of each inner study (--nested)")
    parser.add_argument("--outer-seed", type=int, default=0, help="seeds the outer cut (--nested)")
    parser.add_argument(
        "--folds", type=int, nargs="+", metavar="K",
        help="only these outer folds, numbered from 0 (--nested): folds can run in parallel processes, each "
        "printing its fold lines; the last line then covers the folds run",
    )  # fmt: skip
    args = parser.parse_args()
    if args.folds and not set(args.folds) <= set(range(args.outer)):
        parser.error(f"--folds {' '.join(map(str, args.folds))}: the outer folds are 0 to {args.outer - 1} (--outer)")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    with reported():  # no data (and no download) or a bad config: one line, not a traceback
        nested_quality(args) if args.nested else split_quality(args)


if __name__ == "__main__":
    main()
