"""The stage graph ``bench/scale.py`` and ``lodestar models`` run (``lodestar.pipeline``), with
real processes: dependencies respected, independent stages side by side, each stage's own CPU,
the first failure stopping what has not started; and the MLflow SQLite store shared by two
processes from its creation on."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scale import STAGES, stage_command, with_prerequisites
from lodestar.pipeline import (
    MODEL_GRAPH,
    GraphRun,
    Stage,
    chain_stages,
    graph_stages,
    log_tail,
    prepare_tracking_store,
)

PYTHON = sys.executable


def _python(code: str) -> tuple[str, ...]:
    return (PYTHON, "-c", code)


def _busy(seconds: float) -> str:
    """A stage that spends ``seconds`` of CPU, then says so."""
    return (
        f"import time\nend = time.process_time() + {seconds!r}\n"
        "while time.process_time() < end: pass\nprint('spent')"
    )


def test_the_bench_runs_every_stage_of_the_graph() -> None:
    assert set(STAGES) <= set(MODEL_GRAPH)
    assert with_prerequisites(["mastery-train"]) == [
        "generate",
        "ingest",
        "snapshot",
        "mastery-train",
    ]
    commands = {s: stage_command(s, Path("/x"), 1.0, None) for s in STAGES}
    waits = {stage.name: stage.after for stage in graph_stages(commands)}
    assert waits["risk-score"] == ("risk-train",)
    assert waits["risk-train"] == ("snapshot",)  # no collusion stage: through to snapshot
    for study in ("mastery-train", "recommender-train", "esg-train"):
        assert waits[study] == ("snapshot",)
    assert waits["snapshot"] == ("ingest",)
    assert waits["ingest"] == ("generate",)


def test_independent_stages_run_side_by_side_and_dependents_wait(tmp_path: Path) -> None:
    stages = [
        Stage("first", _python(_busy(0.3))),
        Stage("long", _python(_busy(1.5)), ("first",)),
        Stage("short", _python(_busy(0.5)), ("first",)),
        Stage("last", _python("print('done')"), ("short",)),
    ]
    outcomes = {o.name: o for o in GraphRun(stages, tmp_path, jobs=2).run()}
    assert all(o.ok for o in outcomes.values()), outcomes
    assert outcomes["long"].started >= outcomes["first"].ended
    assert outcomes["short"].started >= outcomes["first"].ended
    assert outcomes["last"].started >= outcomes["short"].ended
    # long and short overlap: two slots
    assert outcomes["short"].started < outcomes["long"].ended
    assert outcomes["long"].started < outcomes["short"].ended
    # each stage's CPU is its own, not its neighbour's
    assert outcomes["long"].cpu_seconds == pytest.approx(1.5, abs=0.6)
    assert outcomes["short"].cpu_seconds == pytest.approx(0.5, abs=0.4)
    assert (tmp_path / "long.log").read_text().strip() == "spent"


def test_one_slot_runs_the_chain_in_order(tmp_path: Path) -> None:
    commands = {name: _python("print(1)") for name in ("a", "b", "c")}
    outcomes = GraphRun(chain_stages(commands), tmp_path, jobs=1).run()
    assert [o.name for o in outcomes] == ["a", "b", "c"]
    for before, after in itertools.pairwise(outcomes):
        assert after.started >= before.ended


def test_the_first_failure_stops_what_has_not_started(tmp_path: Path) -> None:
    stages = [
        Stage("fails", _python("import sys; print('the reason'); sys.exit(3)")),
        Stage("running", _python(_busy(0.8))),
        Stage("after", _python("print(1)"), ("fails",)),
        Stage("queued", _python("print(1)")),
    ]
    outcomes = {o.name: o for o in GraphRun(stages, tmp_path, jobs=2).run()}
    assert outcomes["fails"].status == "failed (rc 3)"
    assert outcomes["running"].ok  # already started: ends on its own
    assert outcomes["after"].status == "not run (after fails failed)"
    assert outcomes["queued"].status == "not run (after fails failed)"
    assert "the reason" in log_tail(outcomes["fails"].log)


def test_a_watch_stops_a_stage_and_its_children(tmp_path: Path) -> None:
    child = (
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'import time; time.sleep(60)'])"
    )
    stages = [Stage("stuck", _python(child))]
    outcomes = GraphRun(
        stages, tmp_path, watch=lambda name, process: "too long" if process.children() else None
    ).run()
    assert outcomes[0].status == "stopped: too long"
    assert outcomes[0].seconds < 30


def test_a_graph_that_waits_on_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not in the graph"):
        GraphRun([Stage("a", _python("1"), ("b",))], tmp_path).run()


REGISTER = """
import sys
import mlflow
uri, who = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
experiment = mlflow.create_experiment(f"exp-{who}")
for round in range(3):
    with mlflow.start_run(experiment_id=experiment):
        mlflow.log_params({f"p{k}": k for k in range(20)})
        mlflow.log_metrics({f"m{k}": k for k in range(20)})
    client.create_registered_model(f"model-{who}-{round}")
print("ok")
"""


def _two_at_once(uri: str) -> list[subprocess.CompletedProcess[str]]:
    processes = [
        subprocess.Popen(
            [PYTHON, "-c", REGISTER, uri, who],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for who in ("a", "b")
    ]
    return [
        subprocess.CompletedProcess(p.args, p.wait(timeout=600), p.communicate()[0])
        for p in processes
    ]


def test_two_processes_share_a_prepared_mlflow_store(tmp_path: Path) -> None:
    """Two stages logging and registering at once on one SQLite store, created beforehand as
    ``lodestar models`` and the bench do: both succeed (MLflow's busy timeout serialises
    their writes). Without the preparation, two processes creating the tables at once fail
    in MLflow's migrations, which is why it exists."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    prepare_tracking_store(uri)
    finished = _two_at_once(uri)
    for run in finished:
        assert run.returncode == 0, run.stdout[-2000:]
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert len(client.search_registered_models()) == 6
    for who in ("a", "b"):
        experiment = client.get_experiment_by_name(f"exp-{who}")
        assert experiment is not None
        assert len(client.search_runs([experiment.experiment_id])) == 3
