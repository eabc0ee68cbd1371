"""How much of the LWIR image can RGB colour explain? A least-squares report over world scenes.

If IR were a function of colour, a colour-based fit would reproduce it. We fit
IR ~ a*R + b*G + c*B + d over all pixels and report its error, overall and on the pixels of the
same-colour material pairs; as an upper bound on *any* function of colour we also report a lookup
table (mean IR per 16^3 RGB bin, fitted and scored on the same pixels: over all pixels no function
of colour does better). Because time of day and camera gain change from scene to scene, we also fit
each scene on its own (`per_scene_*`): what is left there is material, not exposure.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fusionrs.synth.materials import MATERIALS, same_colour_pairs
from fusionrs.synth.world import Scene

__all__ = ["linear_fit_report"]

_BINS = 16


def linear_fit_report(scenes: Sequence[Scene]) -> dict[str, Any]:
    """Fit IR from RGB over all pixels of `scenes`; RMSE (8-bit levels) overall, on pair pixels, per pair.

    Args:
        scenes: generated `Scene`s; their `rgb`, `ir` and `materials` arrays are read.

    Returns:
        A dict: "scenes", "pixels", "coefficients" ({"r", "g", "b", "bias"} of the global linear
        fit), "ir_std", the RMSEs in 8-bit levels "rmse_overall", "rmse_same_colour_pairs",
        "per_scene_rmse_overall", "per_scene_rmse_same_colour_pairs", "rgb_lookup_rmse_overall",
        "rgb_lookup_rmse_same_colour_pairs", and "per_pair" ({"a/b": pixel counts, mean RGB and
        IR per material, "rgb_distance", "ir_difference" and the three RMSEs}).

    Raises:
        ValueError: `scenes` is empty.
        numpy.linalg.LinAlgError: the global fit is singular (e.g. every pixel has the same colour).
    """
    if not scenes:
        raise ValueError("linear_fit_report needs at least one scene")
    # Normal equations accumulated per scene: memory stays flat for hundreds of scenes.
    xtx = np.zeros((4, 4))
    xty = np.zeros(4)
    for s in scenes:
        x = _design(s)
        y = s.ir.reshape(-1).astype(np.float64)
        xtx += x.T @ x
        xty += x.T @ y
    coef = np.linalg.solve(xtx, xty)

    pairs = same_colour_pairs()
    pair_ids = {p: (MATERIALS.index(p[0]), MATERIALS.index(p[1])) for p in pairs}
    n_mat = len(MATERIALS)
    sq_err_mat = np.zeros(n_mat)  # linear-fit squared error per material
    n_mat_px = np.zeros(n_mat)
    rgb_sum = np.zeros((n_mat, 3))
    ir_sum = np.zeros(n_mat)
    bin_count = np.zeros(_BINS**3)
    bin_sum = np.zeros(_BINS**3)
    bin_sq = np.zeros(_BINS**3)
    bin_mat_count = np.zeros((n_mat, _BINS**3))  # to split the lookup error by material
    total_sq, total_n = 0.0, 0
    own_sq_mat = np.zeros(n_mat)  # squared error of each scene's own linear fit
    for s in scenes:
        x = _design(s)
        y = s.ir.reshape(-1).astype(np.float64)
        m = s.materials.reshape(-1)
        err2 = (x @ coef - y) ** 2
        own, *_ = np.linalg.lstsq(x, y, rcond=None)
        own_sq_mat += np.bincount(m, weights=(x @ own - y) ** 2, minlength=n_mat)
        total_sq += float(err2.sum())
        total_n += y.size
        sq_err_mat += np.bincount(m, weights=err2, minlength=n_mat)
        n_mat_px += np.bincount(m, minlength=n_mat)
        rgb_sum += np.stack([np.bincount(m, weights=x[:, c], minlength=n_mat) for c in range(3)], axis=1)
        ir_sum += np.bincount(m, weights=y, minlength=n_mat)
        b = _bins(s)
        bin_count += np.bincount(b, minlength=_BINS**3)
        bin_sum += np.bincount(b, weights=y, minlength=_BINS**3)
        bin_sq += np.bincount(b, weights=y * y, minlength=_BINS**3)
        for ids in pair_ids.values():
            for i in ids:
                sel = m == i
                if sel.any():
                    bin_mat_count[i] += np.bincount(b[sel], minlength=_BINS**3)

    # Lookup-table error needs per-bin, per-material squared deviation: a second pass.
    bin_mean = np.divide(bin_sum, bin_count, out=np.zeros_like(bin_sum), where=bin_count > 0)
    lut_sq_mat = np.zeros(n_mat)
    for s in scenes:
        y = s.ir.reshape(-1).astype(np.float64)
        m = s.materials.reshape(-1)
        lut_sq_mat += np.bincount(m, weights=(bin_mean[_bins(s)] - y) ** 2, minlength=n_mat)
    lut_var_total = float((bin_sq - bin_count * bin_mean**2).sum())

    def rmse(sq: float, n: float) -> float:
        return float(np.sqrt(sq / n)) if n else float("nan")

    pair_mats = sorted({i for ids in pair_ids.values() for i in ids})
    per_pair = {}
    for (a, b), (ia, ib) in pair_ids.items():
        mean_rgb = {k: (rgb_sum[i] / max(1, n_mat_px[i])).round(1).tolist() for k, i in ((a, ia), (b, ib))}
        mean_ir = {k: round(float(ir_sum[i] / max(1, n_mat_px[i])), 1) for k, i in ((a, ia), (b, ib))}
        per_pair[f"{a}/{b}"] = {
            "pixels": {a: int(n_mat_px[ia]), b: int(n_mat_px[ib])},
            "mean_rgb": mean_rgb,
            "rgb_distance": round(float(np.linalg.norm(np.subtract(mean_rgb[a], mean_rgb[b]))), 2),
            "mean_ir": mean_ir,
            "ir_difference": round(abs(mean_ir[a] - mean_ir[b]), 1),
            "linear_rmse": round(rmse(sq_err_mat[[ia, ib]].sum(), n_mat_px[[ia, ib]].sum()), 2),
            "rgb_lookup_rmse": round(rmse(lut_sq_mat[[ia, ib]].sum(), n_mat_px[[ia, ib]].sum()), 2),
            "per_scene_rmse": round(rmse(own_sq_mat[[ia, ib]].sum(), n_mat_px[[ia, ib]].sum()), 2),
        }
    ir_all = np.concatenate([s.ir.reshape(-1) for s in scenes]).astype(np.float64)
    return {
        "scenes": len(scenes),
        "pixels": int(total_n),
        "coefficients": {"r": float(coef[0]), "g": float(coef[1]), "b": float(coef[2]), "bias": float(coef[3])},
        "ir_std": round(float(ir_all.std()), 2),
        "rmse_overall": round(rmse(total_sq, total_n), 2),
        "rmse_same_colour_pairs": round(rmse(sq_err_mat[pair_mats].sum(), n_mat_px[pair_mats].sum()), 2),
        "per_scene_rmse_overall": round(rmse(own_sq_mat.sum(), total_n), 2),
        "per_scene_rmse_same_colour_pairs": round(rmse(own_sq_mat[pair_mats].sum(), n_mat_px[pair_mats].sum()), 2),
        "rgb_lookup_rmse_overall": round(rmse(lut_var_total, total_n), 2),
        "rgb_lookup_rmse_same_colour_pairs": round(rmse(lut_sq_mat[pair_mats].sum(), n_mat_px[pair_mats].sum()), 2),
        "per_pair": per_pair,
    }


def _design(scene: Scene) -> np.ndarray:
    rgb = scene.rgb.reshape(-1, 3).astype(np.float64)
    return np.concatenate([rgb, np.ones((rgb.shape[0], 1))], axis=1)


def _bins(scene: Scene) -> np.ndarray:
    q = (scene.rgb.reshape(-1, 3) // (256 // _BINS)).astype(np.int64)
    return (q[:, 0] * _BINS + q[:, 1]) * _BINS + q[:, 2]
