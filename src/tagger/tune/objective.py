"""One trial: suggest, build the trainer from the config, fit with pruning, return the validation macro F1."""

from argparse import ArgumentError
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as L
import numpy as np
import optuna
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from optuna_integration import PyTorchLightningPruningCallback

from tagger.callbacks import predict_split
from tagger.cli import TaggerCLI, build
from tagger.errors import TaggerError
from tagger.metrics import classification_report
from tagger.tune.search_space import Param, edge_values, example_values, suggest, to_cli_args
from tagger.tune.trial_run import TrialRun

# Pruning compares per-epoch values in the study's direction (maximise). The seed reported val loss to its
# maximising study, which inverts pruning: the median pruner then stops the trials whose loss is *lower*
# (better) than the median (the lesson's own log prunes trials that way). Macro average precision rises as
# soon as a model learns, while F1 at 0.5 stays near 0 for early, well-trained epochs (class weights push
# probabilities down) and would rank an untrained model above them.
PRUNING_MONITOR = "val/ap"
OBJECTIVE = "validation macro F1 at the threshold tuned after fit"


@dataclass(frozen=True)
class TrialPlan:
    """What every trial builds from: the fit config's arguments, the search space, and the callbacks a
    config without its own needs (EarlyStopping and a best-model checkpoint on val/loss)."""

    base_args: list[str]
    space: dict[str, Param]
    parser: Any  # the fit config's parser, to resolve each trial's full config
    config: dict[str, Any]  # the resolved fit config (searched keys at example values)
    needs_early_stopping: bool = False
    needs_checkpoint: bool = False

    def config_for(self, params: dict[str, Any]) -> str:
        """The trial's full resolved fit config as YAML: what `tagger.cli fit --config` retrains it from."""
        return self.parser.dump(self.parser.parse_args([*self.base_args, *to_cli_args(params)]), skip_none=False)

    def fallback_callbacks(self) -> list[L.Callback]:
        callbacks: list[L.Callback] = []
        if self.needs_early_stopping:
            callbacks.append(EarlyStopping(monitor="val/loss", patience=10))
        if self.needs_checkpoint:  # before the resume checkpoint, so it is trainer.checkpoint_callback
            callbacks.append(ModelCheckpoint(monitor="val/loss"))
        return callbacks


def make_plan(base_args: list[str], space: dict[str, Param], space_name: str) -> TrialPlan:
    """Build the config with each searched key at each of its extremes (bounds, choices), so unknown keys,
    values the model rejects, or unreadable data fail here, before any trial, with the key named."""
    for key, value in edge_values(space):
        try:
            build([*base_args, *to_cli_args({key: value})])
        except ArgumentError as err:
            raise TaggerError(
                f"the fit config with the search space's {key}={value!r} does not parse: {err}; "
                f"check {space_name} and the --config/--trainer.*/--model.*/--data.* arguments"
            ) from None
        except TaggerError:
            raise
        except Exception as err:  # whatever the model's or trainer's constructor raises for a bad value
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TaggerError(
                f"{space_name}: '{key}' can take {value!r}, which the config rejects ({message}); narrow its range"
            ) from None
    cli = build([*base_args, *to_cli_args(example_values(space))])
    has = {type(cb) for cb in cli.trainer.callbacks}
    return TrialPlan(
        base_args,
        space,
        parser=cli.parser,
        config=cli.config.clone().as_dict(),
        needs_early_stopping=not any(issubclass(t, EarlyStopping) for t in has),
        needs_checkpoint=not any(issubclass(t, ModelCheckpoint) for t in has),
    )


def objective(trial: optuna.Trial, plan: TrialPlan, run: TrialRun) -> float:
    params = suggest(trial, plan.space)
    run.record.config = plan.config_for(params)
    run.start(params)
    callbacks = [*plan.fallback_callbacks(), PyTorchLightningPruningCallback(trial, monitor=PRUNING_MONITOR)]
    cli = build([*plan.base_args, *to_cli_args(params)], trainer_defaults=run.trainer_defaults(callbacks))
    run.record.num_params = sum(p.numel() for p in cli.model.parameters())
    try:
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=run.resume_from)
    finally:
        run.record.epochs = cli.trainer.current_epoch
    run.record.metrics = split_metrics(cli)
    run.checkpoint = cli.trainer.checkpoint_callback.best_model_path
    return run.record.metrics["val_f1"]


def split_metrics(cli: TaggerCLI) -> dict[str, Any]:
    """Validation and test metrics at the tuned threshold; only validation F1 drives the search."""
    module, dm = cli.model, cli.datamodule
    threshold = module.threshold.item()
    metrics: dict[str, float] = {"threshold": threshold}
    for split in ("val", "test"):
        probs, targets = predict_split(module, dm.dataloader(split))
        overall = classification_report(targets, (probs >= threshold).astype(np.int64), dm.classes)["overall"]
        metrics |= {f"{split}_{name}": value for name, value in overall.items()}
    return metrics
