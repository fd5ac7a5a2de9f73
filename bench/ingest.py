"""Demo-world generation time, ingestion rates and peak memory, against named baselines.

    python bench/ingest.py [--scale 1] [--workdir /tmp/lodestar-bench]

Figures (each phase runs in its own process, so peak RSS is that phase's own):
* generation of the default-size world (target 60 s or less), against the same generator run
  serially in one process (baseline: ``parallel=False``): the ratio is the parallel speed-up;
* ingestion of the world's OCDS releases and xAPI statements through the real readers
  into the real encrypted store (target at least 50,000 statements/s), each against a
  baseline that only parses the same lines with orjson (no validation, no store): the ratio
  is the share of raw parsing speed that validation, pseudonymisation, encryption and
  storage leave;
* peak resident memory of each phase.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.results import write_section  # noqa: E402

_REPORT = """
import resource
out["peak_rss_mib"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps(out))
"""


def _phase(code: str) -> dict:
    """Run ``code`` (which fills a dict ``out``) in a fresh interpreter and return ``out``,
    with the phase's peak resident memory in MiB (its own or its largest child's)."""
    completed = subprocess.run(
        [sys.executable, "-c", code + _REPORT],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"benchmark phase failed:\n{completed.stderr[-3000:]}")
    result: dict = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


GENERATE = """
import json, time
from pathlib import Path
from world.config import WorldConfig
from world.generate import generate_world
work = Path({work!r})
t = time.perf_counter()
manifest = generate_world(
    WorldConfig(scale={scale}), work / {name!r}, work / {truth!r}, parallel={parallel}
)
out = {{"seconds": time.perf_counter() - t, "counts": manifest["counts"]}}
"""

INGEST = """
import json, time, base64, os
from pathlib import Path
from ingest.run import ingest_file
from core.security import PersonalData
from core.settings import Keyring
from store.database import Store, remove_store
keyring = Keyring(os.urandom(32), {{"k1": os.urandom(32)}}, "k1",
                  base64.b64encode(os.urandom(32)).decode(), os.urandom(32))
path = Path({store!r}); remove_store(path)
with Store(path, encryption_key=keyring.store_key) as store:
    t = time.perf_counter()
    report = ingest_file(store, PersonalData(keyring), {kind!r}, Path({source!r}))
    seconds = time.perf_counter() - t
out = {{"seconds": seconds, "records_in": report.records_in,
       "accepted": report.accepted, "quarantined": report.quarantined}}
"""

PARSE_ONLY = """
import json, time, orjson
t = time.perf_counter()
n = 0
with open({source!r}, "rb") as handle:
    for line in handle:
        if line.strip():
            orjson.loads(line); n += 1
out = {{"seconds": time.perf_counter() - t, "records_in": n}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workdir", default="/tmp/lodestar-bench")
    args = parser.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    generation = _phase(
        GENERATE.format(
            work=str(work), scale=args.scale, name="world", truth="truth", parallel=True
        )
    )
    serial = _phase(
        GENERATE.format(
            work=str(work), scale=args.scale, name="world-serial", truth="truth-s", parallel=False
        )
    )
    rows = [
        ("generate the demo world (2 processes)", generation, "serial, 1 process", serial),
    ]
    for kind, relative, unit in (
        ("ocds", "procurement/releases.jsonl", "releases"),
        ("xapi", "learning/statements.jsonl", "statements"),
    ):
        source = str(work / "world" / relative)
        ingest = _phase(INGEST.format(store=str(work / f"{kind}.duckdb"), kind=kind, source=source))
        parse = _phase(PARSE_ONLY.format(source=source))
        ingest["unit"] = parse["unit"] = unit
        rows.append((f"ingest {kind} ({unit})", ingest, "orjson parse only", parse))

    lines = [
        f"Scale {args.scale} (default size is 1). Each phase in its own process.",
        "",
        "| phase | records | seconds | records/s | peak RSS MiB | baseline | baseline s "
        "| ratio (baseline s / ours s) |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, ours, baseline_name, baseline in rows:
        if "records_in" in ours:
            records = ours["records_in"]
            volume = f"{records:,} | {ours['seconds']:.2f} | {records / ours['seconds']:,.0f}"
        else:  # generation: the whole world; its counts follow the table
            volume = f"world | {ours['seconds']:.2f} | -"
        lines.append(
            f"| {name} | {volume} | "
            f"{ours['peak_rss_mib']:,.0f} | {baseline_name} | {baseline['seconds']:.2f} | "
            f"{baseline['seconds'] / ours['seconds']:.2f} |"
        )
    counts = generation["counts"]
    lines += ["", "World counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())]
    for name, ours, *_ in rows[1:]:
        lines.append(
            f"{name}: in {ours['records_in']:,} = accepted {ours['accepted']:,} + "
            f"quarantined {ours['quarantined']:,}"
        )
    lines += [
        "",
        "Targets: generation 60 s or less at scale 1; xAPI ingestion at least 50,000 statements/s.",
        "Peak RSS: the phase's own process or its largest worker (ru_maxrss).",
    ]
    body = "\n".join(lines)
    print(body)
    write_section("Ingestion (bench/ingest.py)", body)


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        main()
