"""Times one configuration in Keras, as headbench's timing script does in tfjs (timing.mjs).

Prints one JSON object: the cold first training step, then the median of timed training steps
(train_on_batch), of inference at the batch size (predict_on_batch) and at batch 1, all in ms.
Weights are random (weights=None): timing does not depend on their values.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402


A = keras.applications
BACKBONES = {
    "mobilenetv2": A.MobileNetV2,
    "mobilenetv3small": A.MobileNetV3Small,
    "mobilenetv3large": A.MobileNetV3Large,
    "efficientnetb0": A.EfficientNetB0,
    "resnet50": A.ResNet50,
    "resnet50v2": A.ResNet50V2,
}


def median_ms(fn, warmup, samples):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backbone", default="mobilenetv2", choices=sorted(BACKBONES))
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--head", choices=["gap", "flatten"], required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--samples", type=int, default=8)
    args = p.parse_args()

    keras.utils.set_random_seed(1)
    kw = {"alpha": args.alpha} if args.backbone == "mobilenetv2" else {}
    base = BACKBONES[args.backbone](input_shape=(args.size, args.size, 3), include_top=False, weights=None, **kw)
    pool = keras.layers.GlobalAveragePooling2D() if args.head == "gap" else keras.layers.Flatten()
    model = keras.Model(base.input, keras.layers.Dense(args.classes)(pool(base.output)))
    # The seed experiment's recipe, with Keras' defaults for everything else.
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (args.batch, args.size, args.size, 3)).astype("float32")
    y = (np.arange(args.batch) % args.classes).astype("int32")
    x1 = x[:1]

    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    cold = (time.perf_counter() - t0) * 1000
    train = median_ms(lambda: model.train_on_batch(x, y), 3, args.samples)
    infer = median_ms(lambda: model.predict_on_batch(x), 2, args.samples)
    infer1 = median_ms(lambda: model.predict_on_batch(x1), 3, args.samples * 2)
    print(json.dumps({"coldMs": cold, "trainMs": train, "inferMs": infer, "infer1Ms": infer1}))


if __name__ == "__main__":
    main()
