#!/usr/bin/env python3
"""Write Keras reference fixtures for the TypeScript MobileNetV2 implementation.

The TS code in packages/backbones re-implements MobileNetV2 and loads the
official Keras `.h5` weight files. We cannot run Keras in the TS tests, so this
script runs a *real* Keras once and freezes what it computes into small files:

  params.json                  parameter / layer counts for many alpha x size
                               combinations, with and without a GAP/Flatten +
                               Dense head, trainable and with a frozen base.
  mobilenetv2_0.35_96/         one complete forward-pass reference: weights in
                               the legacy Keras HDF5 layout, an input batch,
                               the Keras output, and a layer-by-layer
                               description of the graph.
  train_step_0.35/             one training step (train_on_batch, SGD) of the
                               same base weights plus a GAP + Dense head: the
                               batch, the head's starting weights, the loss
                               and every weight after the step.

Usage (see README.md for setting up the venv):

  python make_fixtures.py [--out DIR]

Nothing is downloaded: every model is built with weights=None.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

# These must be set before TensorFlow is imported.
# - KERAS_BACKEND: a user keras.json could select jax/torch; the fixtures are
#   defined as "what Keras on TensorFlow computes".
# - TF_ENABLE_ONEDNN_OPTS=0: oneDNN picks kernels by CPU ISA, which makes the
#   last bits of the output machine dependent. Plain Eigen kernels keep
#   regeneration reproducible across machines. The training step needs it for
#   correctness too: TF 2.21's oneDNN Conv2DBackpropInput is wrong for 1x1
#   convolutions with some input channel counts (112, Conv_1's here); README.md.
# - CUDA_VISIBLE_DEVICES: CPU only, for the same reason.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

# Keras 3 keeps the Keras 2 by-topology HDF5 code here; we reuse its attribute
# writer (it splits attributes larger than the HDF5 object-header limit into
# `name0`, `name1`, ... exactly like Keras 2 did) and its weight ordering.
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "packages" / "backbones" / "fixtures" / "keras"

ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4]
# 32 is the smallest input Keras' MobileNetV2 accepts.
SIZES = [32, 96, 128, 160, 192, 224]
HEAD_KINDS = ["gap", "flatten"]
HEAD_CLASSES = [5, 10]

SEED = 1234
REF_ALPHA = 0.35
REF_SIZE = 96
REF_BATCH = 2
REF_DIR = f"mobilenetv2_{REF_ALPHA}_{REF_SIZE}"

# Well-known Keras numbers. If these ever change, Keras changed the
# architecture and every fixture is suspect, so stop instead of writing them.
SANITY = {
    (0.35, 224): (410_208, 396_128, 14_080),
    (0.5, 224): (706_224, 687_680, 18_544),
    (1.0, 224): (2_257_984, 2_223_872, 34_112),
}
SANITY_FLATTEN_5_035_224 = 313_605


# --------------------------------------------------------------------------
# small helpers


def n_params(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def counts(model: keras.Model) -> dict:
    trainable = n_params(model.trainable_weights)
    non_trainable = n_params(model.non_trainable_weights)
    return {
        "total": trainable + non_trainable,
        "trainable": trainable,
        "nonTrainable": non_trainable,
    }


def mobilenet_v2(alpha: float, size: int) -> keras.Model:
    return keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, weights=None, alpha=alpha
    )


def shape_list(shape) -> list:
    return [None if d is None else int(d) for d in shape]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def to_jsonable(x):
    """Tuples -> lists, numpy scalars -> Python scalars (recursively)."""
    if isinstance(x, dict):
        return {k: to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def dump_json(obj, path: Path) -> None:
    """Readable but compact JSON: objects are expanded down to two levels,
    lists of objects get one object per line ("one row per object"), and
    everything else is written inline."""

    def compact(v) -> str:
        return json.dumps(v, separators=(", ", ": "))

    def fmt(v, level: int) -> str:
        pad = "  " * (level + 1)
        end = "  " * level
        if isinstance(v, dict) and level < 2 and len(compact(v)) > 100:
            items = [f"{pad}{json.dumps(k)}: {fmt(x, level + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + end + "}"
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            return "[\n" + ",\n".join(pad + compact(x) for x in v) + "\n" + end + "]"
        return compact(v)

    path.write_text(fmt(to_jsonable(obj), 0) + "\n")


def versions() -> dict:
    return {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "h5py": h5py.__version__,
        "numpy": np.__version__,
        "backend": keras.backend.backend(),
        "generator": "tools/keras-reference/make_fixtures.py",
    }


# --------------------------------------------------------------------------
# (a) params.json


def param_tables() -> dict:
    bases, heads = [], []
    for alpha in ALPHAS:
        for size in SIZES:
            # Fresh session per model: keeps memory flat and layer names
            # un-suffixed; counts do not depend on it.
            keras.backend.clear_session()
            base = mobilenet_v2(alpha, size)
            trainable = counts(base)
            base.trainable = False
            frozen = counts(base)
            base.trainable = True
            bases.append(
                {
                    "alpha": alpha,
                    "size": size,
                    # len(model.layers), i.e. including the InputLayer.
                    "layers": len(base.layers),
                    "output": shape_list(base.output.shape[1:]),
                    **trainable,
                    "frozen": frozen,
                }
            )

            for kind in HEAD_KINDS:
                for classes in HEAD_CLASSES:
                    # Build on base.output (not base(inputs)) so the head is a
                    # flat functional graph like the TS side builds it; the
                    # base layers are shared, so freezing `base` freezes them
                    # in `model` as well.
                    pool = (
                        keras.layers.GlobalAveragePooling2D()
                        if kind == "gap"
                        else keras.layers.Flatten()
                    )
                    dense = keras.layers.Dense(classes)  # logits, no softmax
                    model = keras.Model(base.input, dense(pool(base.output)))
                    whole = counts(model)
                    base.trainable = False
                    whole_frozen = counts(model)
                    base.trainable = True
                    heads.append(
                        {
                            "alpha": alpha,
                            "size": size,
                            "head": kind,
                            "classes": classes,
                            "headParams": dense.count_params(),
                            **whole,
                            "frozen": whole_frozen,
                        }
                    )
            print(f"  params alpha={alpha} size={size}: {trainable['total']:,}", flush=True)

    by_key = {(r["alpha"], r["size"]): r for r in bases}
    for key, (total, tr, ntr) in SANITY.items():
        r = by_key[key]
        got = (r["total"], r["trainable"], r["nonTrainable"])
        assert got == (total, tr, ntr), f"MobileNetV2 {key}: {got} != {(total, tr, ntr)}"
    flat5 = next(
        h for h in heads
        if (h["alpha"], h["size"], h["head"], h["classes"]) == (0.35, 224, "flatten", 5)
    )
    assert flat5["headParams"] == SANITY_FLATTEN_5_035_224, flat5

    return {
        "meta": {
            **versions(),
            "model": "keras.applications.MobileNetV2(input_shape=(size,size,3), "
            "include_top=False, weights=None, alpha=alpha)",
            "frozen": "same model after base.trainable = False",
            "heads": "base.output -> GlobalAveragePooling2D | Flatten -> Dense(classes) "
            "(no activation); headParams counts the Dense layer only",
            "layers": "len(model.layers), including the InputLayer",
        },
        "base": bases,
        "heads": heads,
    }


# --------------------------------------------------------------------------
# (b) mobilenetv2_0.35_96/

# Keras 3 renamed DepthwiseConv2D's variable from `depthwise_kernel` to
# `kernel`. The official weight files were written by Keras 2, so we write the
# Keras 2 name to make the fixture look like them.
KERAS2_VARIABLE_NAMES = {"DepthwiseConv2D": {"kernel": "depthwise_kernel"}}


def keras2_weight_name(layer, variable) -> str:
    """`<layer>/<variable>:0`, the TF1/tf.keras `Variable.name` Keras 2 stored."""
    name = KERAS2_VARIABLE_NAMES.get(type(layer).__name__, {}).get(variable.name, variable.name)
    return f"{layer.name}/{name}:0"


def save_weights_keras2_layout(path: Path, model: keras.Model) -> None:
    """Write `model`'s weights exactly the way Keras 2's
    `save_weights_to_hdf5_group` did, which is the layout of the official
    `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_*_no_top.h5` files.

    Why not Keras 3's own `legacy_h5_format.save_weights_to_hdf5_group`? It
    keeps the structure but (1) names datasets by `Variable.path`, so there is
    no `:0` suffix and depthwise kernels are called `kernel`, and (2) adds an
    extra `top_level_model_weights` group. A TS loader tested only against
    that would not be tested against the real files. `main()` checks that both
    writers store identical arrays in identical order.
    """
    with h5py.File(path, "w") as f:
        # Strings go in as numpy arrays: Keras 2 ran on h5py 2, which turned
        # every attribute into a numpy array first, giving fixed-length ASCII
        # strings (|S<n>). h5py 3, handed a Python list or bytes, writes
        # variable-length strings instead (that is what Keras 3's own writer
        # produces). An empty list becomes an empty float64 array in both.
        #
        # Every layer is listed, including weightless ones (InputLayer, ReLU,
        # ZeroPadding2D, Add); the by-topology loader skips those whose
        # `weight_names` is empty.
        legacy_h5_format.save_attributes_to_hdf5_group(
            f, "layer_names", np.asarray([layer.name.encode("utf8") for layer in model.layers])
        )
        f.attrs["backend"] = np.asarray(keras.backend.backend().encode("utf8"))
        f.attrs["keras_version"] = np.asarray(str(keras.__version__).encode("utf8"))
        # Sorted like Keras does (avoids prefix issues between group names).
        for layer in sorted(model.layers, key=lambda layer: layer.name):
            group = f.create_group(layer.name)
            # Legacy order: trainable weights first, then non-trainable; for
            # BatchNormalization that is gamma, beta, moving_mean, moving_variance.
            variables = legacy_h5_format._legacy_weights(layer)
            names = [keras2_weight_name(layer, v).encode("utf8") for v in variables]
            legacy_h5_format.save_attributes_to_hdf5_group(group, "weight_names", np.asarray(names))
            for name, v in zip(names, variables):
                # The name contains "/", so h5py creates an intermediate
                # group: /<layer>/<layer>/<variable>:0 -- same as Keras 2.
                group.create_dataset(name.decode("utf8"), data=keras.ops.convert_to_numpy(v))


def read_weight_arrays(path: Path) -> list[tuple[str, list[np.ndarray]]]:
    """(layer name, [arrays in weight_names order]) in `layer_names` order,
    skipping layers without weights -- i.e. what by-topology loading consumes."""
    out = []
    with h5py.File(path, "r") as f:
        for layer in legacy_h5_format.load_attributes_from_hdf5_group(f, "layer_names"):
            g = f[layer]
            names = legacy_h5_format.load_attributes_from_hdf5_group(g, "weight_names")
            if names:
                out.append((layer, [np.asarray(g[n]) for n in names]))
    return out


def build_reference_model() -> keras.Model:
    """alpha=0.35, 96x96 MobileNetV2 with seeded, non-trivial BatchNorm.

    Freshly built BN layers have gamma=1, beta=0, mean=0, var=1, i.e. are
    (almost) the identity in inference mode, so a TS implementation that got
    BN wrong (wrong epsilon, mean/variance swapped, ...) would still match.
    Randomising all four makes every BN layer matter.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)  # conv kernels come from Keras' initializers
    model = mobilenet_v2(REF_ALPHA, REF_SIZE)
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign((rng.standard_normal(n) * 0.1).astype(np.float32))
            layer.moving_mean.assign((rng.standard_normal(n) * 0.1).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
    return model


def inbound_layers(model: keras.Model) -> dict[str, list[str]]:
    """Layer name -> names of the layers feeding it, from the functional config."""

    def histories(node) -> list[str]:
        if isinstance(node, dict):
            if "keras_history" in node.get("config", {}):
                return [node["config"]["keras_history"][0]]
            return [h for v in node.values() for h in histories(v)]
        if isinstance(node, (list, tuple)):
            return [h for v in node for h in histories(v)]
        return []

    return {
        layer["name"]: histories(layer.get("inbound_nodes", []))
        for layer in model.get_config()["layers"]
    }


# Config keys a re-implementation needs to get the numbers right.
CONFIG_KEYS = [
    "filters", "kernel_size", "strides", "padding", "dilation_rate",
    "depth_multiplier", "use_bias", "activation", "axis", "epsilon",
    "momentum", "center", "scale", "max_value", "negative_slope", "threshold",
]


def describe_layers(model: keras.Model) -> list[dict]:
    inbound = inbound_layers(model)
    rows = []
    for i, layer in enumerate(model.layers):
        cfg = layer.get_config()
        rows.append(
            {
                "index": i,
                "name": layer.name,
                "className": type(layer).__name__,
                "inbound": inbound.get(layer.name, []),
                "outputShape": shape_list(layer.output.shape),
                "config": {k: cfg[k] for k in CONFIG_KEYS if k in cfg},
                # Legacy (file) order, so row i of `weights` is dataset i.
                "weights": [
                    {
                        "name": v.name,
                        "h5Name": keras2_weight_name(layer, v),
                        "shape": list(v.shape),
                        "trainable": bool(v.trainable),
                    }
                    for v in legacy_h5_format._legacy_weights(layer)
                ],
            }
        )
    return rows


def h5_dump(path: Path) -> list[str]:
    """Human-readable listing of the HDF5 file (root attributes + h5py visit)."""

    def attr_text(value) -> str:
        if isinstance(value, np.ndarray):
            if value.size == 0:
                return f"<empty {value.dtype} array, shape {value.shape}>"
            items = [x.decode() if isinstance(x, bytes) else x for x in value.tolist()]
            if len(items) > 6:
                return f"[{value.dtype} x {value.size}] {items[:4]} ... {items[-1:]}"
            return f"[{value.dtype} x {value.size}] {items}"
        if isinstance(value, bytes):
            return f"{bytes(value)!r} ({len(value)}-byte fixed-length string)"
        return repr(value)

    lines = []
    with h5py.File(path, "r") as f:
        lines.append("/  (file root)")
        for k, v in f.attrs.items():
            lines.append(f"    @{k} = {attr_text(v)}")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                lines.append(f"/{name}  dataset shape={obj.shape} dtype={obj.dtype}")
            else:
                lines.append(f"/{name}/  group")
            for k, v in obj.attrs.items():
                lines.append(f"    @{k} = {attr_text(v)}")

        f.visititems(visit)
    return lines


def attr_kind(obj, name: str) -> str:
    """How an HDF5 attribute is stored, in the terms a TS HDF5 reader sees."""
    attr = obj.attrs.get_id(name)
    htype, shape = attr.get_type(), attr.shape
    if isinstance(htype, h5py.h5t.TypeStringID):
        cset = "UTF-8" if htype.get_cset() == h5py.h5t.CSET_UTF8 else "ASCII"
        if htype.is_variable_str():
            return f"variable-length {cset} string, shape {shape}"
        return f"fixed-length {cset} string |S{htype.get_size()}, shape {shape}"
    return f"{obj.attrs[name].dtype}, shape {shape}"


def h5_layout(path: Path, native_path: Path) -> dict:
    def text(v):
        return v.decode() if isinstance(v, bytes) else str(v)

    with h5py.File(path, "r") as f:
        names = [text(n) for n in f.attrs["layer_names"]]
        with_weights = [n for n in names if len(f[n].attrs["weight_names"]) > 0]
        weightless = next(n for n in names if n not in with_weights)
        kinds = {
            "layer_names": attr_kind(f, "layer_names"),
            "backend": attr_kind(f, "backend"),
            "keras_version": attr_kind(f, "keras_version"),
            "weight_names": attr_kind(f["Conv1"], "weight_names"),
            "weight_names (weightless layer)": attr_kind(f[weightless], "weight_names"),
        }
    with h5py.File(native_path, "r") as f:
        native = {
            "Conv1": [text(n) for n in f["Conv1"].attrs["weight_names"]],
            "expanded_conv_depthwise": [
                text(n) for n in f["expanded_conv_depthwise"].attrs["weight_names"]
            ],
            "layer_names": attr_kind(f, "layer_names"),
            "weight_names": attr_kind(f["Conv1"], "weight_names"),
            "top_level_model_weights": (
                f"present, {len(f['top_level_model_weights'].attrs['weight_names'])} weight names"
                if "top_level_model_weights" in f
                else "absent"
            ),
        }
    return {
        "format": "Keras 2 legacy save_weights HDF5 (read by topology), the layout of the official "
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_<alpha>_<size>_no_top.h5 files",
        "rootAttrs": {
            "layer_names": "every layer name in model order, including weightless layers "
            "(Keras splits it into layer_names0, layer_names1, ... only above 64512 bytes)",
            "backend": "tensorflow",
            "keras_version": f"{keras.__version__} here (the official files carry a Keras 2 version)",
        },
        "attrStorage": kinds,
        "layerNames": len(names),
        "layersWithWeights": len(with_weights),
        "layerGroup": "/<layer_name> for every layer (weightless ones too), with attr weight_names",
        "datasetPath": "/<layer_name>/<weight_name>; weight_name is '<layer_name>/<variable>:0', so "
        "h5py nests it: /<layer_name>/<layer_name>/<variable>:0, e.g. /Conv1/Conv1/kernel:0",
        "variableNames": {
            "Conv2D": ["kernel:0"],
            "DepthwiseConv2D": ["depthwise_kernel:0"],
            "BatchNormalization": ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"],
        },
        "datasets": "float32, Keras layouts: Conv2D kernel [kh,kw,in,out], "
        "DepthwiseConv2D kernel [kh,kw,in,depth_multiplier]; no compression or chunking",
        "loading": "Keras loads by topology: the layer_names entries with non-empty weight_names are "
        "matched in order to the model layers that have weights; names are not compared",
        "keras3NativeWriter": {
            "function": "keras.src.legacy.saving.legacy_h5_format.save_weights_to_hdf5_group",
            "differences": native,
            "arrays": "identical values in identical order (checked by make_fixtures.py)",
        },
    }


def reference_fixture(out: Path) -> dict:
    d = out / REF_DIR
    d.mkdir(parents=True, exist_ok=True)
    weights_path = d / "weights.h5"

    model = build_reference_model()

    # Inputs as MobileNetV2 expects them after preprocess_input, i.e. in [-1, 1].
    # Separate generator so the input does not depend on the BN draws above.
    x = np.random.default_rng(SEED + 1).uniform(-1.0, 1.0, (REF_BATCH, REF_SIZE, REF_SIZE, 3))
    x = x.astype(np.float32)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (REF_BATCH, 3, 3, 1280), y.shape
    assert np.isfinite(y).all()

    save_weights_keras2_layout(weights_path, model)
    layers = describe_layers(model)

    # Reference writer from Keras 3 itself, into a temp file, to prove our
    # Keras-2-layout writer stores the same arrays in the same order.
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / "keras3_native.h5"
        with h5py.File(native, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        ours, theirs = read_weight_arrays(weights_path), read_weight_arrays(native)
        assert [n for n, _ in ours] == [n for n, _ in theirs]
        for (name, a), (_, b) in zip(ours, theirs):
            assert len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b)), name
        layout = h5_layout(weights_path, native)

        # Reload both files into fresh, differently-initialised models with
        # the ordinary Keras API (a plain `.h5` name -> legacy by-topology
        # loader) and require bit-identical outputs.
        for path in (weights_path, native):
            keras.backend.clear_session()
            keras.utils.set_random_seed(SEED + 99)
            fresh = mobilenet_v2(REF_ALPHA, REF_SIZE)
            before = keras.ops.convert_to_numpy(fresh(x, training=False))
            assert not np.array_equal(before, y), "fresh model already matches?"
            fresh.load_weights(str(path))
            for a, b in zip(model.weights, fresh.weights):
                assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)), a.path
            again = keras.ops.convert_to_numpy(fresh(x, training=False))
            assert np.array_equal(again, y), f"reload of {path.name} changed the output"

    x.astype("<f4").tofile(d / "input.bin")
    y.astype("<f4").tofile(d / "features.bin")

    dump = h5_dump(weights_path)
    (d / "h5-layout.txt").write_text(
        f"# h5py listing of weights.h5 (first 40 of {len(dump)} lines), written by make_fixtures.py\n"
        "# A dataset name contains '/', hence /<layer>/<layer>/<variable>:0.\n"
        + "\n".join(dump[:40])
        + "\n...\n"
    )

    meta = {
        **versions(),
        "description": "Keras MobileNetV2 (alpha 0.35, 96x96, include_top=False, weights=None) "
        "with seeded weights and randomised BatchNorm; features = model(input, training=False)",
        "model": {
            "alpha": REF_ALPHA,
            "size": REF_SIZE,
            "includeTop": False,
            "weights": None,
            **counts(model),
            "layers": len(model.layers),
        },
        "seed": SEED,
        "seeding": {
            "kernels": "keras.utils.set_random_seed(seed) before building (Keras default initializers)",
            "batchNorm": "np.random.default_rng(seed), per BN layer in model order: "
            "gamma~U(0.5,1.5), beta~N(0,1)*0.1, moving_mean~N(0,1)*0.1, moving_variance~U(0.5,1.5)",
            "input": "np.random.default_rng(seed + 1).uniform(-1, 1)",
        },
        "files": {
            "input.bin": {
                "dtype": "float32",
                "byteOrder": "little",
                "shape": list(x.shape),
                "layout": "NHWC",
                "range": [-1, 1],
                "sha256": sha256(d / "input.bin"),
            },
            "features.bin": {
                "dtype": "float32",
                "byteOrder": "little",
                "shape": list(y.shape),
                "layout": "NHWC",
                "maxAbs": float(np.abs(y).max()),
                "mean": float(y.mean()),
                "fractionZero": float((y == 0).mean()),
                "fractionSix": float((y == 6).mean()),
                "sha256": sha256(d / "features.bin"),
            },
            "weights.h5": {"sha256": sha256(weights_path)},
            "h5-layout.txt": "first 40 lines of an h5py listing of weights.h5",
        },
        "h5Layout": layout,
        "layers": layers,
    }
    dump_json(meta, d / "meta.json")
    return meta


