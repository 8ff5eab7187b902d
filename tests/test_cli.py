import errno
import re
import warnings
from pathlib import Path

import lightning.pytorch as L
import numpy as np
import pytest
import torch
from conftest import REPO, config_args, tiny_args
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tagger import cli
from tagger.callbacks import ThresholdTuner
from tagger.errors import TaggerError
from tagger.fit_cli import cli_main
from tagger.loading import Tagger

CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if not p.name.startswith("search_space"))


def test_sizes_are_linked_from_the_data(data_dir, tmp_path):
    built = cli_main(tiny_args(data_dir, tmp_path), run=False)
    dm, hp, net = built.datamodule, built.model.hparams, built.model.net
    assert (hp.vocab_size, hp.num_classes) == (dm.vocab_size, dm.num_classes)
    assert (net.embedding.num_embeddings, net.fc2.out_features) == (dm.vocab_size, dm.num_classes)
    assert list(hp.class_weights) == pytest.approx(dm.class_weights)


def test_cnn_config_is_the_lessons_model(data_dir, tmp_path):
    built = cli_main(["--config", str(REPO / "configs" / "cnn.yaml"), "--data.data_dir", str(data_dir)], run=False)
    lesson = {"embedding_dim": 128, "filter_sizes": list(range(1, 11)), "num_filters": 128, "hidden_dim": 128,
              "dropout_p": 0.5, "activation": "none", "impl": "auto"}  # fmt: skip
    fixed = {"pool_over_padding": False}  # the max over time reads each text's own positions, not the padding
    assert built.model.hparams.net == {"class_path": "tagger.models.cnn.CharCNN", "init_args": lesson | fixed}
    assert built.model.hparams.lr == 2e-4 and built.datamodule.batch_size == 64
    assert built.datamodule.min_tag_freq == 30 and built.config.threshold.split == "train"


def test_fit_writes_a_checkpoint_with_the_tuned_threshold(trained):
    built, best = trained
    ckpt = torch.load(best, weights_only=True)  # nothing pickled
    assert ckpt["hyper_parameters"]["net"]["class_path"] == "tagger.models.cnn.CharCNN"  # enough to rebuild it
    threshold = ckpt["state_dict"]["threshold"].item()
    assert 0 < threshold < 1 and threshold != 0.5
    assert threshold == pytest.approx(built.model.threshold.item())
    assert ckpt["TaggerDataModule"]["classes"] == built.datamodule.classes


def monitors(trainer: L.Trainer) -> set[tuple[str, str]]:
    """(name, mode) of what early stopping, the best-model checkpoint and ReduceLROnPlateau follow."""
    callbacks = [cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping | ModelCheckpoint) and cb.monitor]
    return {(cb.monitor, cb.mode) for cb in callbacks} | {
        (cfg.monitor, cfg.scheduler.mode) for cfg in trainer.lr_scheduler_configs if cfg.monitor
    }


def test_monitored_metrics_are_logged(trained):
    """A monitored name that is never logged only warns, and silently disables the callback."""
    built, _ = trained
    logged = set(built.trainer.callback_metrics)
    monitored = {cb.monitor for cb in built.trainer.callbacks if isinstance(cb, EarlyStopping | ModelCheckpoint)}
    monitored |= {cfg.monitor for cfg in built.trainer.lr_scheduler_configs}
    assert monitored and monitored <= logged
    assert {"train/loss", "val/loss", "val/f1"} <= logged
    assert monitors(built.trainer) == {("val/loss", "min")}  # configs/cnn.yaml keeps the lesson's choice


def test_test_subcommand_reports_metrics(trained, data_dir, tmp_path):
    _, best = trained
    built = cli_main(["test", *tiny_args(data_dir, tmp_path), "--ckpt_path", str(best)])
    report = built.model.test_report
    assert set(report["overall"]) == {"precision", "recall", "f1", "f1_weighted", "f1_micro"}
    assert set(report["per_class"]) == set(built.datamodule.classes)
    assert list(Path(built.trainer.log_dir).glob("test_report.json"))


def test_threshold_on_validation_split_and_the_fit_s_closing_line(data_dir, tmp_path, capsys):
    built = cli_main(["fit", *tiny_args(data_dir, tmp_path, "--threshold.split", "val", "--trainer.max_epochs", "1")])
    best = built.trainer.checkpoint_callback.best_model_path
    closing = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(
        rf"best checkpoint: {re.escape(best)}; threshold 0\.\d{{4}}; validation macro F1 0\.\d{{4}}", closing
    )
    (tuner,) = [cb for cb in built.trainer.callbacks if isinstance(cb, ThresholdTuner)]
    assert tuner.split == "val"
    ckpt = torch.load(built.trainer.checkpoint_callback.best_model_path, weights_only=True)
    assert ckpt["state_dict"]["threshold"].item() == pytest.approx(tuner.threshold)


