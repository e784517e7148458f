"""Shared inputs of the report tests (not a test module)."""

import pandas as pd


def example_sweep_table() -> pd.DataFrame:
    """A two-rate sweep table shaped as ``gdlab.train.sweep.learning_rate_sweep`` returns it."""
    return pd.DataFrame({
        "learning_rate": [0.01, 1.0], "initial_loss": [0.69, 0.69], "final_loss": [0.6, 0.3],
        "best_loss": [0.6, 0.3], "steps_run": [8, 8], "diverged": [False, False],
        "diverged_epoch": [None, None], "diverged_step": [None, None],
        "verdict": ["too small", "good"]})
