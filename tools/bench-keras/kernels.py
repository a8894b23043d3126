"""Lists the TensorFlow kernels that run for one inference batch, in Keras or in headbench's graph.

  kernels.py keras --alpha 0.35 --size 96        Keras' predict_on_batch, through TF's profiler
  kernels.py graph <dir>                         headbench's inference graph, written by kernels.mjs
                                                 (a SavedModel plus the values it is fed), loaded in
                                                 a tf.compat.v1 session the way tfjs-node loads it
                                                 (default session options) and traced with
                                                 RunOptions FULL_TRACE

Prints one JSON object: kernel counts and their summed times by op type (one traced run after
warm-up; times overlap where ops run in parallel), the median of 8 untraced runs, and whether
oneDNN's custom ops were on (TF_ENABLE_ONEDNN_OPTS; TensorFlow's default depends on the CPU).
Set TF_CPP_VMODULE=remapper=2 to see grappler's fusions on stderr.
"""
import argparse
import collections
import glob
import json
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timed import timed  # noqa: E402


def onednn_on():
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def median_ms(fn, warmup=3, samples=8):
    return float(np.median(timed(fn, warmup, samples)))


def graph_kernels(folder, batch):
    meta = json.load(open(os.path.join(folder, "feeds.json")))
    raw = np.fromfile(os.path.join(folder, "feeds.bin"), dtype=np.float32)
    tf.compat.v1.disable_eager_execution()
    sess = tf.compat.v1.Session()
    graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], folder)
    sig = graph.signature_def["serving_default"]
    feed, offset = {}, 0
    for m in meta:
        n = int(np.prod(m["shape"])) if m["shape"] else 1
        feed[sig.inputs[m["name"]].name] = raw[offset:offset + n].reshape(m["shape"])
        offset += n
    shape = [batch] + [d.size for d in sig.inputs["input"].tensor_shape.dim][1:]
    feed[sig.inputs["input"].name] = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    out = sig.outputs["logits"].name
    ms = median_ms(lambda: sess.run(out, feed))
    md = tf.compat.v1.RunMetadata()
    sess.run(out, feed, options=tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE), run_metadata=md)
    kernels = collections.defaultdict(lambda: [0, 0.0])
    for dev in md.step_stats.dev_stats:
        for ns in dev.node_stats:
            label = ns.timeline_label
            op = label.split(" = ")[1].split("(")[0] if " = " in label else ns.node_name
            if op in ("_Arg", "_Retval", "NoOp", "Const", "_SOURCE"):
                continue
            kernels[op][0] += 1
            kernels[op][1] += ns.all_end_rel_micros / 1000
    return ms, kernels


def keras_kernels(alpha, size, batch):
    import keras
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=None, alpha=alpha)
    model = keras.Model(base.input, keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(base.output)))
    x = np.random.default_rng(1).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    ms = median_ms(lambda: model.predict_on_batch(x))
    logdir = tempfile.mkdtemp(prefix="headbench-profile-")
    try:
        tf.profiler.experimental.start(logdir)
        model.predict_on_batch(x)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb").read())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    kernels = collections.defaultdict(lambda: [0, 0.0])
    for plane in space.planes:
        for line in plane.lines:
            # The executor's threads record one `node:Op` event per kernel; other lines hold
            # the function call, the session run and the profiler's own regions.
            if not line.name.startswith("tf_Compute"):
                continue
            for ev in line.events:
                name = plane.event_metadata[ev.metadata_id].name
                # Kernel events are named `node:Op`; skip the function and framework events.
                if ":" not in name or name.startswith("__inference"):
                    continue
                op = name.split(":")[-1]
                if op in ("ReadVariableOp", "_Arg", "_Retval", "NoOp", "Const", "Process", "ExecutorDoneCallback", "Record", "StartRegion", "StopRegion"):
                    continue
                kernels[op][0] += 1
                kernels[op][1] += ev.duration_ps / 1e9
    return ms, kernels


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["keras", "graph"])
    p.add_argument("folder", nargs="?")
    p.add_argument("--alpha", type=float, default=0.35)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    ms, kernels = graph_kernels(args.folder, args.batch) if args.what == "graph" else keras_kernels(args.alpha, args.size, args.batch)
    table = sorted(([op, n, round(t, 2)] for op, (n, t) in kernels.items()), key=lambda r: -r[2])
    print(json.dumps({"medianMs": round(ms, 2), "onednn": onednn_on(), "kernels": table}))


if __name__ == "__main__":
    main()