# What a shipped Adam-trained network stops, keeps its best epoch and lowers its rate on: the lesson's CNN on its
# weighted val/loss; the others on val/ap, the figure a study judges them by.
STOPPED_ON = {"cnn.yaml": ("val/loss", "min"), "ngram.yaml": ("val/ap", "max")}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_fits_a_batch(config, data_dir, tmp_path, tiny_bert_dir, request):
    # "1" would parse as 1.0, i.e. the whole epoch
    args = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2")[2:]
    text, steps, drop = config.read_text(), 2, ()
    if "features: hybrid" in text:  # its encoder named as shipped, found in $TAGGER_MODELS_DIR: the tiny BERT
        request.getfixturevalue("tiny_minilm")
    if "CharCNN" not in text:  # the tiny sizes are the CNN's
        drop = ("--model.net.",)
    if "features: encoder" in text:  # the tiny BERT in place of the pretrained encoder
        args += ["--data.pretrained.encoder", str(tiny_bert_dir), "--data.pretrained.max_length", "32"]
    if "solver: lbfgs" in text:  # one full-batch solve: one optimiser step
        steps, drop = 1, (*drop, "--data.batch_size")
    pairs = zip(args[::2], args[1::2], strict=True)
    args = [a for pair in pairs if not pair[0].startswith(drop) for a in pair]
    built = cli_main(["fit", "--config", str(config), *args])
    assert built.trainer.global_step == steps
    assert {name for name, _ in monitors(built.trainer)} <= set(built.trainer.callback_metrics)
    if config.name in STOPPED_ON:
        assert monitors(built.trainer) == {STOPPED_ON[config.name]}


def test_predict_is_not_a_subcommand(capsys):
    """Predictions come from `python -m tagger.predict`, which needs only the checkpoint."""
    with pytest.raises(SystemExit):
        cli_main(["predict"])
    assert "invalid choice: 'predict' (choose from 'fit', 'validate', 'test')" in capsys.readouterr().err


