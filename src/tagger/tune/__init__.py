"""Hyperparameter search: an Optuna study over any config key, one MLflow child run per trial."""
