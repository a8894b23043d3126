#!/usr/bin/env python3
"""Train Keras on the shared flower photos the way `headbench run` trains, for a reference accuracy.

MobileNetV2 (alpha, size) with ImageNet weights, GlobalAveragePooling2D -> Dense(classes)
logits, the whole model trained, sparse categorical cross-entropy from logits, batch 32, the
images shuffled every epoch; validation accuracy after each epoch. Keras cannot download the
ImageNet weights here, so they are loaded by name from the TF.js copy in shared/data (the
file headbench loads), as the parity tests do.

The images are decoded and resized as headbench does (RGB, bilinear with half-pixel centres,
TensorFlow 2's tf.image.resize, without antialiasing), then Keras' preprocess_input (x / 127.5 - 1).
oneDNN is off: TensorFlow 2.21's oneDNN Conv2DBackpropInput computes wrong gradients for 1x1
convolutions on 112 input channels, Conv_1's at alpha 0.35 (keras-reference README); headbench
replaces that kernel, so a Keras on oneDNN would be trained on wrong gradients.

  ~/.cache/headbench/keras-venv/bin/python train_flowers.py --optimizer adam --lr 1e-4 --seed 1

Every epoch trains on a new order of the images (a seeded NumPy permutation per epoch), as headbench
does. `--keras-shuffle` uses `fit(shuffle=True)` instead, which in Keras 3.15 on TensorFlow 2.21
repeats the first epoch's order in every epoch once `keras.utils.set_random_seed` has been called
(measured here with 12 numbered samples over 3 epochs; without the seed each epoch's order differs).

Prints a JSON line per epoch and one with the final validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}


def load_split(folder: Path, size: int, classes: list[str] | None = None):
    """`<folder>/<class>/<image>`, classes the sorted sub-folders (as Keras and headbench list them)."""
    classes = classes or sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, labels = [], []
    for index, name in enumerate(classes):
        for file in sorted((folder / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            decoded = tf.io.decode_image(file.read_bytes(), channels=3, expand_animations=False)
            images.append(tf.image.resize(tf.cast(decoded, tf.float32), (size, size), method="bilinear", antialias=False).numpy())
            labels.append(index)
    return np.stack(images), np.array(labels, dtype=np.int32), classes


def load_tfjs_weights(model: keras.Model, folder: Path) -> int:
    """Every weight of `model` by its name `<layer>/<weight>` from a TF.js layers model's manifest."""
    manifest = json.loads((folder / "model.json").read_text())["weightsManifest"]
    values: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            assert spec["dtype"] == "float32" and "quantization" not in spec, spec
            count = int(np.prod(spec["shape"]))
            values[spec["name"]] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(spec["shape"])
            offset += 4 * count
    loaded = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = []
        for w in layer.weights:
            # Keras 3 names a depthwise kernel `kernel`; Keras 2 and the TF.js file `depthwise_kernel`.
            own = "depthwise_kernel" if isinstance(layer, keras.layers.DepthwiseConv2D) and w.name == "kernel" else w.name
            name = f"{layer.name}/{own}"
            if name not in values:
                raise KeyError(f"{name} is not in {folder}/model.json")
            arrays.append(values.pop(name))
        layer.set_weights(arrays)
        loaded += len(arrays)
    if values:
        raise KeyError(f"{folder}: {len(values)} tensors were not loaded, e.g. {next(iter(values))}")
    return loaded


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=SHARED / "flower_photos")
    p.add_argument("--weights", type=Path, default=None, help="TF.js weights folder (default: shared/data/weights/mobilenet_v2_<alpha>_224_no_top_tfjs)")
    p.add_argument("--alpha", type=float, default=0.35)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keras-shuffle", action="store_true", help="fit(shuffle=True), which repeats one order in every epoch once a seed is set (see above)")
    args = p.parse_args(argv)
    weights = args.weights or SHARED / "weights" / f"mobilenet_v2_{args.alpha:g}_224_no_top_tfjs"

    started = time.perf_counter()
    x, y, classes = load_split(args.data / "train", args.size)
    xv, yv, _ = load_split(args.data / "val", args.size, classes)
    preprocess = keras.applications.mobilenet_v2.preprocess_input

    keras.utils.set_random_seed(args.seed)
    base = keras.applications.MobileNetV2(input_shape=(args.size, args.size, 3), include_top=False, weights=None, alpha=args.alpha)
    model = keras.Model(base.input, keras.layers.Dense(len(classes))(keras.layers.GlobalAveragePooling2D()(base.output)))
    loaded = load_tfjs_weights(base, weights)
    optimizer = keras.optimizers.Adam(args.lr) if args.optimizer == "adam" else keras.optimizers.SGD(args.lr)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], jit_compile=False)

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(json.dumps({"epoch": epoch + 1, **{k: round(float(v), 4) for k, v in (logs or {}).items()}}), flush=True)

    xp, xvp = preprocess(x.copy()), preprocess(xv.copy())
    if args.keras_shuffle:
        # Keras' own shuffle. With a global seed set, Keras 3.15 on TensorFlow 2.21 draws the same
        # order in every epoch (tf.data's shuffle restarts from the seed for each epoch's iterator).
        history = model.fit(xp, y, batch_size=args.batch, epochs=args.epochs, shuffle=True, validation_data=(xvp, yv), verbose=0, callbacks=[Report()]).history
    else:
        # A new order every epoch, as headbench draws it (a permutation per epoch from the seed).
        rng = np.random.default_rng(args.seed)
        history: dict[str, list[float]] = {}
        for epoch in range(args.epochs):
            order = rng.permutation(len(y))
            h = model.fit(xp[order], y[order], batch_size=args.batch, epochs=epoch + 1, initial_epoch=epoch, shuffle=False, validation_data=(xvp, yv), verbose=0, callbacks=[Report()])
            for k, v in h.history.items():
                history.setdefault(k, []).extend(v)
    print(json.dumps({
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "optimizer": type(optimizer).__name__,
        "lr": args.lr,
        "alpha": args.alpha,
        "size": args.size,
        "seed": args.seed,
        "shuffle": "keras" if args.keras_shuffle else "per epoch",
        "weightsLoaded": loaded,
        "train": len(y),
        "val": len(yv),
        "finalValAccuracy": history["val_accuracy"][-1],
        "bestValAccuracy": max(history["val_accuracy"]),
        "seconds": round(time.perf_counter() - started, 1),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
