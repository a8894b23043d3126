"""Times one configuration in Keras, as headbench's timing script does in tfjs (timing.mjs).

In order: inference at the batch size (predict_on_batch) and at batch 1 with the weights as
loaded, the cold first training step (train_on_batch), timed training steps, then inference
again with the weights those steps left. Prints one JSON object with every sample in ms.

Weights: `imagenet` reads the TF.js ImageNet weights that @headbench/backbones bundles (Keras
cannot download here) and assigns them by name, so Keras and headbench run on the same values
(MobileNetV2 only); `none` keeps Keras' random initialisation.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from timed import timed  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = os.path.join(HERE, "..", "..", "packages", "backbones", "weights")

A = keras.applications
BACKBONES = {
    "mobilenetv2": A.MobileNetV2,
    "mobilenetv3small": A.MobileNetV3Small,
    "mobilenetv3large": A.MobileNetV3Large,
    "efficientnetb0": A.EfficientNetB0,
    "resnet50": A.ResNet50,
    "resnet50v2": A.ResNet50V2,
}


def load_tfjs_weights(model, alpha):
    """Assigns a TF.js layers model's weights (model.json + .bin) to Keras variables by name."""
    folder = os.path.join(WEIGHTS, f"mobilenet_v2_{'1.0' if alpha == 1 else f'{alpha:g}'}_224_no_top_tfjs")
    with open(os.path.join(folder, "model.json")) as f:
        manifest = json.load(f)["weightsManifest"]
    variables = {v.path: v for v in model.weights}
    assigned = 0
    for group in manifest:
        data = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            value = np.frombuffer(data, dtype=np.float32, count=count, offset=offset).reshape(spec["shape"])
            offset += 4 * count
            layer, name = spec["name"].rsplit("/", 1)
            # Keras 3 names a depthwise kernel `kernel`.
            variable = variables.get(f"{layer}/{'kernel' if name == 'depthwise_kernel' else name}")
            if variable is None:
                raise SystemExit(f"{folder}: weight {spec['name']} has no Keras variable of that name")
            variable.assign(value)
            assigned += 1
    return assigned


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backbone", default="mobilenetv2", choices=sorted(BACKBONES))
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--head", choices=["gap", "flatten"], required=True)
    p.add_argument("--weights", choices=["imagenet", "none"], default="imagenet")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--samples", type=int, default=8)
    args = p.parse_args()

    keras.utils.set_random_seed(1)
    kw = {"alpha": args.alpha} if args.backbone == "mobilenetv2" else {}
    base = BACKBONES[args.backbone](input_shape=(args.size, args.size, 3), include_top=False, weights=None, **kw)
    if args.weights == "imagenet":
        if args.backbone != "mobilenetv2":
            raise SystemExit(f"--backbone {args.backbone}: only --weights none (ImageNet weights are bundled for MobileNetV2 only)")
        load_tfjs_weights(base, args.alpha)
    pool = keras.layers.GlobalAveragePooling2D() if args.head == "gap" else keras.layers.Flatten()
    model = keras.Model(base.input, keras.layers.Dense(args.classes)(pool(base.output)))
    # The seed experiment's recipe, with Keras' defaults for everything else.
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (args.batch, args.size, args.size, 3)).astype("float32")
    y = (np.arange(args.batch) % args.classes).astype("int32")
    x1 = x[:1]

    infer = timed(lambda: model.predict_on_batch(x), 2, args.samples)
    infer1 = timed(lambda: model.predict_on_batch(x1), 3, args.samples * 2)
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    cold = [(time.perf_counter() - t0) * 1000]
    train = timed(lambda: model.train_on_batch(x, y), 3, args.samples)
    infer_trained = timed(lambda: model.predict_on_batch(x), 2, args.samples)
    infer1_trained = timed(lambda: model.predict_on_batch(x1), 3, args.samples * 2)
    samples = {"cold": cold, "train": train, "infer": infer, "infer1": infer1, "inferTrained": infer_trained, "infer1Trained": infer1_trained}
    print(json.dumps({"samples": samples, "trainSteps": 1 + 3 + args.samples, "weights": args.weights}))


if __name__ == "__main__":
    main()
