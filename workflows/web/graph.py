"""A workflow drawn as a graph: layout computed here from ``Workflow.describe()``, drawn as SVG by
``workflows/_graph.html`` on the server (no JavaScript, no library).

Sequences stack top to bottom; a container is a frame whose header is the container's own node
(it has a state and may have a gate of its own); Condition, Router and Parallel put their branches
side by side as lanes; a Loop has a back-edge from its last step to its header. On a run page each
node gets a state derived from the run's events and requirements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NODE_W, NODE_H = 150, 56
GAP_Y, GAP_X = 26, 14
PAD, LANE_LABEL_H, LOOP_MARGIN = 10, 16, 14
LANE_KINDS = ("Condition", "Router", "Parallel")
BRANCH_ORDER = ("steps", "if", "else", "choices", "branches")

STATE_LABELS = {
    "not_started": "not started",
    "running": "running",
    "paused": "paused for a person",
    "done": "done",
    "skipped": "skipped",
    "failed": "failed",
    "cancelled": "cancelled",
}
GATE_LABELS = {
    "confirmation": "confirmation",
    "user_input": "user input",
    "route_selection": "route selection",
    "output_review": "output review",
    "iteration_review": "iteration review",
    "error": "error review",
    "executor_confirmation": "tool confirmation",
    "executor_user_input": "tool input",
    "external_execution": "external result",
}
# The last of these events for a path says where that step stands (a pending requirement wins).
EVENT_STATES = {
    "StepStarted": "running",
    "StepContinued": "running",
    "StepCompleted": "done",
    "StepSkipped": "skipped",
    "StepError": "failed",
}


@dataclass
class Node:
    path: str
    kind: str
    name: str
    gates: list[str]
    depth: int
    children: dict[str, list[Node]] = field(default_factory=dict)
    # Layout, filled by _place:
    x: float = 0
    y: float = 0
    w: float = NODE_W
    h: float = NODE_H
    state: str | None = None

    @property
    def is_container(self) -> bool:
        return bool(self.children) or self.kind in ("Steps", "Loop", *LANE_KINDS)

    @property
    def anchor(self) -> str:
        return "step-" + re.sub(r"[^0-9a-z]+", "-", self.path.lower()).strip("-")

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state or "", "")

    @property
    def gate_labels(self) -> list[str]:
        return [GATE_LABELS.get(g, g) for g in self.gates]

    @property
    def meta(self) -> str:
        gates = ", ".join(self.gate_labels)
        return f"{self.kind} · {gates}" if gates else self.kind

    @property
    def short_name(self) -> str:
        return _truncate(self.name, 20)

    @property
    def short_meta(self) -> str:
        return _truncate(self.meta, 26)

    # Text positions (the template does no arithmetic).
    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def text_x(self) -> float:
        return self.x + 8

    @property
    def line1_y(self) -> float:
        return self.y + 18

    @property
    def line2_y(self) -> float:
        return self.y + 33

    @property
    def line3_y(self) -> float:
        return self.y + 48


@dataclass
class Frame:
    path: str
    kind: str
    x: float
    y: float
    w: float
    h: float


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next | enter | branch | loop
    d: str  # SVG path data
    label: str = ""
    label_x: float = 0
    label_y: float = 0


@dataclass
class Graph:
    workflow: str
    nodes: list[Node]  # every node, in definition order (depth first)
    frames: list[Frame]
    edges: list[Edge]
    width: float
    height: float
    has_states: bool = False

    @property
    def columns(self) -> int:
        """How many node widths wide it is (the stylesheet keeps wide graphs legible on phones)."""
        return max(1, min(8, round(self.width / (NODE_W + GAP_X))))

    @property
    def aria_label(self) -> str:
        return f"Workflow graph of {self.workflow}"

    def structure(self) -> dict:
        """What the graph shows, without coordinates: for tests and for reading."""
        order = {n.path: i for i, n in enumerate(self.nodes)}
        edges = sorted(self.edges, key=lambda e: (order[e.source], order[e.target]))
        return {
            "nodes": [[n.path, n.kind, n.name, n.gates] for n in self.nodes],
            "edges": [[e.source, e.target, e.kind, e.label] for e in edges],
        }


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- definition -> tree ---------------------------------------------------------------------------
def gate_kinds(node: dict) -> list[str]:
    """The kinds of pause for a person this node may make, in requirement-kind words."""
    review = node.get("human_review") or {}
    gates = []
    if review.get("requires_confirmation"):
        gates.append("confirmation")
    if review.get("requires_user_input"):
        gates.append("route_selection" if node["kind"] == "Router" else "user_input")
    if review.get("requires_output_review"):
        gates.append("output_review")
    if review.get("requires_iteration_review"):
        gates.append("iteration_review")
    if review.get("on_error") == "pause":
        gates.append("error")
    for tool in node.get("tools") or []:
        if tool.get("kind") and tool["kind"] not in gates:
            gates.append(tool["kind"])
    return gates


def _tree(described: list[dict]) -> list[Node]:
    by_path = {}
    for item in described:
        path = item["path"]
        by_path[path] = Node(path=path, kind=item["kind"], name=item["name"], gates=gate_kinds(item), depth=0)
    roots = []
    for path, node in by_path.items():
        segments = path.split("/")
        parent = by_path.get("/".join(segments[:-2])) if len(segments) > 2 else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.setdefault(segments[-2], []).append(node)

    def index(node: Node) -> int:
        return int(node.path.rsplit("/", 1)[-1])

    def order(group: str) -> int:
        return BRANCH_ORDER.index(group) if group in BRANCH_ORDER else len(BRANCH_ORDER)

    for node in by_path.values():
        node.children = {
            key: sorted(kids, key=index) for key, kids in sorted(node.children.items(), key=lambda kv: order(kv[0]))
        }
    return sorted(roots, key=index)


def _lanes(node: Node) -> list[tuple[str, list[Node]]]:
    """A lane container's branches: Condition's if/else, each route of a Router, each branch of a
    Parallel; Steps and Loop have one lane, unlabelled."""
    if node.kind in ("Router", "Parallel"):
        return [(kid.name, [kid]) for kids in node.children.values() for kid in kids]
    if node.kind == "Condition":
        return [(key, kids) for key, kids in node.children.items()]
    return [("", kids) for kids in node.children.values()]


# -- layout ---------------------------------------------------------------------------------------
def _measure(node: Node) -> tuple[float, float]:
    if not node.is_container:
        return NODE_W, NODE_H
    lanes = _lanes(node)
    widths, heights = [], []
    for _label, kids in lanes:
        w, h = _measure_sequence(kids)
        widths.append(w)
        heights.append(h + (LANE_LABEL_H if node.kind in LANE_KINDS else 0))
    content_w = sum(widths) + GAP_X * max(0, len(widths) - 1)
    content_h = max(heights, default=0)
    w = max(NODE_W, content_w) + 2 * PAD + (LOOP_MARGIN if node.kind == "Loop" else 0)
    h = PAD + NODE_H + (GAP_Y + content_h if content_h else 0) + PAD
    return w, h


def _measure_sequence(kids: list[Node]) -> tuple[float, float]:
    sizes = [_measure(k) for k in kids]
    if not sizes:
        return 0, 0
    return max(w for w, _ in sizes), sum(h for _, h in sizes) + GAP_Y * (len(sizes) - 1)


class _Layout:
    def __init__(self):
        self.nodes: list[Node] = []
        self.frames: list[Frame] = []
        self.edges: list[Edge] = []
        self.boxes: dict[str, tuple[float, float, float, float]] = {}  # outer box of each item

    def sequence(self, kids: list[Node], x: float, y: float, width: float, depth: int) -> None:
        previous = None
        for kid in kids:
            w, h = _measure(kid)
            self.item(kid, x + (width - w) / 2, y, depth)
            if previous is not None:
                self._connect(previous, kid, "next")
            previous = kid
            y += h + GAP_Y

    def item(self, node: Node, x: float, y: float, depth: int) -> None:
        node.depth = depth
        w, h = _measure(node)
        self.boxes[node.path] = (x, y, w, h)
        self.nodes.append(node)
        if not node.is_container:
            node.x, node.y = x, y
            return
        self.frames.append(Frame(node.path, node.kind, x, y, w, h))
        inner_w = w - 2 * PAD - (LOOP_MARGIN if node.kind == "Loop" else 0)
        node.x, node.y = x + PAD + (inner_w - NODE_W) / 2, y + PAD
        lanes = _lanes(node)
        lane_sizes = [_measure_sequence(kids) for _label, kids in lanes]
        content_w = sum(lw for lw, _ in lane_sizes) + GAP_X * max(0, len(lanes) - 1)
        lane_x = x + PAD + (inner_w - content_w) / 2
        lane_y = node.y + NODE_H + GAP_Y
        for (label, kids), (lane_w, _lane_h) in zip(lanes, lane_sizes, strict=True):
            top = lane_y + (LANE_LABEL_H if node.kind in LANE_KINDS else 0)
            self.sequence(kids, lane_x, top, lane_w, depth + 1)
            if kids:
                kind = "branch" if node.kind in LANE_KINDS else "enter"
                self._connect_header(node, kids[0], kind, label)
            lane_x += lane_w + GAP_X
        if node.kind == "Loop":
            kids = [k for _label, ks in lanes for k in ks]
            if kids:
                self._loop_back(node, kids[-1], x + w - PAD / 2)

    def _connect(self, a: Node, b: Node, kind: str) -> None:
        ax, ay, aw, ah = self.boxes[a.path]
        bx, by, bw, _bh = self.boxes[b.path]
        x1, y1, x2, y2 = ax + aw / 2, ay + ah, bx + bw / 2, by
        self.edges.append(Edge(a.path, b.path, kind, f"M{x1:g},{y1:g} L{x2:g},{y2:g}"))

    def _connect_header(self, header: Node, kid: Node, kind: str, label: str) -> None:
        bx, by, bw, _bh = self.boxes[kid.path]
        x1, y1, x2, y2 = header.x + NODE_W / 2, header.y + NODE_H, bx + bw / 2, by
        mid = y1 + GAP_Y / 2
        d = f"M{x1:g},{y1:g} L{x1:g},{mid:g} L{x2:g},{mid:g} L{x2:g},{y2:g}"
        text_y = by - 4
        self.edges.append(Edge(header.path, kid.path, kind, d, label=label, label_x=bx + 2, label_y=text_y))

    def _loop_back(self, loop: Node, last: Node, rail_x: float) -> None:
        lx, ly, lw, lh = self.boxes[last.path]
        y1 = ly + lh / 2
        y2 = loop.y + NODE_H / 2
        x1, x2 = lx + lw, loop.x + NODE_W
        d = f"M{x1:g},{y1:g} L{rail_x:g},{y1:g} L{rail_x:g},{y2:g} L{x2:g},{y2:g}"
        self.edges.append(Edge(last.path, loop.path, "loop", d, label="repeat"))


def build(workflow) -> Graph:
    """The laid-out graph of ``workflow`` (anything with ``name`` and ``describe()``)."""
    roots = _tree(workflow.describe())
    layout = _Layout()
    width, height = _measure_sequence(roots)
    layout.sequence(roots, PAD, PAD, width, 0)
    return Graph(
        workflow=workflow.name,
        nodes=layout.nodes,
        frames=layout.frames,
        edges=layout.edges,
        width=width + 2 * PAD,
        height=height + 2 * PAD,
    )


# -- states of a run ------------------------------------------------------------------------------
def node_states(
    *, paths: list[str], run_status: str, events: list[tuple[str, str]], requirements: list[tuple[str, str]]
) -> dict[str, str]:
    """Each path's state in a run, from its events (``(event, path)`` in order) and requirements
    (``(path, status)``). A container is running while something inside it is running or paused;
    what was still underway when the run was cancelled (or failed) shows cancelled (or failed)."""
    states = {path: "not_started" for path in paths}
    for event, path in events:
        if path in states and event in EVENT_STATES:
            states[path] = EVENT_STATES[event]
    pending = {path for path, status in requirements if status == "PENDING"}
    cancelled = {path for path, status in requirements if status == "CANCELLED"}
    for path in pending & states.keys():
        states[path] = "paused"
    # A container whose inner step waits or runs is itself underway.
    for path in sorted(states, key=lambda p: -p.count("/")):
        if states[path] in ("running", "paused"):
            segments = path.split("/")
            while len(segments) > 2:
                segments = segments[:-2]
                parent = "/".join(segments)
                if parent in states and states[parent] in ("not_started", "done", "skipped"):
                    states[parent] = "running"
    if run_status in ("CANCELLED", "ERROR"):
        ended = "cancelled" if run_status == "CANCELLED" else "failed"
        for path, state in states.items():
            if state in ("running", "paused") or (state == "not_started" and path in cancelled):
                states[path] = ended
    return states


def with_states(graph: Graph, *, run_status: str, events, requirements) -> Graph:
    states = node_states(
        paths=[n.path for n in graph.nodes], run_status=run_status, events=events, requirements=requirements
    )
    for node in graph.nodes:
        node.state = states[node.path]
    graph.has_states = True
    return graph
