"""Every claim of the `dynsim check` registry is a test: its verdict must stay what we measured.

Reproduced claims must keep reproducing at their fixed tolerances. The claims that do not
reproduce are findings (README, "What does not reproduce"): the test pins the finding, so a change
that alters it is seen.
"""

import json

import numpy as np
import pytest

import cli
from dynsim.models.seed_claims import NOT_REPRODUCED, REGISTRY, REPRODUCED, run_check

EXPECTED = {name: REPRODUCED for name in REGISTRY}
EXPECTED.update({
    "directset-snr-small-eta": NOT_REPRODUCED,  # SNR falls with alpha when the nuisance directions survive
    "symmetric-predictor-ema": NOT_REPRODUCED,  # the linear model collapses the same with and without EMA
    "directclr-vs-linear-projector": NOT_REPRODUCED,  # in the linear model a linear projector keeps more rank
})


@pytest.mark.parametrize("name", list(REGISTRY))
def test_claim(name):
    r = run_check(name)
    assert r.verdict == EXPECTED[name], (r.measured, r.detail)
    assert np.isfinite(r.measured)
    if r.verdict == REPRODUCED:
        assert r.measured <= r.tolerance


def test_findings_carry_their_numbers():
    r = run_check("directset-snr-small-eta")
    snr = r.numbers["snr_t50"]
    assert snr[0] > snr[1] > snr[2]  # falls from alpha = 1/4 to 1
    r = run_check("symmetric-predictor-ema")
    assert r.numbers["collapsed_no_ema"] == r.numbers["collapsed_ema"]
    assert max(r.numbers["collapsed_no_ema"]) < 8  # no run collapses completely


def test_check_cli_table_json_and_bad_name(tmp_path, capsys):
    assert cli.main(["check", "conserved-quantity", "scalar-manifold", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "conserved-quantity" in out and "REPRODUCED" in out and "2 reproduced" in out
    record = json.loads((tmp_path / "check.json").read_text())
    assert [c["name"] for c in record["summary"]["checks"]] == ["conserved-quantity", "scalar-manifold"]
    assert cli.main(["check", "symmetric-predictor-ema", "--json"]) == 0
    out, _ = capsys.readouterr()
    summary = json.loads(out)
    assert summary["counts"]["not reproduced"] == 1
    assert cli.main(["check", "no-such-claim"]) == 2
    _, err = capsys.readouterr()
    assert err.strip().splitlines()[-1] == "dynsim: error: no check named 'no-such-claim'; `dynsim check --list` lists them"
    assert cli.main(["check", "--list"]) == 0
    out, _ = capsys.readouterr()
    assert len(out.strip().splitlines()) == len(REGISTRY)
