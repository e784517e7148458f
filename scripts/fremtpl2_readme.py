"""Run the README's freMTPL2 commands and rewrite their figures in README.md.

    python scripts/fremtpl2_readme.py [--data ../shared/data/freMTPL2freq.csv.gz]

Runs, exactly as the README prints them, (1) the full-batch Adam Poisson GLM on all rows
and (2) a tanh network and (3) the same GLM on a 20 % validation split, times each whole
command, fits the Poisson GLM with statsmodels on the same design matrix (gdlab's saved
preprocessing) as the reference, and writes the figures between the README's
``fremtpl2-cli`` markers. Nothing in that block is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "freMTPL2freq.csv.gz"
FEATURES = "Area,VehPower,VehAge,DrivAge,BonusMalus,VehBrand,VehGas,Density,Region"
COMMON = ("--target ClaimNb --exposure Exposure --model poisson "
          f"--features {FEATURES}")
#: the README's commands; DATA and OUT are filled in
GLM = f"gdlab fit DATA {COMMON} --batch-size full --optimizer adam --learning-rate 0.05 " \
      "--epochs 50 --validation-split 0 --out OUT"
NETWORK = f"gdlab fit DATA {COMMON} --hidden 20,10 --activation tanh --batch-size 512 " \
          "--optimizer adam --learning-rate 0.002 --epochs 10 --validation-split 0.2 --out OUT"
GLM_SPLIT = f"gdlab fit DATA {COMMON} --batch-size full --optimizer adam " \
            "--learning-rate 0.05 --epochs 50 --validation-split 0.2 --out OUT"
BEGIN, END = "<!-- fremtpl2-cli: begin -->", "<!-- fremtpl2-cli: end -->"


def run(command: str, data: Path, out: Path) -> tuple[dict, float]:
    """Run one README command; return its metrics.json and its wall seconds."""
    args = [str(data) if a == "DATA" else str(out) if a == "OUT" else a
            for a in shlex.split(command)] + ["--quiet"]
    start = time.perf_counter()
    subprocess.run(args, check=True)
    seconds = time.perf_counter() - start
    return json.loads((out / "metrics.json").read_text()), seconds


def statsmodels_deviance(data: Path, run_folder: Path) -> float:
    """Mean Poisson deviance per row of statsmodels' GLM on gdlab's design matrix."""
    import statsmodels.api as sm

    from gdlab.train.saving import load_saved

    saved = load_saved(run_folder)
    frame = pd.read_csv(data)
    X = saved.preprocessing.transform(frame)
    y, exposure = frame["ClaimNb"].to_numpy(float), frame["Exposure"].to_numpy(float)
    glm = sm.GLM(y, sm.add_constant(np.asarray(X), has_constant="add"),
                 family=sm.families.Poisson(), offset=np.log(exposure)).fit()
    return float(glm.deviance) / len(y)


def block(glm: dict, glm_s: float, reference: float, net: dict, net_s: float,
          glm_split: dict) -> str:
    gap = glm["train_null_mean_deviance"] - reference
    left = (glm["train_mean_deviance"] - reference) / gap
    return "\n".join([
        "", f"Measured by `python scripts/fremtpl2_readme.py` on {datetime.now(UTC):%Y-%m-%d} "
        f"(freMTPL2freq, all {glm['train_rows']:,} policies, 2 shared cores):", "",
        f"- the full-batch Adam Poisson fit above reaches a mean Poisson deviance of "
        f"{glm['train_mean_deviance']:.6f} per row, against {reference:.6f} for statsmodels' "
        f"Poisson GLM on the same columns (null model {glm['train_null_mean_deviance']:.6f}: "
        f"{left:.2%} of the null-to-GLM gap left), in {glm_s:.0f} s for the whole command;",
        f"- `{NETWORK.replace('DATA', 'freMTPL2freq.csv.gz').replace('OUT', 'net')}` trains in "
        f"{net_s:.0f} s for the whole command and explains "
        f"{net['val_deviance_explained']:.1%} of the validation deviance, against "
        f"{glm_split['val_deviance_explained']:.1%} for the GLM on the same split.", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        glm, glm_s = run(GLM, args.data, Path(folder) / "glm")
        reference = statsmodels_deviance(args.data, Path(folder) / "glm")
        net, net_s = run(NETWORK, args.data, Path(folder) / "net")
        glm_split, _ = run(GLM_SPLIT, args.data, Path(folder) / "glm_split")
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    figures = block(glm, glm_s, reference, net, net_s, glm_split)
    readme.write_text(head + BEGIN + figures + END + tail, encoding="utf-8")
    print(figures)


if __name__ == "__main__":
    main()
