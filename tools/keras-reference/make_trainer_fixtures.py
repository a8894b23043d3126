#!/usr/bin/env python3
"""Write Keras reference fixtures for headbench's trainers (optimisers, schedules, losses).

  packages/backbones/fixtures/keras/optimizer_steps_0.35/
      Three model.train_on_batch steps of each optimiser configuration below on MobileNetV2
      alpha 0.35 at 64x64 (the start of the train_step_0.35 fixture: base weights of
      mobilenetv2_0.35_96/weights.h5, GAP -> Dense(5), the whole model trained, the same batch
      of 8 at every step). Before each step the model's weights (trainable ones and BatchNorm
      moving statistics) are put back to the start, while the optimiser keeps its state
      (momentums, velocities, iterations): each step is an update from the same weights at the
      next iteration. A trajectory of three steps cannot be compared at the tolerances of the
      one-step test: ReLU6's kinks make MobileNetV2's gradient jump (by 0.27 between two points
      1.3e-6 apart, measured), so two correct implementations whose first steps agree to 3.6e-7
      are 2.3e-4 apart after the second and 1.6e-2 after the third (SGD at lr 0.001, measured).
      Written: the losses, the learning rate of each step, and every weight after each step,
      sampled: at most SAMPLE values of each weight, at flat indices floor(k * n / m).
  packages/trainers/fixtures/keras/trainers.json
      Keras' optimiser defaults, the learning rate at every step of Keras' schedules for the
      schedules headbench's trainers offer, and for each configuration above the headbench
      trainer that should reproduce it with the engine spec it should give.

Run after make_fixtures.py (it reads train_step_0.35/ and mobilenetv2_0.35_96/weights.h5):

  ~/.cache/headbench/keras-venv/bin/python make_trainer_fixtures.py
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import make_fixtures as mf  # sets KERAS_BACKEND and TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow loads

import numpy as np  # noqa: E402
import keras  # noqa: E402

BACKBONES_OUT = mf.DEFAULT_OUT
TRAINERS_OUT = mf.REPO_ROOT / "packages" / "trainers" / "fixtures" / "keras"
STEPS_DIR = f"optimizer_steps_{mf.REF_ALPHA}"
STEPS = 3
SAMPLE = 64
# Schedules of the fixture's steps count epochs of one step each: a "4 epoch" run is 4 steps.
EPOCHS = 4
STEPS_PER_EPOCH = 1

S = keras.optimizers.schedules


def cosine(lr, total, warmup=0, alpha=0.0):
    """headbench's cosine schedule with warmup, as the Keras schedule it must equal."""
    if warmup == 0:
        return S.CosineDecay(lr, decay_steps=total, alpha=alpha)
    return S.CosineDecay(0.0, decay_steps=total - warmup, alpha=alpha, warmup_target=lr, warmup_steps=warmup)


def step_decay(lr, every, rate):
    return S.ExponentialDecay(lr, decay_steps=every, decay_rate=rate, staircase=True)


T = EPOCHS * STEPS_PER_EPOCH
# name, the headbench trainer, its lr (--lr), the Keras optimiser, label smoothing.
#
# The settings keep each update a smooth function of the gradient, so that the comparison tests
# the optimisers' arithmetic and not float rounding. Keras' BatchNormalization differentiates its
# moments op by op where headbench runs TensorFlow's fused gradient kernel; both are right, and
# their gradients differ by up to ~4e-4 where they reach ~16 (keras-train-step.test.ts). With
# momentum an SGD update grows to 2.7 lr * g by the third step, hence lr 0.01; with Keras' default
# epsilons Adam's and RMSprop's first updates are lr * sign(g) for any |g| above ~3e-6, so such
# rounding could flip single updates by 2 * lr, hence epsilon 1e-2 (which also makes where epsilon
# enters the update visible); the defaults themselves are compared in trainers.json.
EPS = 1e-2
CONFIGS = [
    ("sgd_momentum_weight_decay", "sgd:momentum=0.9,weightDecay=0.1", 0.01,
     lambda: keras.optimizers.SGD(0.01, momentum=0.9, weight_decay=0.1), 0.0),
    ("sgd_nesterov_cosine_warmup", "sgd:momentum=0.9,nesterov=true,schedule=cosine,warmupEpochs=1", 0.01,
     lambda: keras.optimizers.SGD(cosine(0.01, T, warmup=1), momentum=0.9, nesterov=True), 0.0),
    ("sgd_clipnorm_label_smoothing", "sgd:clipNorm=1,labelSmoothing=0.1", 0.01,
     lambda: keras.optimizers.SGD(0.01, clipnorm=1.0), 0.1),
    ("adam", "adam:epsilon=0.01", 0.01,
     lambda: keras.optimizers.Adam(0.01, epsilon=EPS), 0.0),
    ("adam_cosine_label_smoothing", "adam:epsilon=0.01,schedule=cosine,labelSmoothing=0.1", 0.01,
     lambda: keras.optimizers.Adam(cosine(0.01, T), epsilon=EPS), 0.1),
    ("adamw_step_decay", "adamw:epsilon=0.01,weightDecay=0.1,schedule=step,stepEvery=1,stepRate=0.5", 0.01,
     lambda: keras.optimizers.AdamW(step_decay(0.01, 1, 0.5), weight_decay=0.1, epsilon=EPS), 0.0),
    ("rmsprop", "rmsprop:epsilon=0.01", 0.003,
     lambda: keras.optimizers.RMSprop(0.003, epsilon=EPS), 0.0),
    ("rmsprop_centered_momentum_clipnorm", "rmsprop:epsilon=0.01,momentum=0.5,centered=true,clipNorm=1", 0.003,
     lambda: keras.optimizers.RMSprop(0.003, momentum=0.5, centered=True, clipnorm=1.0, epsilon=EPS), 0.0),
]


