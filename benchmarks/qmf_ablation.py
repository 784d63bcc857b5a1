"""QMF ablations over seeds at equal steps (issue 18): each variant is a ``qmf`` preset with
``--set`` overrides, trained for ``--steps`` generator steps per seed, then evaluated on held-out
data, with mean ± std over the seeds and Welch's t-test of every variant against the first.

Image-to-image data (``--data fashion-edges:shoes``, the default) is evaluated on ``--n`` items of
the test split: ``l1`` (mean |output - target| on [0, 1]), ``fsim`` (x 100, luminance FSIM on 8-bit
values, :func:`qagen.methods.qmf.evaluation.evaluate_translation`), ``ms_ssim_map`` (mean
per-pixel MS-SSIM map of output vs target, the QMF map m2), ``div`` (mean pairwise L2 distance
between the outputs over that of the targets: 1 = as varied as the targets, 0 = one output for
every input) and ``mean_spread`` (std over the items of each output's mean intensity, over that of
the targets: does the overall tone follow the input).

Generation data (``--data fashion-mnist``) is evaluated by ``fd_fmnist`` (``--n`` raw samples vs
the test split), ``div`` (mean pairwise L2 of 256 raw samples over that of 256 test images),
``hf`` (the share of the d1 critic's input-gradient energy at the samples above a quarter of the
sampling frequency, radial |f| > 0.25 cycles/px, each gradient's per-channel mean removed) and
the last 10 % of the logged ``grad_norm`` and ``ssim_gp``.

    python benchmarks/qmf_ablation.py --steps 1500 --out runs/qmf-d2 \\
        "bl=qmf-bl-demo" "other=qmf-full-demo:d2_real=other" "perturbed=qmf-full-demo:d2_real=perturbed"
    python benchmarks/qmf_ablation.py --data fashion-mnist --steps 300 --out runs/qmf-l3 \\
        "l3_10=qmf-bl-demo" "l3_10_ssim=qmf-bl-demo:ssim_weight=0.1" "l3_1=qmf-bl-demo:gp_weight=1"

A benchmark, not a test: ``steps x variants x seeds`` of training, ``--jobs`` at a time (one
intra-op thread each). Finished runs are reused. Writes ``OUT/ablation.md`` and
``OUT/ablation.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

from _jobs import train_all

ROOT = Path(__file__).resolve().parents[1]
PAIRED_COLS = ("l1", "fsim", "ms_ssim_map", "div", "mean_spread")
GEN_COLS = ("fd_fmnist", "div", "hf", "grad_norm", "ssim_gp")
LOWER = {"l1", "fd_fmnist"}  # lower is better; the rest: higher (hf, grad_norm, ssim_gp: no sense)


def _variants(specs: list[str]) -> dict[str, tuple[str, list[str]]]:
    out = {}
    for s in specs:
        label, _, rest = s.partition("=")
        preset, _, sets = rest.partition(":")
        if not label or not preset:
            raise SystemExit(f"a variant is LABEL=PRESET[:KEY=V,KEY=V], got {s!r}")
        out[label] = (preset, [x for x in sets.split(",") if x])
    return out


def _pair_l2(x) -> float:
    import torch

    x = x.flatten(1).double()
    n = len(x)
    return float(torch.cdist(x, x).sum() / (n * (n - 1)))


def _hf_share(g) -> float:
    """Share of the spectral energy of ``g`` (N x C x H x W) at radial frequency > 0.25."""
    import torch

    g = g.double() - g.double().mean((2, 3), keepdim=True)
    p = torch.fft.fft2(g).abs().pow(2).sum((0, 1))
    fy = torch.fft.fftfreq(g.shape[-2], dtype=torch.float64)
    fx = torch.fft.fftfreq(g.shape[-1], dtype=torch.float64)
    r = (fy[:, None] ** 2 + fx[None, :] ** 2).sqrt()
    return float(p[r > 0.25].sum() / p.sum())


def _logged_tail(run: Path, key: str) -> float | None:
    path = run / "metrics.csv"
    if not path.is_file():
        return None
    rows = list(csv.DictReader(path.open()))
    vals = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    tail = vals[-max(1, len(vals) // 10) :]
    return statistics.fmean(tail) if tail else None


def _eval_paired(run: Path, n: int) -> dict:
    import torch

    from qagen.methods.qmf.evaluation import _outputs, evaluate_translation
    from qagen.methods.qmf.maps import quality_maps
    from qagen.train import restore_run
    from qagen.train.ema import unwrap

    r = restore_run(run)
    ds = r.dataset("test")
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(ds), generator=gen)[:n].tolist()
    inputs = r.recipe.inputs_from_items([ds[i] for i in idx], gen)
    out = _outputs(r.recipe, unwrap(r.recipe.G), inputs, 64)
    tgt = inputs["target"]
    o01, t01 = ((out + 1) / 2).clamp(0, 1), ((tgt + 1) / 2).clamp(0, 1)
    fs = evaluate_translation(run, n=n, cache=False)
    m = quality_maps(out.clamp(-1, 1), tgt).maps.mean((0, 2, 3))
    spread = lambda x: float(x.mean((1, 2, 3)).std())  # noqa: E731
    return {"step": r.step, "l1": float((o01 - t01).abs().mean()),
            "fsim": 100 * fs["fsim"]["mean"], "fsim_untrained": 100 * fs["fsim_untrained"]["mean"],
            "fsim_source": 100 * fs["fsim_source"]["mean"], "ms_ssim_map": float(m[1]),
            "div": _pair_l2(o01) / _pair_l2(t01),
            "mean_spread": spread(o01) / spread(t01)}  # fmt: skip


def _eval_generation(run: Path, n: int) -> dict:
    import torch

    from qagen.data.fashion_mnist import load_fashion_mnist
    from qagen.eval.run import evaluate_run
    from qagen.train import restore_run
    from qagen.train.ema import unwrap

    r = restore_run(run)
    fd = evaluate_run(run, metrics="fd_fmnist", n_samples=n, generator="raw", progress=False,
                      write=False)["fd_fmnist"]["value"]  # fmt: skip
    x = r.generate(256, seed=0, ema=False)
    imgs, _ = load_fashion_mnist(split="test")
    real = torch.from_numpy(imgs[:256].copy()).float()[:, None] / 255
    real = torch.nn.functional.pad(real, (2, 2, 2, 2)).expand(-1, x.shape[1], -1, -1)
    fake = (x[:64] * 2 - 1).requires_grad_(True)
    d1 = unwrap(r.recipe.D)
    (g,) = torch.autograd.grad(d1(fake, None)[0].mean((1, 2, 3)).sum(), fake)
    return {"step": r.step, "fd_fmnist": fd, "div": _pair_l2(x) / _pair_l2(real),
            "hf": _hf_share(g), "grad_norm": _logged_tail(run, "grad_norm"),
            "ssim_gp": _logged_tail(run, "ssim_gp")}  # fmt: skip


def _cell(v: list) -> str:
    v = [x for x in v if x is not None and math.isfinite(x)]
    if not v:
        return "—"
    sd = f" ± {statistics.stdev(v):.3g}" if len(v) > 1 else ""
    return f"{statistics.fmean(v):.3g}{sd}"


def _welch(a: list, b: list) -> str:
    from scipy import stats

    a = [x for x in a if x is not None]
    b = [x for x in b if x is not None]
    if min(len(a), len(b)) < 3:
        return ""
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return f" (p {p:.2g})" if math.isfinite(p) else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", metavar="LABEL=PRESET[:KEY=V,...]")
    ap.add_argument("--data", default="fashion-edges:shoes")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n", type=int, default=256, help="held-out items / samples evaluated")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    variants = _variants(args.variants)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    qagen = str(ROOT / ".venv/bin/qagen")
    cmds = {}
    for label, (preset, sets) in variants.items():
        for s in seeds:
            name = f"{label}-s{s}"
            cmd = [qagen, "train", "qmf", "--preset", preset, "--data", args.data,
                   "--out", str(out / name), "--no-report", "--set", "data.resolution=32",
                   "--set", "data.split=train", "--set", f"train.seed={s}",
                   "--set", f"train.max_steps={args.steps}"]  # fmt: skip
            for kv in sets:
                cmd += ["--set", kv]
            cmds[name] = cmd
    train_all(cmds, out, args.jobs, "ablation_trained.json", steps=args.steps)
    generation = args.data.split(":")[0] == "fashion-mnist"
    cols = GEN_COLS if generation else PAIRED_COLS
    res: dict[str, list[dict]] = {}
    for label in variants:
        for s in seeds:
            run = out / f"{label}-s{s}"
            mark = json.loads((run / "ablation_trained.json").read_text())
            if mark["rc"] != 0:
                print(
                    f"{run.name}: training failed (rc {mark['rc']}), see {run}.log", file=sys.stderr
                )
                continue
            cache = run / "ablation_eval.json"
            if cache.is_file():
                rec = json.loads(cache.read_text())
            else:
                rec = (_eval_generation if generation else _eval_paired)(run, args.n)
                cache.write_text(json.dumps(rec))
            if rec["step"] < args.steps:
                print(
                    f"{run.name}: stopped at step {rec['step']} < {args.steps}: left out",
                    file=sys.stderr,
                )
                continue
            res.setdefault(label, []).append({"seed": s, **rec})
            print(json.dumps({"run": run.name, **rec}), file=sys.stderr)
    first = next(iter(variants))
    lines = [f"# QMF ablation: {args.data}, {args.steps} generator steps, seeds {args.seeds}", "",
             "mean ± std over the seeds; (p): Welch's t-test against the first row.", "",
             "| variant | preset and overrides | seeds | " + " | ".join(cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]  # fmt: skip
    for label, (preset, sets) in variants.items():
        recs = res.get(label, [])
        cells = []
        for c in cols:
            v = [r.get(c) for r in recs]
            p = "" if label == first else _welch(v, [r.get(c) for r in res.get(first, [])])
            cells.append(_cell(v) + p)
        lines.append(
            f"| {label} | {preset} {' '.join(sets)} | {len(recs)} | " + " | ".join(cells) + " |"
        )
    md = "\n".join(lines) + "\n"
    (out / "ablation.md").write_text(md)
    (out / "ablation.json").write_text(json.dumps({"data": args.data, "steps": args.steps,
                                                   "variants": {k: {"preset": p, "set": s}
                                                                for k, (p, s) in variants.items()},
                                                   "runs": res}, indent=2))  # fmt: skip
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
