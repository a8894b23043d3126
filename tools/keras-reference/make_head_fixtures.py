#!/usr/bin/env python3
"""Write forward-pass reference fixtures for the built-in heads (issue 22).

Each head's forward pass is written here once more, in NumPy, from its paper's definition and
not from the TypeScript: the fixture holds a small feature map, every weight by its meaning
(not by tfjs' layout: avgmax's kernel is one [2C, K] matrix over the concatenation, whatever the
tfjs head splits it into), and the logits. `packages/heads-<name>/src/reference.test.ts` loads the
weights into the built head and compares its logits with these within 1e-5.

Usage: python make_head_fixtures.py [--out PACKAGES_DIR]   (NumPy only; a second or so)

Written to packages/heads-<name>/fixtures/reference.json. Float64 throughout; the inputs and
weights are rounded to float32 first, so the reference computes on what the float32 head sees.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# A non-square map catches height/width swaps; channels divisible by the attention heads.
N, H, W, C, K = 2, 3, 4, 6, 3
SEED = 22


def f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return x @ kernel + bias


def batch_norm(x, gamma, beta, mean, var, eps):
    # Inference mode: the moving statistics.
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def bn_weights(rng, n):
    return {
        "gamma": f32(rng.uniform(0.5, 1.5, n)),
        "beta": f32(rng.normal(0, 0.3, n)),
        "movingMean": f32(rng.normal(0, 0.3, n)),
        "movingVariance": f32(rng.uniform(0.5, 2.0, n)),
    }


def head_weights(rng, fan_in):
    return {"kernel": f32(rng.normal(0, 0.5, (fan_in, K))), "bias": f32(rng.normal(0, 0.1, K))}


def avgmax(x, rng):
    # timm's catavgmax order: the mean first, then the maximum (fastai's AdaptiveConcatPool2d
    # puts the maximum first; the order only permutes the kernel's rows).
    w = head_weights(rng, 2 * C)
    pooled = np.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=1)
    return {}, w, dense(pooled, w["kernel"], w["bias"])


def mlp(x, rng):
    hidden = 4
    w = {"hiddenKernel": f32(rng.normal(0, 0.5, (C, hidden))), "hiddenBias": f32(rng.normal(0, 0.1, hidden))}
    w.update({f"bn.{k}": v for k, v in bn_weights(rng, hidden).items()})
    w.update(head_weights(rng, hidden))
    h = dense(x.mean(axis=(1, 2)), w["hiddenKernel"], w["hiddenBias"])
    h = batch_norm(h, w["bn.gamma"], w["bn.beta"], w["bn.movingMean"], w["bn.movingVariance"], 1e-5)
    h = np.maximum(h, 0)  # dropout is the identity at inference
    return {"hidden": hidden, "dropout": 0.5}, w, dense(h, w["kernel"], w["bias"])


def gdconv(x, rng):
    w = {"depthwiseKernel": f32(rng.normal(0, 0.5, (H, W, C)))}
    w.update({f"bn.{k}": v for k, v in bn_weights(rng, C).items()})
    w.update(head_weights(rng, C))
    # An H x W depthwise kernel over an H x W map, valid padding: one weighted sum per channel.
    pooled = np.einsum("nhwc,hwc->nc", x, w["depthwiseKernel"])
    pooled = batch_norm(pooled, w["bn.gamma"], w["bn.beta"], w["bn.movingMean"], w["bn.movingVariance"], 1e-5)
    return {}, w, dense(pooled, w["kernel"], w["bias"])


def se(x, rng):
    reduction = 2
    m = C // reduction
    w = {
        "squeezeKernel": f32(rng.normal(0, 0.5, (C, m))),
        "squeezeBias": f32(rng.normal(0, 0.1, m)),
        "exciteKernel": f32(rng.normal(0, 0.5, (m, C))),
        "exciteBias": f32(rng.normal(0, 0.1, C)),
    }
    w.update(head_weights(rng, C))
    s = np.maximum(dense(x.mean(axis=(1, 2)), w["squeezeKernel"], w["squeezeBias"]), 0)
    gate = 1 / (1 + np.exp(-dense(s, w["exciteKernel"], w["exciteBias"])))
    recalibrated = x * gate[:, None, None, :]
    return {"reduction": reduction}, w, dense(recalibrated.mean(axis=(1, 2)), w["kernel"], w["bias"])


def gem(x, rng):
    w = {"p": f32(np.array(2.5))}
    w.update(head_weights(rng, C))
    p = w["p"]
    pooled = np.mean(np.maximum(x, 1e-6) ** p, axis=(1, 2)) ** (1 / p)
    return {}, w, dense(pooled, w["kernel"], w["bias"])


def lse(x, rng):
    r = 5.0
    w = head_weights(rng, C)
    pooled = np.log(np.mean(np.exp(r * x), axis=(1, 2))) / r
    return {"r": r}, w, dense(pooled, w["kernel"], w["bias"])


def attention(x, rng):
    # CLIP's AttentionPool2d (Radford et al. 2021, clip/model.py), output_dim = classes: c_proj is
    # the classifier. Kernels here are [in, out] (x @ kernel), PyTorch's weights transposed.
    heads = 2
    hd = C // heads
    w = {"positional": f32(rng.normal(0, 1 / np.sqrt(C), (H * W + 1, C)))}
    for name in ("query", "key", "value"):
        w[f"{name}Kernel"] = f32(rng.normal(0, 0.5, (C, C)))
        w[f"{name}Bias"] = f32(rng.normal(0, 0.1, C))
    w.update(head_weights(rng, C))
    out = []
    for n in range(N):
        tokens = x[n].reshape(H * W, C)  # row-major positions, as torch's flatten of NCHW
        tokens = np.concatenate([tokens.mean(axis=0, keepdims=True), tokens]) + w["positional"]
        q = dense(tokens[:1], w["queryKernel"], w["queryBias"])  # only the mean token queries
        k = dense(tokens, w["keyKernel"], w["keyBias"])
        v = dense(tokens, w["valueKernel"], w["valueBias"])
        parts = []
        for h in range(heads):
            sl = slice(h * hd, (h + 1) * hd)
            scores = (q[:, sl] / np.sqrt(hd)) @ k[:, sl].T
            a = np.exp(scores - scores.max())
            a /= a.sum()
            parts.append(a @ v[:, sl])
        out.append(dense(np.concatenate(parts, axis=1)[0], w["kernel"], w["bias"]))
    return {"heads": heads}, w, np.stack(out)


def bilinear(x, rng):
    d = 4
    w = {"reduceKernel": f32(rng.normal(0, 0.5, (C, d))), "reduceBias": f32(rng.normal(0, 0.1, d))}
    w.update(head_weights(rng, d * d))
    z = dense(x.reshape(N, H * W, C), w["reduceKernel"], w["reduceBias"])  # the 1x1 convolution
    g = np.einsum("npi,npj->nij", z, z) / (H * W)  # the mean outer product over positions
    g = g.reshape(N, d * d)
    y = np.sign(g) * np.sqrt(np.abs(g) + 1e-5)  # signed square root (epsilon: README)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return {"d": d}, w, dense(y, w["kernel"], w["bias"])


HEADS = {f.__name__: f for f in (avgmax, mlp, gdconv, se, gem, lse, attention, bilinear)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "packages"))
    args = parser.parse_args()
    for i, (name, fn) in enumerate(HEADS.items()):
        rng = np.random.default_rng(SEED + i)
        x = f32(rng.normal(0.5, 1.0, (N, H, W, C)))
        options, weights, logits = fn(x, rng)
        fixture = {
            "head": name,
            "options": options,
            "featureShape": [H, W, C],
            "classes": K,
            "input": {"shape": [N, H, W, C], "values": x.ravel().tolist()},
            "weights": {k: {"shape": list(np.shape(v)), "values": np.ravel(v).tolist()} for k, v in weights.items()},
            "logits": {"shape": list(logits.shape), "values": logits.ravel().tolist()},
            "writtenBy": f"tools/keras-reference/make_head_fixtures.py (NumPy {np.__version__}, float64)",
        }
        out = Path(args.out) / f"heads-{name}" / "fixtures" / "reference.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"{out}: logits {logits.shape}, max |logit| {np.abs(logits).max():.3f}")


if __name__ == "__main__":
    main()
