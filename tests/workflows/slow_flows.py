"""A workflow module that takes a while to import, as a large one does (tests/workflows/
test_registry__discover.py imports it anew in each test)."""

import time

from workflows.engine import Step, Workflow

time.sleep(0.3)

slow_flow = Workflow(name="test_slow_flow", steps=[Step(name="only", executor=lambda step_input: "done")])