def engine_spec(optimizer) -> dict:
    """The OptimizerSpec of @headbench/engine that computes what this Keras optimiser does."""
    c = optimizer.get_config()
    assert not c.get("use_ema") and c.get("clipvalue") is None and c.get("global_clipnorm") is None, c
    kind = type(optimizer).__name__
    if kind == "SGD":
        spec = {"name": "sgd", "options": {"momentum": c["momentum"], "nesterov": c["nesterov"]}}
    elif kind in ("Adam", "AdamW"):
        assert not c["amsgrad"]
        spec = {"name": "adam", "options": {"beta1": c["beta_1"], "beta2": c["beta_2"], "epsilon": c["epsilon"]}}
    elif kind == "RMSprop":
        spec = {"name": "rmsprop", "options": {"rho": c["rho"], "momentum": c["momentum"], "epsilon": c["epsilon"], "centered": c["centered"]}}
    else:
        raise ValueError(kind)
    spec["weightDecay"] = c["weight_decay"] or 0
    spec["clipNorm"] = c["clipnorm"] or 0
    return spec


def keras_defaults() -> dict:
    out = {}
    for kind in ("SGD", "Adam", "AdamW", "RMSprop"):
        c = getattr(keras.optimizers, kind)().get_config()
        keep = ["learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "amsgrad", "rho", "centered", "weight_decay", "clipnorm"]
        out[kind] = {k: c[k] for k in keep if k in c}
    return out


def schedule_cases() -> dict:
    lr, epochs, spe = 0.1, 5, 7
    total = epochs * spe
    cases = [
        ("sgd:schedule=cosine", "CosineDecay(0.1, decay_steps=35)", cosine(lr, total)),
        ("sgd:schedule=cosine,warmupEpochs=1", "CosineDecay(0.0, decay_steps=28, warmup_target=0.1, warmup_steps=7)", cosine(lr, total, warmup=spe)),
        ("sgd:schedule=cosine,warmupEpochs=2", "CosineDecay(0.0, decay_steps=21, warmup_target=0.1, warmup_steps=14)", cosine(lr, total, warmup=2 * spe)),
        ("sgd:warmupEpochs=1", "CosineDecay(0.0, decay_steps=28, alpha=1.0, warmup_target=0.1, warmup_steps=7) (constant after warmup)", cosine(lr, total, warmup=spe, alpha=1.0)),
        ("sgd:schedule=step,stepEvery=2,stepRate=0.5", "ExponentialDecay(0.1, decay_steps=14, decay_rate=0.5, staircase=True)", step_decay(lr, 2 * spe, 0.5)),
        ("sgd:schedule=step,stepEvery=1", "ExponentialDecay(0.1, decay_steps=7, decay_rate=0.1, staircase=True)", step_decay(lr, spe, 0.1)),
    ]
    return {
        "lr": lr,
        "epochs": epochs,
        "stepsPerEpoch": spe,
        "cases": [
            {"trainer": t, "keras": k, "values": [float(keras.ops.convert_to_numpy(s(i))) for i in range(total)]}
            for t, k, s in cases
        ],
    }


def sampled(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    n = flat.size
    m = min(n, SAMPLE)
    return flat[[k * n // m for k in range(m)]]


def optimizer_steps(out: Path) -> list[dict]:
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0", "the training step needs TF_ENABLE_ONEDNN_OPTS=0"
    src = BACKBONES_OUT / mf.TRAIN_DIR
    d = out / STEPS_DIR
    d.mkdir(parents=True, exist_ok=True)
    x = np.fromfile(src / "input.bin", dtype="<f4").reshape(mf.TRAIN_BATCH, mf.TRAIN_SIZE, mf.TRAIN_SIZE, 3)
    labels = np.fromfile(src / "labels.bin", dtype="<i4")
    kernel = np.fromfile(src / "dense_kernel.bin", dtype="<f4")
    bias = np.fromfile(src / "dense_bias.bin", dtype="<f4")
    rows = []
    for name, trainer, lr, make, smoothing in CONFIGS:
        keras.backend.clear_session()
        keras.utils.set_random_seed(mf.SEED)
        base = mf.mobilenet_v2(mf.REF_ALPHA, mf.TRAIN_SIZE)
        base.load_weights(str(BACKBONES_OUT / mf.REF_DIR / "weights.h5"))
        dense = keras.layers.Dense(mf.TRAIN_CLASSES, name="dense")
        model = keras.Model(base.input, dense(keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d")(base.output)))
        dense.set_weights([kernel.reshape(-1, mf.TRAIN_CLASSES), bias])
        optimizer = make()
        if smoothing > 0:
            # Keras smooths labels only in the dense loss, on one-hot targets.
            loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
            targets = np.eye(mf.TRAIN_CLASSES, dtype=np.float32)[labels]
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            targets = labels
        model.compile(optimizer=optimizer, loss=loss, jit_compile=False)
        before = mf.named_weights(model)
        start = model.get_weights()
        losses, lrs, parts = [], [], []
        change = [0.0] * len(before)
        for _ in range(STEPS):
            lrs.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
            losses.append(float(model.train_on_batch(x, targets)))
            after = mf.named_weights(model)
            parts.extend(sampled(a).astype("<f4") for _, a in after)
            change = [max(c, float(np.abs(b - a).max())) for c, (_, a), (_, b) in zip(change, before, after)]
            # Back to the start; the optimiser keeps its variables and iterations.
            model.set_weights(start)
        assert all(math.isfinite(v) for v in losses), losses
        assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == STEPS
        file = d / f"{name}.bin"
        np.concatenate(parts).tofile(file)
        moving = [mf.weight_kind(n).startswith("moving_") for n, _ in after]
        rows.append({
            "name": name,
            "trainer": trainer,
            "lr": lr,
            "epochs": EPOCHS,
            "stepsPerEpoch": STEPS_PER_EPOCH,
            "keras": type(optimizer).__name__ + " " + str({k: v for k, v in optimizer.get_config().items() if k in ("learning_rate", "momentum", "nesterov", "weight_decay", "clipnorm", "centered", "rho", "beta_1", "beta_2", "epsilon")}),
            "labelSmoothing": smoothing,
            "engine": engine_spec(optimizer),
            "learningRates": lrs,
            "losses": losses,
            "file": file.name,
            "sha256": mf.sha256(file),
            # The largest change a step made from the start, per kind.
            "maxChange": {
                "trainable": max(c for c, m in zip(change, moving) if not m),
                "moving": max(c for c, m in zip(change, moving) if m),
            },
        })
        print(f"  {name}: losses {', '.join(f'{v:.6f}' for v in losses)}; lr {lrs}", flush=True)
    weights = [{"name": n, "shape": list(a.shape), "sampled": int(min(a.size, SAMPLE))} for n, a in after]
    meta = {
        **mf.versions(),
        "generator": "tools/keras-reference/make_trainer_fixtures.py",
        "description": f"{STEPS} model.train_on_batch steps per optimiser configuration, each from the start of "
        f"{mf.TRAIN_DIR}/ (the weights put back before each step, the optimiser's state carried on; the same "
        "batch at every step); every weight after each step, sampled",
        "start": f"{mf.TRAIN_DIR}/: base weights {mf.REF_DIR}/weights.h5 (by topology), dense_kernel.bin, dense_bias.bin; batch input.bin, labels.bin",
        "steps": STEPS,
        "sampling": f"at most {SAMPLE} values per weight, at flat indices floor(k * n / m) for k < m = min(n, {SAMPLE}); "
        f"each configuration's file holds, for each of the {STEPS} steps in turn, the weights in this order, float32 little-endian",
        "weights": weights,
        "configs": rows,
    }
    mf.dump_json(meta, d / "meta.json")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones-out", type=Path, default=BACKBONES_OUT)
    parser.add_argument("--trainers-out", type=Path, default=TRAINERS_OUT)
    args = parser.parse_args(argv)
    print(f"keras {keras.__version__} -> {args.backbones_out / STEPS_DIR}, {args.trainers_out}", flush=True)
    rows = optimizer_steps(args.backbones_out.resolve())
    args.trainers_out.mkdir(parents=True, exist_ok=True)
    mf.dump_json({
        **mf.versions(),
        "generator": "tools/keras-reference/make_trainer_fixtures.py",
        "defaults": keras_defaults(),
        "schedules": schedule_cases(),
        "optimizerSteps": [{k: r[k] for k in ("name", "trainer", "lr", "epochs", "stepsPerEpoch", "keras", "labelSmoothing", "engine", "learningRates")} for r in rows],
    }, args.trainers_out / "trainers.json")
    total = sum(p.stat().st_size for p in (args.backbones_out / STEPS_DIR).iterdir())
    print(f"  {total:,} bytes in {STEPS_DIR}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
