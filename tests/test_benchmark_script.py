"""The benchmark script runs and reports every workload in the agreed shape.

These tests check structure only, never speed: timings depend on the
machine, and a benchmark that fails on a slow CI runner would be useless.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_engine.py"
RATIO_WORKLOADS = ("flat", "nested", "halt_resume", "startup")
TIMEOUT = 120


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location("bench_engine", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


BENCH = load_script()


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def quick_run() -> subprocess.CompletedProcess[str]:
    return run_script("--quick", "--json")


@pytest.fixture(scope="module")
def report(quick_run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert quick_run.returncode == 0, quick_run.stderr
    return json.loads(quick_run.stdout)


def is_positive_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def test_quick_json_run_exits_zero_with_nothing_on_stderr(quick_run):
    assert (quick_run.returncode, quick_run.stderr) == (0, "")


def test_report_names_mode_and_machine(report):
    assert report["mode"] == "quick"
    assert set(report["machine"]) == {
        "python",
        "implementation",
        "platform",
        "cpu",
        "cpu_count",
    }
    assert report["machine"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert all(report["machine"][key] for key in ("platform", "cpu"))


def test_every_workload_is_reported(report):
    assert list(report["workloads"]) == [
        "flat",
        "nested",
        "halt_resume",
        "startup",
        "signals",
        "storage",
        "scale",
    ]


def test_signals_workload_reports_the_cost_of_unheard_signals(report):
    signals = report["workloads"]["signals"]
    assert signals["available"] is True
    for name in ("unarmed", "armed", "elsewhere"):
        assert is_positive_number(signals[f"{name}_ns_per_engine"]), name
    assert signals["armed_ratio"] == pytest.approx(
        signals["armed_ns_per_engine"] / signals["unarmed_ns_per_engine"]
    )
    assert signals["elsewhere_ratio"] == pytest.approx(
        signals["elsewhere_ns_per_engine"] / signals["unarmed_ns_per_engine"]
    )


@pytest.mark.parametrize("name", RATIO_WORKLOADS)
def test_ratio_workload_has_positive_times_and_ratio(report, name):
    row = report["workloads"][name]
    values = [row[key] for key in ("engine_ns_per_task", "twin_ns_per_task", "ratio")]
    assert all(map(is_positive_number, values)), values
    assert row["ratio"] == pytest.approx(
        row["engine_ns_per_task"] / row["twin_ns_per_task"]
    )


@pytest.mark.parametrize(
    ("name", "target"),
    [("flat", 2), ("nested", 5), ("halt_resume", 4.5), ("startup", 15)],
)
def test_ratio_workload_states_its_target_and_verdict(report, name, target):
    row = report["workloads"][name]
    assert (row["target_ratio"], row["met"]) == (target, row["ratio"] <= target)


@pytest.mark.parametrize(
    ("name", "size_key", "config_key", "calls_per_unit"),
    [
        ("flat", "objects", "flat_objects", 20),
        ("halt_resume", "objects", "halt_objects", 10),
        ("startup", "engines", "startup_engines", 3),
    ],
)
def test_ratio_workload_counts_every_task_call(
    report, name, size_key, config_key, calls_per_unit
):
    row = report["workloads"][name]
    size = BENCH.QUICK[config_key]
    assert (row[size_key], row["task_calls"]) == (size, size * calls_per_unit)


def test_startup_reports_its_parts_per_engine_and_the_floor_ratio(report):
    parts = report["workloads"]["startup"]["parts"]
    names = ("create", "replace", "floor", "least", "least_checked", "twin")
    whole = {"whole_to_floor_ratio", "whole_to_floor_target", "whole_to_floor_met"}
    ratios = {
        "floor_ratio",
        "least_to_floor_ratio",
        "least_checked_to_floor_ratio",
        "whole_to_least_ratio",
    }
    assert set(parts) == {f"{name}_ns_per_engine" for name in names} | ratios | whole
    assert parts["whole_to_floor_target"] == 1.7
    assert parts["whole_to_floor_met"] == (parts["whole_to_floor_ratio"] <= 1.7)
    numbers = {key: value for key, value in parts.items() if key not in whole}
    assert all(map(is_positive_number, numbers.values())), parts
    assert parts["floor_ratio"] == pytest.approx(
        parts["floor_ns_per_engine"] / parts["twin_ns_per_engine"]
    )
    assert parts["least_to_floor_ratio"] == pytest.approx(
        parts["least_ns_per_engine"] / parts["floor_ns_per_engine"]
    )
    assert parts["whole_to_least_ratio"] == pytest.approx(
        parts["whole_to_floor_ratio"] / parts["least_to_floor_ratio"]
    )
    assert parts["least_checked_to_floor_ratio"] == pytest.approx(
        parts["least_checked_ns_per_engine"] / parts["floor_ns_per_engine"]
    )


def test_halt_resume_reports_the_least_faithful_ratio(report):
    row = report["workloads"]["halt_resume"]
    assert is_positive_number(row["least_ratio"])
    assert is_positive_number(row["least_checked_ratio"])
    assert row["engine_to_least_ratio"] == pytest.approx(
        row["ratio"] / row["least_ratio"]
    )


@pytest.mark.parametrize(
    ("part", "expected_calls"),
    [
        ("engine", 3),
        ("create", 0),
        ("replace", 0),
        ("floor", 3),
        ("least", 3),
        ("least_checked", 3),
    ],
)
def test_startup_part_makes_its_task_calls(part, expected_calls):
    sides = BENCH.startup_part_sides(4)
    assert BENCH.count_calls(sides[part]) == 4 * expected_calls


def test_startup_floor_makes_the_calls_of_the_twin():
    sides = BENCH.startup_part_sides(4)
    assert BENCH.count_calls(sides["floor"]) == BENCH.count_calls(sides["twin"])


def test_nested_workload_counts_conditions_and_loop_rounds(report):
    # Per object: 5 tasks, the IF_ELSE condition, 2 (even) or 1 (odd) branch
    # tasks, 4 WHILE conditions and 3 rounds of 2 tasks.
    objects = BENCH.QUICK["nested_objects"]
    even = (objects + 1) // 2
    expected = objects * (5 + 1 + 4 + 6) + even * 2 + (objects - even)
    assert report["workloads"]["nested"]["task_calls"] == expected


def test_storage_workload_reports_time_per_object(report):
    row = report["workloads"]["storage"]
    assert row["available"] is True
    assert row["objects"] == BENCH.QUICK["storage_objects"]
    values = [
        row[key] for key in ("storage_us_per_object", "plain_us_per_object", "ratio")
    ]
    assert all(map(is_positive_number, values)), values
    assert (row["target_us_per_object"], row["met"]) == (
        1000,
        row["storage_us_per_object"] <= 1000,
    )


@pytest.mark.parametrize(
    ("series", "key", "config_key"),
    [("by_objects", "objects", "scale_objects"), ("by_depth", "depth", "depths")],
)
def test_scale_series_cover_each_size_with_positive_ratios(
    report, series, key, config_key
):
    points = report["workloads"]["scale"][series]
    assert [point[key] for point in points] == list(BENCH.QUICK[config_key])
    assert all(is_positive_number(point["ratio"]) for point in points)


@pytest.mark.parametrize(
    ("fit", "unit"), [("objects_fit", "decade"), ("depth_fit", "level")]
)
def test_scale_fit_reports_slopes_and_a_verdict(report, fit, unit):
    result = report["workloads"]["scale"][fit]
    slopes = [
        result[f"{side}_slope_ns_per_{unit}"] for side in ("engine", "twin", "overhead")
    ]
    assert all(isinstance(value, float) and math.isfinite(value) for value in slopes)
    assert isinstance(result["flat"], bool)
    expected = ("flat",) if result["flat"] else ("grows", "falls")
    assert result["verdict"].startswith(expected)


def point(engine_ns: float, twin_ns: float, noise_ns: float) -> dict[str, float]:
    return {
        "engine_ns_per_task": engine_ns,
        "twin_ns_per_task": twin_ns,
        "engine_noise_ns_per_task": noise_ns,
        "twin_noise_ns_per_task": 0.0,
    }


@pytest.mark.parametrize(
    ("engines", "noise_ns", "expected"),
    [
        ((100.0, 101.0, 102.0), 5.0, (True, "flat (within noise)")),
        ((100.0, 102.0, 104.0), 1.0, (True, "flat (changes +4% of the time per task)")),
        ((100.0, 110.0, 120.0), 1.0, (False, "grows (+18% of the time per task)")),
        ((120.0, 110.0, 100.0), 1.0, (False, "falls (-18% of the time per task)")),
    ],
)
def test_flatness_judges_the_overhead_change_against_noise_and_tolerance(
    engines, noise_ns, expected
):
    points = [point(engine_ns, 50.0, noise_ns) for engine_ns in engines]
    result = BENCH.flatness(points, [0.0, 1.0, 2.0], "level")
    assert (result["flat"], result["verdict"]) == expected
    assert result["overhead_slope_ns_per_level"] == pytest.approx(
        (engines[2] - engines[0]) / 2
    )


def test_scale_reports_engine_peak_memory_at_two_object_counts(report):
    scale = report["workloads"]["scale"]
    assert [m["objects"] for m in scale["memory"]] == list(
        BENCH.QUICK["memory_objects"]
    )
    peaks = [m["peak_bytes"] for m in scale["memory"]]
    assert all(isinstance(peak, int) and peak >= 0 for peak in peaks)
    assert scale["memory_growth_bytes"] == peaks[1] - peaks[0]


def test_text_output_has_a_row_per_workload():
    result = run_script("--quick")
    assert result.returncode == 0, result.stderr
    first_words = [line.split(" ", 1)[0] for line in result.stdout.splitlines()]
    for word in ("Python", "CPU:", *RATIO_WORKLOADS, "storage:", "scale,"):
        assert word in first_words, word
    assert "startup, ns per engine: the whole run " in result.stdout
    assert "x the floor; target <= 1.7: " in result.stdout
    assert "x the twin (" in result.stdout
    assert "signals: the startup run with object_started," in result.stdout


def test_profile_option_prints_a_profile_of_the_engine():
    result = run_script("--quick", "--profile", "flat")
    assert result.returncode == 0, result.stderr
    assert "_run_objects" in result.stdout
    assert "function calls" in result.stdout


@pytest.mark.parametrize(
    ("ys", "expected"),
    [([1.0, 2.0, 3.0], 1.0), ([5.0, 5.0, 5.0], 0.0), ([3.0, 1.0, -1.0], -2.0)],
)
def test_slope_is_the_least_squares_fit(ys, expected):
    assert BENCH.slope([0.0, 1.0, 2.0], ys) == pytest.approx(expected)


def test_compare_refuses_sides_that_do_different_work():
    tokens = BENCH.make_tokens(3)
    task = BENCH.make_task(0)

    def once(objs):
        for obj in objs:
            task(obj, None)

    def twice(objs):
        once(objs)
        once(objs)

    engine = BENCH.Side(lambda: BENCH.reset_tokens(tokens), once)
    twin = BENCH.Side(lambda: BENCH.reset_tokens(tokens), twice)
    with pytest.raises(RuntimeError, match="made 3 task calls but its twin 6"):
        BENCH.compare("mismatch", engine, twin, 1)


def _engine_state(eng: Any) -> tuple[Any, ...]:
    state = eng.state
    return (state.token_pos, list(state.callback_pos), state.current_object_processed)


def _signal_log() -> tuple[list[tuple[str, Any]], Any]:
    from workflow import signals

    sent: list[tuple[str, Any]] = []
    receivers = []
    for name in ("workflow_started", "workflow_finished", "workflow_halted"):

        def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            sent.append((_name, sender))

        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((getattr(signals, name), receiver))

    def disconnect() -> None:
        for signal, receiver in receivers:
            signal.disconnect(receiver)

    return sent, disconnect


def test_the_least_run_leaves_the_state_and_sends_the_signals_of_the_engine():
    tasks = BENCH.make_tasks(3)
    runs = []
    for run in (
        lambda eng, objs: eng.process(objs),
        lambda eng, objs: BENCH.least_run(eng, objs, True),
        lambda eng, objs: BENCH.least_run(eng, objs, True, checked=True),
    ):
        eng = BENCH.new_engine(tasks)
        tokens = BENCH.make_tokens(2)
        sent, disconnect = _signal_log()
        try:
            run(eng, tokens)
        finally:
            disconnect()
        runs.append(
            (
                _engine_state(eng),
                eng.objects is tokens,
                [token.calls for token in tokens],
                [(name, sender is eng) for name, sender in sent],
                "_run_owner" in eng.__dict__,
            )
        )
    assert (
        runs[0]
        == runs[1]
        == runs[2]
        == (
            (1, [0], True),
            True,
            [3, 3],
            [("workflow_started", True), ("workflow_finished", True)],
            False,
        )
    )


def test_the_least_halt_and_resume_halts_and_ends_as_the_engine_does():
    tasks = BENCH.make_tasks(9)
    definition = [*tasks[:5], BENCH.halt_once, *tasks[5:]]
    outcomes = []
    for process, restart in (
        (
            lambda eng, objs: eng.process(objs),
            lambda eng: eng.restart("current", "next"),
        ),
        (
            lambda eng, objs: BENCH.least_run(eng, objs, True),
            lambda eng: BENCH.least_restart(eng, "current", "next"),
        ),
        (
            lambda eng, objs: BENCH.least_run(eng, objs, True, checked=True),
            lambda eng: BENCH.least_restart(eng, "current", "next", checked=True),
        ),
    ):
        eng = BENCH.new_engine(definition)
        tokens = BENCH.make_tokens(3)
        sent, disconnect = _signal_log()
        stops = []
        try:
            try:
                process(eng, tokens)
            except BENCH.HaltProcessing as halt:
                stops.append((halt.message, _engine_state(eng)))
            while len(stops) < 5:
                try:
                    restart(eng)
                    break
                except BENCH.HaltProcessing as halt:
                    stops.append((halt.message, _engine_state(eng)))
        finally:
            disconnect()
        outcomes.append(
            (
                stops,
                _engine_state(eng),
                [token.calls for token in tokens],
                [name for name, _ in sent],
            )
        )
    halted_at = [("waiting for the benchmark", (n, [5], False)) for n in range(3)]
    assert (
        outcomes[0]
        == outcomes[1]
        == outcomes[2]
        == (
            halted_at,
            (2, [0], True),
            [10, 10, 10],
            ["workflow_started", "workflow_halted"] * 3
            + ["workflow_started", "workflow_finished"],
        )
    )


def test_the_least_run_refuses_an_engine_another_thread_runs():
    eng = BENCH.new_engine(BENCH.make_tasks(1))
    eng.__dict__["_run_owner"] = -1
    with pytest.raises(RuntimeError, match="another thread"):
        BENCH.least_run(eng, BENCH.make_tokens(1), True)


@pytest.mark.parametrize(("checked", "plans"), [(False, 0), (True, 1)])
def test_the_checked_least_run_decides_the_plan_as_the_engine_does(checked, plans):
    eng = BENCH.new_engine(BENCH.make_tasks(1))
    decided = []

    def plan() -> Any:
        decided.append(True)
        return BENCH.GenericWorkflowEngine._plan(eng)

    eng._plan = plan
    BENCH.least_run(eng, BENCH.make_tokens(2), True, checked=checked)
    assert len(decided) == plans
