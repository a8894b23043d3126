"""Reference values for packages/history/src/changes.test.ts, computed with NumPy and SciPy.

E-divisive's statistic straight from Matteson & James (2014), eq. for Q-hat with alpha = 1 and
kappa at the end of the series; Benjamini-Hochberg from scipy.stats.false_discovery_control; the
paired per-image t test from scipy.stats.ttest_rel.

    python3 tools/stats-reference/history_fixture.py
"""
import json
import pathlib

import numpy as np
from scipy import stats

rng = np.random.default_rng(24)


def q_hat(x, tau):
    a, b = x[:tau], x[tau:]
    n, m = len(a), len(b)
    cross = np.abs(a[:, None] - b[None, :]).sum()
    wa = np.abs(a[:, None] - a[None, :]).sum() / 2
    wb = np.abs(b[:, None] - b[None, :]).sum() / 2
    e = 2 * cross / (n * m) - (wa / (n * (n - 1) / 2) if n > 1 else 0) - (wb / (m * (m - 1) / 2) if m > 1 else 0)
    return n * m / (n + m) * e


series = []
for length, shift_at, shift in [(40, 25, 3.0), (40, 30, 1.0), (12, 6, 0.0), (25, 3, 5.0)]:
    x = rng.normal(size=length)
    x[shift_at:] += shift
    min_size = 2
    qs = {tau: q_hat(x, tau) for tau in range(min_size, length - min_size + 1)}
    tau = max(qs, key=qs.get)
    series.append({"x": x.tolist(), "minSize": min_size, "tau": tau, "q": qs[tau]})

bh = []
for m in [5, 12, 40]:
    p = rng.uniform(size=m) ** 3
    adjusted = stats.false_discovery_control(p, method="bh")
    bh.append({"p": p.tolist(), "q": 0.05, "discoveries": [bool(v) for v in adjusted <= 0.05]})

paired = []
for images, drop in [(200, 0.07), (120, 0.0)]:
    before = (rng.uniform(size=(6, images)) < 0.7).astype(int)
    after = (rng.uniform(size=(4, images)) < 0.7 - drop).astype(int)
    res = stats.ttest_rel(after.mean(axis=0), before.mean(axis=0))
    paired.append({"before": before.tolist(), "after": after.tolist(), "difference": float(after.mean(axis=0).mean() - before.mean(axis=0).mean()), "p": float(res.pvalue)})

out = pathlib.Path(__file__).resolve().parents[2] / "packages/history/src/fixtures/scipy-reference.json"
out.write_text(json.dumps({"generatedBy": "tools/stats-reference/history_fixture.py", "scipy": __import__("scipy").__version__, "edivisive": series, "bh": bh, "paired": paired}, indent=1) + "\n")
print(out)
