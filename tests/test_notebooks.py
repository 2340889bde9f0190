"""Execute the notebooks in notebooks/ (QUICK mode) and check their verdict lines.

Each notebook prints one line per checked claim, ``VERDICT <name>: reproduced|not reproduced|inconclusive - ...``.
The test asserts that no cell errors and that every claim ends with the verdict expected here (claims the papers
make that do not reproduce in the linear models are expected as "not reproduced", see README.md).
"""

import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
R, NR, INC = "reproduced", "not reproduced", "inconclusive"

EXPECTED = {
    "01_noncontrastive_directpred.ipynb": {
        "stationary-points": R, "invariant": R, "theorem1-conserved": R, "theorem3-alignment": R,
        "directpred-limit": R, "directcopy-limit": R, "snr-grows-with-alpha-eta0.2": R,
        "snr-grows-with-alpha-eta0.01": NR, "sgd-follows-flow": R,
    },
    "02_stepwise_barlow_twins.ipynb": {
        "bt-aligned-closed-form": R, "bt-step-times": R, "bt-random-init": R, "bt-sgd-steps": R,
        "bt-sgd-follows-flow": R,
    },
    "03_contrastive_collapse_directclr.ipynb": {
        "theorem1-frozen-X": R, "lemma1-shrinking-equals-negative-X": R, "collapse-in-augmented-subspace": R,
        "fig3-collapse-grows-with-k": R, "two-layer-conserved": R, "theorem2-alignment-grown": R,
        "theorem3-closed-form": R, "directclr-beats-no-projector": R, "directclr-beats-linear-projector": NR,
    },
    # QUICK runs 1500 steps: too short for the trained head to separate the features.
    "04_prediction_head.ipynb": {
        "head-a-no-collapse": INC, "head-b-fixed-head-collapse": R, "head-c-offdiag-rise-fall": INC,
    },
    # QUICK: 401 saved points and 2 SGD seeds; the verdicts are those of the full check.
    "05_jepa_vs_mae.ipynb": {
        "jepa-e-closed-form": R, "jepa-e-paper-critical-time": NR, "jepa-e-paper-critical-time-over-L": NR,
        "jepa-a-greedy-in-lambda": R, "jepa-b-jepa-greedy-in-rho": R, "jepa-b-mae-not-greedy-in-rho": R,
        "jepa-c-rho-bias-grows-with-depth": R, "jepa-c-depth-at-fixed-layer-scale": NR,
        "jepa-d-opposite-orders": NR, "jepa-sgd-follows-flow": R,
    },
    # QUICK runs the claims that share one solve of the eigenmode ODE; the rest (full run: R) are skipped.
    "06_cosine_loss_normalisation.ipynb": {
        "cosine-eigenmode-reduction": INC, "cosine-end-point": R, "cosine-no-collapse-above-eta-c": R,
        "cosine-weights-settle-above-eta-c": NR, "cosine-norm-law": INC, "cosine-weight-decay-is-a-time-change": INC,
        "cosine-stationary-points": INC, "cosine-sgd-follows-flow": INC,
    },
    # QUICK skips the two claims on the long flows (full run: R, NR).
    "07_vicreg_linear.ipynb": {
        "vicreg-collapse-threshold": R, "vicreg-decorrelation-threshold": R, "vicreg-stationary-spectrum": INC,
        "vicreg-covariance-prevents-informational-collapse": INC, "vicreg-sgd-follows-flow": R,
    },
}
VERDICT = re.compile(r"^VERDICT (\S+): (reproduced|not reproduced|inconclusive)\b", re.M)


def _kernel_name() -> str:
    """The python3 kernel; jupyter_client starts it with this interpreter (sys.executable)."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    assert "python3" in specs, f"no python3 kernel spec (found {sorted(specs)})"
    return "python3"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook(name, monkeypatch):
    monkeypatch.setenv("DYNSIM_QUICK", "1")
    # the kernel subprocess must use this interpreter's environment (the venv)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name=_kernel_name(),
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{name}: {out.get('ename')}: {out.get('evalue')}"
            if out.get("output_type") == "stream":
                text.append("".join(out["text"]))
    found = dict(VERDICT.findall("".join(text)))
    assert found == EXPECTED[name], f"{name}: verdicts {found}, expected {EXPECTED[name]}"
