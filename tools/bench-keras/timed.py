"""The timing loop keras_step.py, torch_step.py and kernels.py share: warm-up calls, then the wall
time of each timed call in ms. Imported as a sibling module (each script runs from this folder)."""

import time


def timed(fn, warmup, samples):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times
