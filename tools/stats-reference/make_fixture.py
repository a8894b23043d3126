"""Reference values for headbench's statistics (packages/core/src/stats), computed with SciPy and
NumPy. Writes packages/stats/src/fixtures/scipy-reference.json, which the TypeScript tests
compare against. Run with the Keras venv (it has SciPy):

    ~/.cache/headbench/keras-venv/bin/python tools/stats-reference/make_fixture.py
"""
import json
import pathlib

import numpy as np
import scipy
from scipy import integrate, optimize, stats

OUT = pathlib.Path(__file__).resolve().parents[2] / "packages/stats/src/fixtures/scipy-reference.json"


def t_quantiles():
    return [{"p": p, "df": df, "value": float(stats.t.ppf(p, df))} for df in [1, 2, 3, 4, 7, 10, 29, 30, 31, 60, 199, 1000, 2.5, 7.3] for p in [0.975, 0.9, 0.5]]


def normal_quantiles():
    return [{"p": p, "value": float(stats.norm.ppf(p))} for p in [0.5, 0.8, 0.9, 0.975, 0.995, 0.025]]


def groups():
    out = []
    for values in [[0.803, 0.737, 0.78], [0.643, 0.677, 0.707], [0.793, 0.807, 0.8], [0.737, 0.513, 0.543], [2, 4, 4, 4, 5, 5, 7, 9], [0.5, 0.6]]:
        a = np.array(values, dtype=float)
        n = len(a)
        sd = float(a.std(ddof=1))
        lo, hi = stats.t.interval(0.95, n - 1, loc=a.mean(), scale=sd / np.sqrt(n))
        out.append({"values": values, "n": n, "mean": float(a.mean()), "sd": sd, "ci95": [float(lo), float(hi)]})
    return out


def bits(v):
    return "".join(str(int(x)) for x in v)


def nct_power(delta, se, df):
    """P(|T| > t(0.975, df)) for T noncentral t(df, delta/se), integrated over chi-squared(df)
    (scipy.stats.nct returns NaN for few df and large noncentrality)."""
    t = stats.t.ppf(0.975, df)
    lam = delta / se
    f = lambda u: (stats.norm.cdf(lam - t * np.sqrt(u / df)) + stats.norm.cdf(-lam - t * np.sqrt(u / df))) * stats.chi2.pdf(u, df)
    lo, hi = stats.chi2.ppf(1e-13, df), stats.chi2.ppf(1 - 1e-13, df)
    value, _ = integrate.quad(f, lo, hi, limit=400, points=[df])
    return float(value)


def two_way_case(name, seeds, images, rng, seed_sd, image_sd, delta):
    easy = rng.uniform(0.15, 0.85, images)
    tilt = rng.choice([-image_sd, image_sd], images)
    a, b = [], []
    for _ in range(seeds):
        pa = np.clip(easy + rng.normal(0, seed_sd), 0.01, 0.99)
        pb = np.clip(easy + tilt + delta + rng.normal(0, seed_sd), 0.01, 0.99)
        a.append((rng.random(images) < pa).astype(int))
        b.append((rng.random(images) < pb).astype(int))
    A, B = np.array(a), np.array(b)
    d = B - A
    S, N = d.shape
    rows, cols, mean = d.mean(axis=1), d.mean(axis=0), d.mean()
    resid = d - rows[:, None] - cols[None, :] + mean
    ms_resid = float((resid ** 2).sum() / ((S - 1) * (N - 1))) if S > 1 else 0.0
    row_var = float(rows.var(ddof=1)) if S > 1 else None
    col_var = float(cols.var(ddof=1))
    # The unbiased two-way variance of the mean: seeds' part and the image component alone.
    v_seeds = row_var / S if S > 1 else 0.0
    v_images = max(0.0, col_var - ms_resid / S) / N if S > 1 else col_var / N
    se = float(np.sqrt(v_seeds + v_images))
    if S > 1:
        # Welch-Satterthwaite on the mean squares (the residual enters with a minus sign), rounded down.
        image_terms = ((S * col_var / (S * N)) ** 2 / (N - 1) + (ms_resid / (S * N)) ** 2 / ((S - 1) * (N - 1))) if v_images > 0 else 0.0
        denominator = v_seeds ** 2 / (S - 1) + image_terms
        df = max(1, int(np.floor((v_seeds + v_images) ** 2 / denominator))) if denominator > 0 else N - 1
    else:
        df = N - 1
    t = stats.t.ppf(0.975, df)
    detectable = optimize.brentq(lambda x: nct_power(x, se, df) - 0.8, 1e-9, 100 * se)
    return {
        "name": name,
        "baseline": [bits(r) for r in A],
        "candidate": [bits(r) for r in B],
        "difference": float(mean),
        "rowVariance": row_var,
        "colVariance": col_var,
        "residualMeanSquare": ms_resid,
        "varianceSeeds": v_seeds if S > 1 else None,
        "varianceImages": v_images,
        "se": se,
        "df": float(df),
        "ci95": [float(mean - t * se), float(mean + t * se)],
        "power": [{"delta": x, "value": nct_power(x, se, df)} for x in [0.0, 0.01, 0.02, 0.05, 0.1]],
        "detectable": float(detectable),
    }


def main():
    rng = np.random.default_rng(20261127)
    fixture = {
        "generator": "tools/stats-reference/make_fixture.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tQuantile": t_quantiles(),
        "normalQuantile": normal_quantiles(),
        "groups": groups(),
        "twoWay": [
            two_way_case("3 seeds, 300 images, seed noise", 3, 300, rng, 0.04, 0.1, 0.03),
            two_way_case("5 seeds, 200 images, image noise", 5, 200, rng, 0.005, 0.15, 0.0),
            two_way_case("1 seed, 400 images", 1, 400, rng, 0.03, 0.1, 0.05),
            two_way_case("2 seeds, 250 images", 2, 250, rng, 0.03, 0.05, -0.04),
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
