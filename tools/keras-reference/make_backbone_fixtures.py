#!/usr/bin/env python3
"""Keras reference fixtures for the backbones beyond MobileNetV2.

  python make_backbone_fixtures.py params [--out FILE]
      Parameter counts, feature shapes and the layer list of every backbone
      variant headbench offers, at several input sizes, with and without a
      GAP/Flatten + Dense(5) head: packages/backbones/fixtures/keras/backbones.json.

  python make_backbone_fixtures.py features VARIANT [--size 64] --out DIR
      One forward-pass reference: Keras builds VARIANT with seeded random
      weights (BatchNorm and Normalization statistics randomised too, so they
      matter), saves the weights in the legacy Keras 2 .h5 layout of the
      official keras-applications files, and writes a batch of fixed images
      (input.bin, float32 in [0, 255]), Keras' features for them (features.bin)
      and meta.json. The tests run this at test time for the variants whose
      weight file is too large for the repository.

Variants: mobilenetv3small, mobilenetv3small_0.75, mobilenetv3small_minimalistic,
mobilenetv3large, mobilenetv3large_0.75, efficientnetb0, resnet50, resnet50v2.

Nothing is downloaded. EfficientNet built with weights="imagenet" has one more
layer than with weights=None (a Rescaling by 1/sqrt(stddev)); to record that
model, Keras' download is replaced by a file written from the same model built
with weights=None.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import counts, dump_json, keras2_weight_name, save_weights_keras2_layout, shape_list, versions  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARAMS = REPO_ROOT / "packages" / "backbones" / "fixtures" / "keras" / "backbones.json"

A = keras.applications
VARIANTS = {
    "mobilenetv3small": (A.MobileNetV3Small, {}),
    "mobilenetv3small_0.75": (A.MobileNetV3Small, {"alpha": 0.75}),
    "mobilenetv3small_minimalistic": (A.MobileNetV3Small, {"minimalistic": True}),
    "mobilenetv3large": (A.MobileNetV3Large, {}),
    "mobilenetv3large_0.75": (A.MobileNetV3Large, {"alpha": 0.75}),
    "mobilenetv3large_minimalistic": (A.MobileNetV3Large, {"minimalistic": True}),
    "efficientnetb0": (A.EfficientNetB0, {}),
    "resnet50": (A.ResNet50, {}),
    "resnet50v2": (A.ResNet50V2, {}),
}
SIZES = [32, 75, 96, 160, 224]
CLASSES = 5

# The table (Keras 3.15.1, weights=None, 224, with GAP + Dense(5): total,
# trainable, non-trainable; with Flatten + Dense(5): total): if these
# change, Keras changed an architecture and every fixture is suspect.
SANITY_224 = {
    "mobilenetv3small": (942_005, 929_893, 12_112, 1_080_245),
    "mobilenetv3small_0.75": (585_325, 575_645, 9_680, 689_005),
    "mobilenetv3small_minimalistic": (443_885, 431_773, 12_112, 582_125),
    "mobilenetv3large": (3_001_157, 2_976_757, 24_400, 3_231_557),
    "mobilenetv3large_0.75": (1_812_341, 1_793_253, 19_088, 1_985_141),
    "efficientnetb0": (4_055_976, 4_013_953, 42_023, 4_363_176),
    "resnet50": (23_597_957, 23_544_837, 53_120, 24_089_477),
    "resnet50v2": (23_575_045, 23_529_605, 45_440, 24_066_565),
}

CONFIG_KEYS = [
    "filters", "kernel_size", "strides", "padding", "use_bias", "activation", "axis",
    "epsilon", "momentum", "max_value", "pool_size", "rate", "noise_shape", "scale",
    "offset", "target_shape", "keepdims", "depth_multiplier",
]


def build(variant: str, size: int, weights=None) -> keras.Model:
    fn, kw = VARIANTS[variant]
    return fn(include_top=False, weights=weights, input_shape=(size, size, 3), **kw)


def build_imagenet_layout(variant: str, size: int) -> keras.Model:
    """The model Keras builds with weights="imagenet", without downloading."""
    from keras.src.utils import file_utils

    keras.backend.clear_session()
    donor = build(variant, size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.h5"
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, donor)
        saved = file_utils.get_file
        file_utils.get_file = lambda *a, **k: str(path)
        try:
            keras.backend.clear_session()
            return build(variant, size, weights="imagenet")
        finally:
            file_utils.get_file = saved


def describe_operations(model: keras.Model) -> list[dict]:
    """Every operation of the functional graph in order: layers and the ops Keras 3 records
    for arithmetic on tensors (MobileNetV3's hard sigmoid `x + 3`, `* (1/6)`)."""
    layer_ids = {id(layer) for layer in model.layers}
    rows = []
    for op in model.operations:
        is_layer = id(op) in layer_ids
        row = {"name": op.name, "className": type(op).__name__, "kind": "layer" if is_layer else "op"}
        if is_layer:
            cfg = op.get_config()
            row["config"] = {k: cfg[k] for k in CONFIG_KEYS if k in cfg}
            row["outputShape"] = shape_list(op.output.shape)
            row["weights"] = [
                {"name": keras2_weight_name(op, v), "shape": list(v.shape), "trainable": bool(v.trainable)}
                for v in legacy_h5_format._legacy_weights(op)
            ]
        else:
            node = op._inbound_nodes[0]
            row["constants"] = [float(a) for a in node.arguments.args if isinstance(a, (int, float))]
        rows.append(row)
    return rows


def head_counts(base: keras.Model, kind: str) -> tuple[dict, dict, int]:
    pool = keras.layers.GlobalAveragePooling2D() if kind == "gap" else keras.layers.Flatten()
    dense = keras.layers.Dense(CLASSES)
    model = keras.Model(base.input, dense(pool(base.output)))
    whole = counts(model)
    base.trainable = False
    frozen = counts(model)
    base.trainable = True
    return whole, frozen, dense.count_params()


def params(out: Path) -> None:
    rows, layers = [], {}
    for variant in VARIANTS:
        for size in SIZES:
            for weights in ([None, "imagenet"] if variant == "efficientnetb0" else [None]):
                if weights == "imagenet":
                    base = build_imagenet_layout(variant, size)
                else:
                    keras.backend.clear_session()
                    base = build(variant, size)
                trainable = counts(base)
                base.trainable = False
                frozen = counts(base)
                base.trainable = True
                row = {
                    "variant": variant,
                    "size": size,
                    "weights": weights or "none",
                    "layers": len(base.layers),
                    "operations": len(base.operations),
                    "output": shape_list(base.output.shape[1:]),
                    **trainable,
                    "frozen": frozen,
                    "heads": {},
                }
                for kind in ("gap", "flatten"):
                    whole, whole_frozen, head = head_counts(base, kind)
                    row["heads"][kind] = {**whole, "frozen": whole_frozen, "headParams": head}
                rows.append(row)
                if size == 224:
                    layers[variant if weights is None else f"{variant}@imagenet"] = describe_operations(base)
                print(f"  {variant} {size} {weights or 'none'}: {trainable['total']:,}", flush=True)
    for variant, expected in SANITY_224.items():
        r = next(r for r in rows if r["variant"] == variant and r["size"] == 224 and r["weights"] == "none")
        gap = r["heads"]["gap"]
        got = (gap["total"], gap["trainable"], gap["nonTrainable"], r["heads"]["flatten"]["total"])
        assert got == expected, f"{variant}: {got} != {expected}"
    dump_json(
        {
            "meta": {
                **versions(),
                "generator": "tools/keras-reference/make_backbone_fixtures.py params",
                "model": "keras.applications.<Name>(include_top=False, weights=None, input_shape=(size, size, 3), **options); "
                "weights=imagenet rows: the model Keras builds with weights='imagenet'",
                "heads": f"base.output -> GlobalAveragePooling2D | Flatten -> Dense({CLASSES}); headParams counts the Dense layer",
                "frozen": "after base.trainable = False",
                "layerLists": "model.operations at 224: layers, and the ops Keras 3 records for tensor arithmetic",
            },
            "rows": rows,
            "layers": layers,
        },
        out,
    )
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


def randomise_statistics(model: keras.Model, seed: int) -> None:
    """Fresh BatchNorm/Normalization layers are (almost) the identity at inference, which would
    hide a wrong epsilon or a swapped mean and variance: give every one random statistics."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign((rng.standard_normal(n) * 0.1).astype(np.float32))
            layer.moving_mean.assign((rng.standard_normal(n) * 0.1).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
        elif isinstance(layer, keras.layers.Normalization):
            # ImageNet's statistics of [0, 1] images, as the official EfficientNet file holds.
            # Keras 3 keeps them as variables adapt_mean, adapt_variance, count and computes
            # with tensors made from them in finalize_state().
            mean = np.array([0.485, 0.456, 0.406], np.float32)
            variance = np.array([0.229, 0.224, 0.225], np.float32) ** 2
            layer.set_weights([mean, variance, np.array(1281167, np.int64)])
            layer.finalize_state()


def features(variant: str, size: int, out: Path, seed: int = 1234, batch: int = 2) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build(variant, size)
    randomise_statistics(model, seed)
    images = np.random.default_rng(seed + 1).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    if variant.startswith("resnet50") and variant != "resnet50v2":
        from keras.applications.resnet50 import preprocess_input
    elif variant == "resnet50v2":
        from keras.applications.resnet_v2 import preprocess_input
    else:
        preprocess_input = lambda x: x  # noqa: E731  (rescaled inside the model)
    feats = model.predict(preprocess_input(images.copy()), verbose=0)
    save_weights_keras2_layout(out / "weights.h5", model)
    (out / "input.bin").write_bytes(images.astype("<f4").tobytes())
    (out / "features.bin").write_bytes(feats.astype("<f4").tobytes())
    meta = {
        **versions(),
        "generator": f"tools/keras-reference/make_backbone_fixtures.py features {variant} --size {size}",
        "variant": variant,
        "size": size,
        "batch": batch,
        "featureShape": list(feats.shape[1:]),
        "featureAbsMax": float(np.abs(feats).max()),
        "featureAbsMean": float(np.abs(feats).mean()),
        "input": "float32 [0, 255] images; Keras' preprocess_input applied before predict",
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}: features {list(feats.shape)} |max| {meta['featureAbsMax']:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params")
    p.add_argument("--out", type=Path, default=DEFAULT_PARAMS)
    f = sub.add_parser("features")
    f.add_argument("variant", choices=sorted(VARIANTS))
    f.add_argument("--size", type=int, default=64)
    f.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "params":
        params(args.out)
    else:
        features(args.variant, args.size, args.out)


if __name__ == "__main__":
    main()
