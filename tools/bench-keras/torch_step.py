"""Times one configuration in PyTorch, as keras_step.py does in Keras, for a third column.

The same architecture from torchvision (`mobilenet_v2(width_mult=alpha)`: the same layer widths
as Keras' MobileNetV2, symmetric instead of asymmetric padding on strided layers, the same
multiply-adds), the same head (GAP or Flatten, then Linear(classes)), channels_last, as many
threads as cores. PyTorch has no ImageNet weights here: it starts from torchvision's random
initialisation and trains first (cold step, timed SGD steps on random data, lr 0.01), so
inference runs on trained values, as evaluation after an epoch does. Denormals are flushed to
zero, as TensorFlow does in every thread (with them, PyTorch's CPU time depends on the weights'
values); `--keep-denormals` measures without.

Prints one JSON object with every sample in ms (the same fields as the other two scripts; the
inference with the weights as loaded is left out: there are none to load).
"""
import argparse
import json
import os
import time

import torch
import torchvision
from timed import timed


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--head", choices=["gap", "flatten"], required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--keep-denormals", action="store_true")
    args = p.parse_args()

    torch.manual_seed(1)
    torch.set_num_threads(os.cpu_count() or 1)
    flushed = False if args.keep_denormals else torch.set_flush_denormal(True)
    features = torchvision.models.mobilenet_v2(width_mult=args.alpha).features
    with torch.no_grad():
        channels, height, width = features(torch.zeros(1, 3, args.size, args.size)).shape[1:]
    if args.head == "gap":
        head = [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, args.classes)]
    else:
        head = [torch.nn.Flatten(), torch.nn.Linear(channels * height * width, args.classes)]
    model = torch.nn.Sequential(features, *head).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(args.batch, 3, args.size, args.size, generator=gen) * 2 - 1).contiguous(memory_format=torch.channels_last)
    y = torch.arange(args.batch) % args.classes
    x1 = x[:1].contiguous(memory_format=torch.channels_last)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss)

    def predict(inputs):
        with torch.inference_mode():
            return model(inputs).numpy()

    model.train()
    t0 = time.perf_counter()
    step()
    cold = [(time.perf_counter() - t0) * 1000]
    train = timed(step, 3, args.samples)
    model.eval()
    infer_trained = timed(lambda: predict(x), 2, args.samples)
    infer1_trained = timed(lambda: predict(x1), 3, args.samples * 2)
    samples = {"cold": cold, "train": train, "inferTrained": infer_trained, "infer1Trained": infer1_trained}
    print(json.dumps({"samples": samples, "trainSteps": 1 + 3 + args.samples, "torch": torch.__version__, "threads": torch.get_num_threads(), "flushDenormal": bool(flushed)}))


if __name__ == "__main__":
    main()
