"""Where does the colour of a ``qmf`` run trained on grey data come from? (issue 17: on
Fashion-MNIST, ``qmf-full-demo`` drew green and magenta fringes, ``qmf-bl-demo`` did not.)

For a run's checkpoint it draws ``--n`` samples (z from ``--seed``, the training split's first
``--n`` images as X_ref), then takes the gradient of each term of G's loss with respect to the
samples and splits it into its grey part (the same change on R, G and B: the channels' mean) and
its colour part (what is left). Per term it prints:

* ``|grad|``: the gradient's norm;
* ``colour share``: the colour part's norm over the whole norm (0: a grey change; 0.50: the
  gradient of a function of luma ``0.299 R + 0.587 G + 0.114 B`` alone; near 1: colour only);
* ``cos(descent, colour)``: the cosine between the colour part of the descent direction (minus
  the gradient) and the samples' own colour: > 0, a step of G along this term adds to the colour
  the samples already have; < 0, it removes it.

The terms: ``g_adv`` (d1's), ``g_map`` (d2's), ``g_score`` (s's), each when the run has it, and
the three maps' means (``-fsim``, ``-ms_ssim``, ``-mdsi``, the direction that raises each map).
It also prints the samples' colour (RMS of the colour part) and how much of that colour lies on
the axis of luma's colour part (green against red and blue; ``|cos|`` 0.64 for directions
uniform in the colour plane, 1 all on that axis), and how closely d2's gradient follows luma's
weights per pixel.

    python benchmarks/qmf_colour.py runs/learning/qmf-full runs/learning/qmf-bl

A diagnosis, not a test: one checkpoint, one draw of samples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

LUMA = torch.tensor([0.299, 0.587, 0.114])


def colour_part(x: torch.Tensor) -> torch.Tensor:
    """``x`` minus the mean of its channels: what is not grey."""
    return x - x.mean(1, keepdim=True)


def diagnose(run: Path, n: int = 64, seed: int = 0, checkpoint: str = "last") -> dict:
    """The per-term colour measurements of ``run``'s ``checkpoint`` (module docstring)."""
    from qagen.errors import InputError
    from qagen.gan.objectives import generator_loss
    from qagen.methods.qmf.maps import MAP_NAMES, quality_maps
    from qagen.methods.qmf.recipe import _OBJECTIVES
    from qagen.train import restore_run
    from qagen.train.ema import unwrap

    r = restore_run(run, checkpoint)
    rec = r.recipe
    if r.run.recipe != "qmf" or rec.mode != "generation":
        kind = r.run.recipe if r.run.recipe != "qmf" else f"qmf in {rec.mode} mode"
        raise InputError(f"{run}: a qmf run in generation mode is needed, got {kind}")
    ds = r.dataset()
    items = [ds[i] for i in range(n)]
    real = torch.stack([it[0] if isinstance(it, (list, tuple)) else it for it in items]).float()
    z = torch.randn(n, rec.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        fake = rec.G(z=z, ref=real, maps_fn=rec._maps_fn)
    fake.requires_grad_(True)
    colour = colour_part(fake.detach())
    obj = _OBJECTIVES[rec.cfg.objective]
    terms = {"g_adv": generator_loss(obj, rec.D(fake, None)[0])}
    fm = quality_maps(fake, real, rec.cfg.ms_ssim_scales)
    if rec.D2 is not None:
        terms["g_map"] = generator_loss(obj, rec.D2(fm.maps)[0])
    if rec.S is not None:
        with torch.no_grad():
            target = rec.S(real)
        terms["g_score"] = (rec.S(fake) - target).abs().mean()
    for i, name in enumerate(MAP_NAMES):
        terms[f"-{name}"] = -fm.maps[:, i].mean()
    out = {"run": str(run), "step": r.step, "grey_output": bool(getattr(unwrap(rec.G), "grey_output", False)),
           "colour_rms": float(colour.pow(2).mean().sqrt()), "terms": {}}  # fmt: skip
    grads = {}
    for name, loss in terms.items():
        (g,) = torch.autograd.grad(loss, fake, retain_graph=True)
        grads[name] = g
        gc = colour_part(g)
        cos = F.cosine_similarity((-gc).flatten(), colour.flatten(), dim=0)
        out["terms"][name] = {"norm": float(g.norm()), "colour_share": float(gc.norm() / g.norm().clamp_min(1e-30)),
                              "cos_descent_colour": float(cos)}  # fmt: skip
    axis = colour_part(LUMA.view(1, 3, 1, 1)).flatten()
    axis = axis / axis.norm()
    c = colour.permute(0, 2, 3, 1).reshape(-1, 3)
    big = c.norm(dim=1) > 0.05
    out["coloured_pixels"] = int(big.sum())
    out["colour_on_luma_axis"] = (
        float(((c[big] @ axis).abs() / c[big].norm(dim=1)).mean()) if big.any() else float("nan")
    )
    if "g_map" in grads:
        gp = grads["g_map"].permute(0, 2, 3, 1).reshape(-1, 3)
        top = gp.norm(dim=1) >= gp.norm(dim=1).quantile(0.9)
        out["g_map_cos_luma"] = float(
            F.cosine_similarity(gp[top].abs(), LUMA.expand_as(gp[top])).mean()
        )
        out["g_map_cos_grey"] = float(
            F.cosine_similarity(gp[top].abs(), torch.ones_like(gp[top])).mean()
        )
    return out


def report(d: dict) -> str:
    lines = [f"## {d['run']} (step {d['step']}, grey_output {d['grey_output']})", "",
             f"samples' colour RMS {d['colour_rms']:.4f}; {d['coloured_pixels']} pixels with colour > 0.05, "
             f"|cos| with luma's colour axis {d['colour_on_luma_axis']:.3f} (uniform: 0.64)", "",
             "| term | grad norm | colour share | cos(descent, samples' colour) |", "|---|---|---|---|"]  # fmt: skip
    for name, t in d["terms"].items():
        lines.append(
            f"| {name} | {t['norm']:.3e} | {t['colour_share']:.2f} | {t['cos_descent_colour']:+.3f} |"
        )
    if "g_map_cos_luma" in d:
        lines += ["", f"d2's gradient per pixel (the 10 % largest): cos with luma's weights "
                  f"{d['g_map_cos_luma']:.3f}, with grey (1, 1, 1) {d['g_map_cos_grey']:.3f}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default="last")
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    if args.n < 2:
        ap.error(f"--n must be >= 2, got {args.n}")
    from qagen.errors import InputError

    for run in args.runs:
        try:
            print(report(diagnose(run, args.n, args.seed, args.checkpoint)))
        except (InputError, FileNotFoundError) as err:
            print(f"qmf_colour.py: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
