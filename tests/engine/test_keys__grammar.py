"""Stored runs carry these keys in their events and checkpoints: their shapes must not change."""

from workflows.engine import keys


def test_a_runtime_key_adds_the_attempt_and_the_iteration_to_the_static_path():
    loop_steps = keys.attempted(keys.child("2", "steps"), 1)
    key = keys.child(keys.iteration(loop_steps, 3), 0)
    assert key == "2/steps~1@3/0"
    assert keys.child("", 4) == "4"
    assert keys.attempted("2/steps", 0) == "2/steps"
    assert keys.static_path(key) == "2/steps/0"


def test_memo_and_requirement_keys():
    assert keys.memo(keys.DONE, "0/if/1") == "done:0/if/1"
    assert keys.memo_of_attempt(keys.FAILED, "3", 2) == "failed:3#2"
    assert keys.acknowledged("r1") == "ack:r1"
    assert keys.requirement("0/steps@1/0", "confirmation", 0) == "0/steps@1/0:confirmation:0"
    assert keys.tool_call("1", 0, "c7") == "1#0/c7"
    assert keys.agent_turn("1", 0, 2) == "1#0/t2"
    assert keys.route_asked_again("1", 2) == "1#r2"
    assert keys.static_path(keys.requirement(keys.tool_call("1/steps~2@0/0", 0, "c7"), "external_execution", 0)) == (
        "1/steps/0"
    )


def test_work_path_names_the_step_of_work_entries_only():
    assert keys.work_path("exec:2/steps~1@3/0#1") == "2/steps/0"
    assert keys.work_path("t:2/steps/0#0") is None  # when it started: no work done yet
    assert keys.work_path(keys.acknowledged("r1")) is None
    assert keys.work_path(keys.STARTED) is None
    assert keys.work_path("done:") is None