def test_user_errors_end_in_one_line(tmp_path, monkeypatch, capsys):
    import urllib.error

    def offline(url, timeout):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    monkeypatch.setattr("sys.argv", ["tagger.cli", "fit", "--data.data_dir", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert str(exit_info.value).startswith("tagger: error:") and "projects.json" in str(exit_info.value)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_bf16_mixed_precision_on_cpu(impl, data_dir, tmp_path):
    args = tiny_args(data_dir, tmp_path, "--trainer.precision", "bf16-mixed", "--model.net.impl", impl)
    built = cli_main(["fit", *args, "--trainer.max_epochs", "1"])
    assert built.trainer.precision == "bf16-mixed" and built.model.net.fast == (impl == "fast")
    assert torch.isfinite(torch.tensor(built.trainer.callback_metrics["val/loss"].item()))


def test_char_models_use_the_fast_path_by_default(trained):
    built, _ = trained
    assert built.model.hparams.net["init_args"]["impl"] == "auto" and built.model.net.fast


class StopAt(L.Callback):
    """Raises `error` at the end of the given epoch, as Ctrl-C (KeyboardInterrupt) or a crash would."""

    def __init__(self, epoch: int, error: BaseException) -> None:
        self.epoch, self.error = epoch, error

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise self.error


def test_ctrl_c_during_fit_still_tunes_the_best_checkpoint_s_threshold(data_dir, tmp_path):
    args = ["fit", *tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "6")]
    with pytest.raises(SystemExit):  # Lightning's answer to Ctrl-C
        cli_main(args, trainer_defaults={"callbacks": [StopAt(2, KeyboardInterrupt())]})
    (best,) = (tmp_path / "lightning_logs").rglob("best-*.ckpt")
    ckpt = torch.load(best, weights_only=True)
    assert ckpt["threshold_tuned"] is True and ckpt["state_dict"]["threshold"].item() != 0.5
    assert Tagger.load(best).threshold == pytest.approx(ckpt["state_dict"]["threshold"].item())


def test_a_checkpoint_whose_threshold_was_never_tuned_is_refused(data_dir, tmp_path, monkeypatch):
    """By predict and evaluate (Tagger.load) and by `cli test`, which would score it at 0.5."""
    args = ["fit", *tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "6")]
    with pytest.raises(RuntimeError, match="crash"):
        cli_main(args, trainer_defaults={"callbacks": [StopAt(2, RuntimeError("crash"))]})
    (best,) = (tmp_path / "lightning_logs").rglob("best-*.ckpt")
    with pytest.raises(TaggerError, match="threshold was never tuned"):
        Tagger.load(best)
    monkeypatch.setattr("sys.argv", ["tagger.cli", "test", *tiny_args(data_dir, tmp_path), "--ckpt_path", str(best)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert str(exit_info.value) == (
        f"tagger: error: --ckpt_path {best}: its decision threshold was never tuned (a checkpoint saved during "
        "training, or fit was killed); use the best checkpoint of a finished or Ctrl-C'd fit, or fit again"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data.batch_size", "0"], "--data.batch_size must be at least 1"),
        (["--data.batch_size", "-3"], "--data.batch_size must be at least 1"),
        (["--trainer.max_epochs", "0"], "max_epochs 0 trains nothing"),
        pytest.param(
            ["--trainer.accelerator", "gpu"],
            "the trainer cannot start",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
        ),
    ],
)
def test_fit_mistakes_end_in_one_line(data_dir, tmp_path, monkeypatch, extra, message):
    monkeypatch.setattr("sys.argv", ["tagger.cli", "fit", *tiny_args(data_dir, tmp_path), *extra])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert str(exit_info.value).startswith("tagger: error:") and message in str(exit_info.value)


def test_test_with_a_missing_or_foreign_checkpoint_ends_in_one_line(trained, data_dir, tmp_path, monkeypatch):
    _, best = trained
    (tmp_path / "truncated.ckpt").write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    with open(tmp_path / "baseline.npz", "wb") as file:
        np.savez(file, meta=np.zeros(3, dtype=np.uint8))
    for ckpt, extra, message in [
        (tmp_path / "missing.ckpt", [], "no such file"),
        (best, ["--data.min_tag_freq", "20"], "was trained on other data"),  # fewer tags than the model's
        (tmp_path / "truncated.ckpt", [], "truncated.ckpt: not a loadable tagger checkpoint ("),
        (tmp_path / "baseline.npz", [], "baseline.npz: a baseline (.npz), not a checkpoint; give a .ckpt written by"),
    ]:
        argv = ["tagger.cli", "test", *tiny_args(data_dir, tmp_path), *extra, "--ckpt_path", str(ckpt)]
        monkeypatch.setattr("sys.argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        assert str(exit_info.value).startswith("tagger: error:") and message in str(exit_info.value)


def test_per_class_thresholds_are_written_tested_and_used_by_predict(data_dir, tmp_path):
    args = tiny_args(data_dir, tmp_path, "--threshold.per_class", "true", "--threshold.min_positives", "5")
    built = cli_main(["fit", *args, "--trainer.max_epochs", "3"])
    best = built.trainer.checkpoint_callback.best_model_path
    saved = torch.load(best, weights_only=True)["state_dict"]["threshold"]
    assert saved.shape == (built.datamodule.num_classes,) and len(set(saved.tolist())) > 1
    tested = cli_main(["test", *args, "--ckpt_path", best])
    assert 0 <= tested.model.test_report["overall"]["f1"] <= 1
    tagger = Tagger.load(best)
    text = "a transformer for text classification with pytorch"
    (result,) = tagger.predict([text])
    (probs,) = tagger.predict_proba([text])
    assert result["tags"] == [c for c, p, t in zip(tagger.classes, probs, saved.tolist(), strict=True) if p >= t]


def unwritable(tmp_path: Path, how: str) -> Path:
    """A folder fit cannot write in: below a regular file (for anyone), or read-only (not for root)."""
    if how == "below a file":
        (tmp_path / "file").write_text("")
        return tmp_path / "file" / "logs"
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return folder
    pytest.skip("root writes in a read-only folder")


@pytest.mark.parametrize(
    ("how", "given_as"),
    [("below a file", "--trainer.default_root_dir"), ("read-only", "--trainer.default_root_dir"), ("read-only", "cwd")],
)
def test_a_folder_fit_cannot_write_in_is_one_line(data_dir, tmp_path, monkeypatch, how, given_as):
    folder = unwritable(tmp_path, how)
    args = tiny_args(data_dir, folder)
    if given_as == "cwd":
        args = args[: args.index("--trainer.default_root_dir")]  # the last option
        monkeypatch.chdir(folder)
    monkeypatch.setattr("sys.argv", ["tagger.cli", "fit", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    message = str(exit_info.value)
    assert message.startswith(f"tagger: error: cannot write logs and checkpoints in {folder} (")
    assert message.endswith("--trainer.default_root_dir") and "\n" not in message


def test_a_fit_prints_no_warning(data_dir, tmp_path, capfd, caplog):
    """Not jsonargparse's deprecation (our own dump), Lightning's logger notice, tips and deprecations, nor
    torchmetrics' note on a tag absent from a validation batch."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli_main(["fit", *tiny_args(data_dir, tmp_path)])
    assert [str(w.message) for w in caught] == []
    assert "Tip" not in capfd.readouterr().err + caplog.text


def test_a_fit_on_train_and_val_says_so_instead_of_scoring_val(data_dir, tmp_path, capsys, caplog, tiny_minilm):
    """configs/tuned.yaml (a hybrid: its MiniLM is the tiny BERT here) trains on train+val: a validation F1 there is a
    perfect score that means nothing. Its one L-BFGS epoch is no "max_epochs reached" either."""
    args = config_args("tuned.yaml", data_dir, tmp_path, "--model.max_iter", "5", "--trainer.max_epochs", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = cli_main(["fit", *args])
    best = built.trainer.checkpoint_callback.best_model_path
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == (
        f"best checkpoint: {best}; threshold {built.model.threshold.item():.4f}; trained on train+val"
    )
    assert "max_epochs=1" not in out + err + caplog.text
    assert [str(w.message) for w in caught if "L-BFGS" not in str(w.message)] == []  # the capped solve's own stays


def one_line_error(monkeypatch, argv: list[str]) -> str:
    monkeypatch.setattr("sys.argv", ["tagger.cli", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    message = str(exit_info.value)
    assert message.startswith("tagger: error: ") and "\n" not in message
    return message


@pytest.mark.parametrize("value", ["1.5", "0", "-0.2"])
def test_a_threshold_outside_0_1_is_refused(data_dir, tmp_path, monkeypatch, value):
    message = one_line_error(monkeypatch, ["fit", *tiny_args(data_dir, tmp_path), "--threshold.value", value])
    assert f"--threshold.value {float(value)}: a decision threshold is a probability; give one in (0, 1)" in message
    assert not (tmp_path / "lightning_logs").exists()


def test_bf16_on_sparse_tfidf_rows_is_one_line(data_dir, tmp_path, monkeypatch):
    args = config_args("linear.yaml", data_dir, tmp_path, "--trainer.precision", "bf16-mixed")
    message = one_line_error(monkeypatch, ["fit", *args])
    assert "--trainer.precision bf16-mixed: NgramNet multiplies sparse TF-IDF rows" in message


@pytest.mark.timeout(60)  # MLflow alone retries for about 110 s
def test_an_unreachable_tracking_database_is_one_line_at_once(data_dir, tmp_path, monkeypatch):
    url = "postgresql://tagger:secret@127.0.0.1:5999/x"  # nothing listens there
    message = one_line_error(monkeypatch, ["fit", *tiny_args(data_dir, tmp_path), "--mlflow.tracking_uri", url])
    assert "cannot connect to postgresql://tagger:***@127.0.0.1:5999/x" in message and "secret" not in message
    assert "--mlflow.tracking_uri" in message


def test_a_full_disk_under_the_checkpoints_is_one_line_naming_the_folder(data_dir, tmp_path, monkeypatch):
    """As a full disk does to Lightning's checkpoint write: the temporary file cannot be moved in whole."""
    real_save, saves = TorchCheckpointIO.save_checkpoint, []

    def fills_the_disk(self, checkpoint, path, storage_options=None):
        saves.append(path)
        if len(saves) == 1:
            return real_save(self, checkpoint, path, storage_options)
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/tmpx", None, str(path))  # as shutil.move

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", fills_the_disk)
    message = one_line_error(monkeypatch, ["fit", *tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "4")])
    first, half = Path(saves[0]), Path(saves[1])
    assert message == (
        f"tagger: error: no space left on the device of {first.parent}; free some or give another "
        f"--trainer.default_root_dir, then resume with fit --ckpt_path {first}"
    )
    assert not half.exists() and torch.load(first, weights_only=True)["epoch"] == 0
