import io

from dsir.engines.local import LocalEngine
from dsir.engines.progress import LogProgress


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_plain_lines_every_interval_with_rate_and_eta():
    clock, out = FakeClock(), io.StringIO()
    p = LogProgress(total=10_000_000, desc="score", bytes_=True, interval=10, file=out, clock=clock)
    clock.t += 4
    p.update(1_000_000)  # before the interval: silent
    assert out.getvalue() == ""
    clock.t += 6
    p.update(1_000_000)  # 2 MB in 10 s: 200 kB/s, 8 MB left: 40 s
    clock.t += 30
    p.update(6_000_000)
    clock.t += 10
    p.update(2_000_000)  # complete: no progress line, only the final one
    p.close()
    assert out.getvalue().splitlines() == [
        "dsir: score: 2.0 MB of 10.0 MB (20%), 200.0 kB/s, ETA 0:00:40",
        "dsir: score: 8.0 MB of 10.0 MB (80%), 200.0 kB/s, ETA 0:00:10",
        "dsir: score: done, 10.0 MB of 10.0 MB in 0:00:50 (200.0 kB/s)",
    ]


def test_counts_without_bytes():
    clock, out = FakeClock(), io.StringIO()
    p = LogProgress(total=4, desc="fit", bytes_=False, interval=0, file=out, clock=clock)
    clock.t += 2
    p.update(1)
    p.close()
    assert out.getvalue().splitlines() == ["dsir: fit: 1 of 4 (25%), 0.5/s, ETA 0:00:06", "dsir: fit: done, 1 of 4 in 0:00:02 (0.5/s)"]


def test_engine_prints_plain_lines_when_stderr_is_not_a_terminal(capsys):
    engine = LocalEngine(1, progress=True)
    engine.log_interval = 0
    assert engine.map(abs, [-1, -2, -3], "demo", [10, 20, 30]) == [1, 2, 3]
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0].startswith("dsir: demo: 10 B of 60 B (17%)") and "ETA" in lines[0]
    assert lines[-1].startswith("dsir: demo: done, 60 B of 60 B in")


def test_engine_is_silent_without_progress(capsys):
    assert LocalEngine(1, progress=False).map(abs, [-1], "demo") == [1]
    assert capsys.readouterr().err == ""


def _progress_lines(tmp_path, capsys, fmt: str, workers: int) -> list[str]:
    """Plain progress lines of a select of one file read in many small blocks."""
    import json
    import re

    import pyarrow as pa
    import pyarrow.parquet as pq

    from dsir import DSIR

    texts = [f"doc {i} " + " ".join(f"w{(i * j) % 101}" for j in range(60)) for i in range(3000)]
    path = tmp_path / f"pool.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    else:
        pq.write_table(pa.table({"text": texts}), path, row_group_size=100)
    target = tmp_path / "t.jsonl"
    target.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[:50]))
    engine = LocalEngine(workers, progress=True)
    engine.log_interval = 0.0  # a line at every advance
    DSIR(engine=engine, workers=workers, block_bytes=64 << 10, progress=True).select(
        str(path), str(tmp_path / f"out-{fmt}-{workers}"), k=10, target=str(target), report=False)
    score = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dsir: score: ")]
    return [int(m.group(1)) for line in score if (m := re.search(r"\((\d+)%\)", line))]


def test_progress_advances_with_the_bytes_read_within_a_file(tmp_path, capsys, monkeypatch):
    """Issue 13, item 7: one file's pass moves the bar many times, not once at its end
    (jsonl by the bytes read from disk, parquet by its rows), with threads and in-line."""
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    for fmt in ("jsonl", "parquet"):
        for workers in (1, 2):
            percents = _progress_lines(tmp_path, capsys, fmt, workers)
            inside = [p for p in percents if 0 < p < 100]
            assert len(set(inside)) >= 3, (fmt, workers, percents)
            assert percents == sorted(percents)