# --------------------------------------------------------------------------
# (c) train_step_0.35/

TRAIN_SIZE = 64
TRAIN_BATCH = 8  # a power of two, so Keras' loss tracker (sum * n / n) returns the loss exactly
TRAIN_CLASSES = 5
TRAIN_LR = 0.1
TRAIN_DIR = f"train_step_{REF_ALPHA}"


def weight_kind(name: str) -> str:
    """`Conv1/kernel:0` -> `kernel`."""
    return name.split("/")[-1].split(":")[0]


def update_sizes(before: list[tuple[str, np.ndarray]], after: list[tuple[str, np.ndarray]]) -> dict:
    """Per kind of weight (kernel, gamma, moving_variance, ...): the largest change one step made
    and where, so a test can check that its tolerance is far below what the step changes."""
    sizes: dict[str, dict] = {}
    for (name, a), (_, b) in zip(before, after):
        change = float(np.abs(b - a).max())
        row = sizes.setdefault(weight_kind(name), {"weights": 0, "changed": 0, "maxAbsChange": 0.0})
        row["weights"] += 1
        row["changed"] += int(change > 0)
        if change >= row["maxAbsChange"]:
            row["maxAbsChange"], row["at"] = change, name
    return sizes


def named_weights(model: keras.Model) -> list[tuple[str, np.ndarray]]:
    """Every weight in the legacy file order, under its Keras 2 name."""
    return [
        (keras2_weight_name(layer, v), keras.ops.convert_to_numpy(v).copy())
        for layer in model.layers
        for v in legacy_h5_format._legacy_weights(layer)
    ]


