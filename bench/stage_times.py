"""Seconds of each stage of one ``dsir select`` (count, fit, score, allocate, write, report),
by wrapping the plan's stage functions: where a run's time goes.

    .venv/bin/python bench/stage_times.py POOL WORKERS     # legal target, k = 40,820, into /tmp/prof-out
"""
import logging, time, sys
t0 = time.time()
logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)7.0f %(message)s")
for n in ("numba", "urllib3", "fsspec", "matplotlib", "PIL"): logging.getLogger(n).setLevel(logging.WARNING)
from dsir import DSIR
import dsir.pipeline.plan as plan
orig = {}
for name in ("count_stage", "fit_stage", "score_stage", "allocate_stage", "write_stage", "build_manifest"):
    f = getattr(plan, name)
    def wrap(*a, _f=f, _n=name, **k):
        s = time.time(); r = _f(*a, **k); print(f"{_n}: {time.time()-s:.1f} s", flush=True); return r
    setattr(plan, name, wrap)
import dsir.reports as rep
mr = rep.make_report
def mr2(*a, **k):
    s = time.time(); r = mr(*a, **k); print(f"make_report: {time.time()-s:.1f} s", flush=True); return r
plan.make_report = mr2
import dsir.reports
dsir.reports.make_report = mr2
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
DSIR(workers=workers).select(sys.argv[1], "/tmp/prof-out", k=40820, target="../shared/corpus/target/legal.jsonl.zst", overwrite=True)
print(f"total {time.time()-t0:.1f} s")
