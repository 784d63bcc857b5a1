"""The one cache rule of ``eval.json`` (``record_is_reusable``) and what ``ctx.evaluate`` pins."""

from __future__ import annotations

from qagen.eval.options import EvalOptions
from qagen.experiments.base import ExperimentContext, cell_from_record, record_is_reusable
from qagen.experiments.runner import expected_protocol


def _rec(**proto):
    return {"value": 1.0, "protocol": {"checkpoint_step": 4, "n_fake": 64, **proto}}


def test_record_is_reusable_step_skip_expect_require():
    assert record_is_reusable(_rec(), 4)
    assert not record_is_reusable(_rec(), 8)  # a newer checkpoint
    assert not record_is_reusable(_rec(), None)  # no checkpoint: nothing to stand for
    assert not record_is_reusable({"skipped": True, "protocol": {"checkpoint_step": 4}}, 4)
    assert not record_is_reusable(None, 4) and not record_is_reusable({"value": 1.0}, 4)
    assert record_is_reusable(_rec(), 4, {"n_fake": 64})
    assert not record_is_reusable(_rec(), 4, {"n_fake": 128})
    assert not record_is_reusable(_rec(), 4, {"generator_requested": "ema"})  # older protocol
    assert not record_is_reusable(_rec(), 4, require=("real_vs_real",))
    assert record_is_reusable({**_rec(), "real_vs_real": {}}, 4, require=("real_vs_real",))


def test_expected_protocol_pins_what_changes_the_numbers():
    opts = EvalOptions(n_samples=32, swd_baseline=False)
    expect, require = expected_protocol(opts, "swd")
    assert expect == {"n_fake": 32, "checkpoint": "last", "generator_requested": "raw",
                      "sample_seed": 0, "sample_batch_size": 64}  # fmt: skip
    assert require == ()
    assert expected_protocol(opts.replace(swd_baseline=True), "swd")[1] == ("real_vs_real",)
    kid, _ = expected_protocol(opts.replace(kid_subset_size=10, reference_split="test"), "kid")
    assert kid["kid_subset_size"] == 10 and kid["kid_subsets"] == 100
    assert kid["reference_split"] == "test"
    assert "block_size" not in expected_protocol(opts, "niqe")[0]
    assert expected_protocol(opts.replace(niqe_block=96), "niqe")[0]["block_size"] == 96


def test_cached_record_reads_eval_json(tmp_path):
    ctx = ExperimentContext(out=tmp_path, budget="smoke")
    run = ctx.run_dir("r")
    (run / "checkpoints").mkdir(parents=True)
    assert ctx.newest_step("r") is None and ctx.cached_record("r", "qmap") is None
    (run / "checkpoints" / "step_00000004.pt").write_bytes(b"")
    (run / "eval.json").write_text('{"qmap": {"value": 2.0, "protocol": {"checkpoint_step": 4}}}')
    assert ctx.newest_step("r") == 4
    assert ctx.cached_record("r", "qmap")["value"] == 2.0
    assert ctx.cached_record("r", "qmap", {"n_fake": 1}) is None


def test_cell_from_record():
    assert cell_from_record(None).reason == "not evaluated"
    assert cell_from_record({"skipped": True, "reason": "no weights"}).reason == "no weights"
    c = cell_from_record({"average": 2.0, "std": 0.5}, keys=("value", "average"), scale=2.0)
    assert (c.value, c.std) == (4.0, 1.0)
    assert cell_from_record({"value": float("nan")}).value is None
