"""The step-timing protocol shared by the PyTorch benchmark scripts in this folder.

A script builds one training configuration and hands `serve()` (or `run()`) a function that takes
one training step and returns its loss. Two ways to drive it:

- `run(...)`: warm-up steps, then timed steps, then one summary (standalone use).
- `serve(...)`: a worker that another process drives over stdin/stdout, one step at a time, so
  that a benchmark can alternate steps of several frameworks and spread the machine's load over
  all of them alike (benchmarks/native-vs-pytorch.ts does this). Commands, one per line on stdin:
  `step` (take one step, answer its wall and CPU time) and `finish` (answer the process's peak
  resident memory, then exit). Answers are single lines `@@bench {json}` on stdout; everything
  else the process prints goes to stderr, so that a library's own prints cannot break the protocol.

Peak memory is the process's peak resident set (`ru_maxrss`), so run one configuration per process.
"""

import json
import os
import resource
import sys
import time

PROTOCOL_PREFIX = "@@bench "


def peak_rss_mib():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_step(step):
    """Wall and CPU time of one step. CPU time counts every thread of the process: on a shared
    machine the wall clock also counts waiting for a core, the CPU time does not."""
    cpu_before = time.process_time()
    start = time.perf_counter()
    loss = step()
    wall_ms = (time.perf_counter() - start) * 1000
    cpu_ms = (time.process_time() - cpu_before) * 1000
    return {"ms": wall_ms, "cpu_ms": cpu_ms, "loss": loss}


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return float("nan")
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def summarise(samples, batch):
    """Images per second over the timed steps, median and mean step, CPU time per step."""
    total_ms = sum(s["ms"] for s in samples)
    return {
        "steps": len(samples),
        "images_per_second": len(samples) * batch / (total_ms / 1000) if total_ms > 0 else float("nan"),
        "median_step_ms": median([s["ms"] for s in samples]),
        "mean_step_ms": total_ms / len(samples) if samples else float("nan"),
        "cpu_ms_per_step": sum(s["cpu_ms"] for s in samples) / len(samples) if samples else float("nan"),
        "final_loss": samples[-1]["loss"] if samples else None,
        "step_ms": [round(s["ms"], 1) for s in samples],
    }


def run(step, batch, warmup, steps):
    for _ in range(warmup):
        step()
    samples = [timed_step(step) for _ in range(steps)]
    result = summarise(samples, batch)
    result["warmup"] = warmup
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def serve(step, ready, finish=None):
    """Answer `step` / `finish` commands on stdin until `finish` or end of input.

    `ready`: what the worker tells its driver once built (configuration, versions, ...).
    `finish`: optional function returning more fields for the final answer.
    """
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    # Whatever else prints (the authors' code, warnings) must not reach the protocol stream.
    sys.stdout = sys.stderr

    def answer(message):
        protocol.write(PROTOCOL_PREFIX + json.dumps(message) + "\n")
        protocol.flush()

    answer({"event": "ready", "pid": os.getpid(), **ready})
    for line in sys.stdin:
        command = line.strip()
        if command == "step":
            try:
                answer({"event": "step", **timed_step(step)})
            except Exception as error:  # the driver shows it and stops this worker
                answer({"event": "error", "message": f"{type(error).__name__}: {error}"})
                raise
        elif command == "finish":
            answer({"event": "finish", "peak_rss_mib": peak_rss_mib(), **(finish() if finish else {})})
            return
        elif command:
            answer({"event": "error", "message": f"unknown command {command!r}; expected 'step' or 'finish'"})