def train_step_fixture(out: Path) -> dict:
    """One `train_on_batch` step of the reference base weights with a GAP -> Dense(5) head.

    The base is MobileNetV2 alpha 0.35 at 64x64 (small and fast) loaded by topology from
    mobilenetv2_0.35_96/weights.h5, the file the TS test loads too; the whole model is
    trainable, so every kernel, gamma and beta takes an SGD step and every BatchNorm layer
    runs in training mode and updates its moving statistics (momentum 0.999).
    """
    # See the TF_ENABLE_ONEDNN_OPTS note at the top: with oneDNN the step itself is wrong.
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0", "the training step needs TF_ENABLE_ONEDNN_OPTS=0"
    d = out / TRAIN_DIR
    d.mkdir(parents=True, exist_ok=True)
    weights_path = d / "weights_after.h5"

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    base = mobilenet_v2(REF_ALPHA, TRAIN_SIZE)
    base.load_weights(str(out / REF_DIR / "weights.h5"))
    pool = keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d")
    dense = keras.layers.Dense(TRAIN_CLASSES, name="dense")  # logits, no softmax
    model = keras.Model(base.input, dense(pool(base.output)))

    # Head, input batch and labels from numpy, so they do not depend on Keras' initializers.
    rng = np.random.default_rng(SEED + 2)
    features = base.output.shape[-1]
    limit = math.sqrt(6 / (features + TRAIN_CLASSES))  # glorot_uniform, Keras' Dense default
    kernel = rng.uniform(-limit, limit, (features, TRAIN_CLASSES)).astype(np.float32)
    bias = (rng.standard_normal(TRAIN_CLASSES) * 0.1).astype(np.float32)
    dense.set_weights([kernel, bias])
    x = rng.uniform(-1.0, 1.0, (TRAIN_BATCH, TRAIN_SIZE, TRAIN_SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, TRAIN_CLASSES, TRAIN_BATCH).astype(np.int32)

    # jit_compile=False is what "auto" picks on a CPU-only machine; explicit so a GPU/XLA
    # machine computes the same thing.
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=TRAIN_LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    before = named_weights(model)
    snapshot = model.get_weights()

    # A training-mode forward pass updates the BatchNorm moving statistics, so put every weight
    # back afterwards: train_on_batch must start from the same state.
    logits = model(x, training=True)
    loss_forward = float(keras.ops.convert_to_numpy(model.loss(labels, logits)))
    model.set_weights(snapshot)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(before, named_weights(model)))

    loss = float(model.train_on_batch(x, labels))
    assert math.isfinite(loss), loss
    after = named_weights(model)
    sizes = update_sizes(before, after)
    # The step must reach every weight: an untouched one would be compared to itself.
    for kind, row in sizes.items():
        assert row["changed"] == row["weights"], (kind, row)

    save_weights_keras2_layout(weights_path, model)
    written = [a for _, arrays in read_weight_arrays(weights_path) for a in arrays]
    assert len(written) == len(after)
    for a, (name, b) in zip(written, after):
        assert np.array_equal(a, b), name

    x.astype("<f4").tofile(d / "input.bin")
    labels.astype("<i4").tofile(d / "labels.bin")
    kernel.astype("<f4").tofile(d / "dense_kernel.bin")
    bias.astype("<f4").tofile(d / "dense_bias.bin")

    meta = {
        **versions(),
        "description": "One model.train_on_batch(input, labels) step of MobileNetV2 alpha 0.35 at "
        f"{TRAIN_SIZE}x{TRAIN_SIZE} (include_top=False, whole model trainable) with the weights of "
        f"{REF_DIR}/weights.h5 -> GlobalAveragePooling2D -> Dense({TRAIN_CLASSES}) logits",
        "model": {
            "alpha": REF_ALPHA,
            "size": TRAIN_SIZE,
            "classes": TRAIN_CLASSES,
            "baseWeights": f"{REF_DIR}/weights.h5 (loaded by topology)",
            "head": f"GlobalAveragePooling2D -> Dense({TRAIN_CLASSES}), no activation",
            **counts(model),
            "batchNorm": "epsilon 1e-3, momentum 0.999 (training mode: batch statistics; "
            "moving = moving * momentum + batch * (1 - momentum), biased batch variance)",
        },
        "compile": {
            "optimizer": f"keras.optimizers.SGD(learning_rate={TRAIN_LR})",
            "loss": "keras.losses.SparseCategoricalCrossentropy(from_logits=True) "
            "(mean over the batch)",
            "jitCompile": False,
        },
        "seed": SEED,
        "seeding": {
            "generator": "np.random.default_rng(seed + 2), drawn in this order",
            "denseKernel": f"U(-l, l), l = sqrt(6 / ({features} + {TRAIN_CLASSES})) (glorot_uniform)",
            "denseBias": "N(0, 1) * 0.1",
            "input": "U(-1, 1)",
            "labels": f"integers in [0, {TRAIN_CLASSES})",
        },
        "labels": labels.tolist(),
        "loss": loss,
        "lossForward": loss_forward,
        "lossNote": "loss is what train_on_batch returned; lossForward is the same loss from "
        "model(input, training=True) on the starting weights, run before the step and undone",
        "updates": sizes,
        "files": {
            "input.bin": {
                "dtype": "float32",
                "byteOrder": "little",
                "shape": list(x.shape),
                "layout": "NHWC",
                "range": [-1, 1],
                "sha256": sha256(d / "input.bin"),
            },
            "labels.bin": {
                "dtype": "int32",
                "byteOrder": "little",
                "shape": list(labels.shape),
                "sha256": sha256(d / "labels.bin"),
            },
            "dense_kernel.bin": {
                "dtype": "float32",
                "byteOrder": "little",
                "shape": list(kernel.shape),
                "when": "before the step",
                "sha256": sha256(d / "dense_kernel.bin"),
            },
            "dense_bias.bin": {
                "dtype": "float32",
                "byteOrder": "little",
                "shape": list(bias.shape),
                "when": "before the step",
                "sha256": sha256(d / "dense_bias.bin"),
            },
            "weights_after.h5": {
                "layout": f"as {REF_DIR}/weights.h5 (Keras 2 legacy save_weights, by topology), "
                "for the whole model: the base's layers, then the dense layer",
                "when": "after the step: trainable weights and BatchNorm moving statistics",
                "sha256": sha256(weights_path),
            },
        },
    }
    dump_json(meta, d / "meta.json")
    return meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    print(f"keras {keras.__version__} / tensorflow {tf.__version__} -> {out}", flush=True)
    meta = reference_fixture(out)
    f = meta["files"]["features.bin"]
    print(f"  {REF_DIR}: features maxAbs={f['maxAbs']:.4f} zero={f['fractionZero']:.3f} "
          f"six={f['fractionSix']:.3f}; weights.h5 reloads bit-identically", flush=True)

    step = train_step_fixture(out)
    print(f"  {TRAIN_DIR}: loss={step['loss']:.7f} (forward pass {step['lossForward']:.7f})", flush=True)

    dump_json(param_tables(), out / "params.json")

    total = 0
    for p in sorted(out.rglob("*")):
        if p.is_file():
            total += p.stat().st_size
            print(f"  {p.stat().st_size:>10,}  {p.relative_to(out)}")
    print(f"  {total:>10,}  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
