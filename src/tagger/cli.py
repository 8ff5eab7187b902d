"""`python -m tagger.cli fit|validate|test --config configs/cnn.yaml`: LightningCLI wiring."""

import json
import sys
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from tagger.callbacks import ThresholdTuner
from tagger.data.datamodule import TaggerDataModule
from tagger.errors import TaggerError
from tagger.module import TaggerModule


class TaggerCLI(LightningCLI):
    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """No predict: tags come from `python -m tagger.predict`, which needs only the checkpoint."""
        return {name: skip for name, skip in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ThresholdTuner, "threshold")
        # Sizes flow from the data to the model, never copied into YAML.
        for name in ("vocab_size", "num_classes", "class_weights"):
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")

    def after_test(self) -> None:
        """Per-class figures do not fit the logged scalars: keep the whole report beside the logs."""
        report = self.model.test_report
        if report is not None and self.trainer.is_global_zero and self.trainer.log_dir:
            path = Path(self.trainer.log_dir) / "test_report.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2))
            print(f"test report: {path}")


def cli_main(args: list[str] | None = None, **kwargs) -> TaggerCLI:
    return TaggerCLI(TaggerModule, TaggerDataModule, args=args, **kwargs)


def build(args: list[str], **kwargs) -> TaggerCLI:
    """Datamodule, model and trainer exactly as `fit` builds them, not run; a bad argument raises
    (ArgumentError) instead of exiting, so the caller can say which input is wrong."""
    return cli_main(args, run=False, save_config_callback=None, parser_kwargs={"exit_on_error": False}, **kwargs)


def main() -> None:
    try:
        cli_main()
    except TaggerError as err:
        sys.exit(f"tagger: error: {err}")


if __name__ == "__main__":
    main()
