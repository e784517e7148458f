"""docs/notebooks/optimisation.ipynb runs top to bottom in a real Jupyter kernel, and its
outputs are the lecture's numbers."""

import os
import re
from pathlib import Path

import pytest

import gdlab

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the test extra")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the test extra")
pytest.importorskip("ipykernel", reason="the notebook test needs the test extra")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "optimisation.ipynb"


@pytest.fixture(scope="module")
def outputs():
    """Each code cell's outputs as one text (streams, plain text and HTML), in order."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # run it fresh, whatever was stored
    source = str(Path(gdlab.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [source, old]))  # this gdlab
    try:
        client = nbclient.NotebookClient(
            notebook, timeout=300, kernel_name="python3", allow_errors=False,
            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for output in cell.outputs:
            if output.output_type == "stream":
                parts.append(output.text)
            for kind in ("text/plain", "text/html"):
                parts.append(output.get("data", {}).get(kind, ""))
            if "image/png" in output.get("data", {}):
                parts.append("[image/png]")
        texts.append("\n".join(parts))
    return texts


def find(outputs, text):
    """The index of the first code cell whose output contains text."""
    for k, output in enumerate(outputs):
        if text in output:
            return k
    raise AssertionError(f"no output contains {text!r}")


def test_forward_passes_are_the_lectures(outputs):
    assert "z = [-5.  1.  7.]" in outputs[find(outputs, "z = ")]
    assert "ŷ = [0.0067 0.7311 0.9991]" in outputs[find(outputs, "ŷ = ")]
    assert "6.1442e-06" in outputs[find(outputs, "Ŷ =")]
    assert "Total parameters: 3" in outputs[find(outputs, "input_dim=2)")]  # logistic
    summary = outputs[find(outputs, "Layer (type)     Output shape")]  # softmax, in text
    assert "w_{1,1}, w_{1,2}, w_{2,1}, w_{2,2}, b_1, b_2      6" in summary


def test_the_sgd_and_batch_steps_show_their_tables_and_updates(outputs):
    assert find(outputs, "− 0.01 × (-50.0000, -10.0000) = (0.5000, 0.1000)")
    assert find(outputs, "(-223.2000, -24.8000) = (2.7320, 0.3480)")
    first = outputs[find(outputs, "(-14.6942, -6.0050) = (1.4694, 0.6005)")]
    for cell in ["-1.9773", "-12.0154", "-30.0898"]:  # the lecture's dL/dw column
        assert f"<td>{cell}</td>" in first
    assert find(outputs, "(1.4224, 1.0737) = (1.3272, 0.4931)")
    assert find(outputs, "New θ: θ₂ = (1.33, 0.49)")  # the lecture's two decimals


def test_learning_rates_and_the_stable_bound(outputs):
    assert find(outputs, "largest stable learning rate 2/λ_max = 0.1803")
    table = outputs[find(outputs, "too small")]
    verdicts = re.findall(r"(too small|good|too large)\s*$", table.split("<")[0], re.M)
    assert verdicts == ["too small", "good", "good", "too large"]
    assert table.count("<svg") == 0 and outputs[find(outputs, "learning curve")].count("<svg")


def test_three_variants_and_dead_relu(outputs):
    variants = outputs[find(outputs, "stochastic       8535")]
    assert "batch              15" in variants and "mini-batch (32)   270" in variants
    assert "[image/png]" in outputs[find(outputs, "<Figure size 700x350")]
    assert find(outputs, "DeadUnitWarning: Dead ReLU units after epoch 1:")  # the first
    assert find(outputs, "all zero: True")
