"""Test-suite wiring: markers, the services/CI guards, and the browser fixtures.

The browser fixtures fork a daphne server (the real ASGI stack, websockets included) and drive
the system Chromium with Playwright's sync API. Each workaround below says what it avoids.
"""

import os
import weakref
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
BROWSER_DIR = TESTS_DIR / "browser"

CHROMIUM = "/usr/bin/chromium"  # Debian's; never `playwright install`
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def services_run() -> bool:
    return os.environ.get("HITL_TEST_SERVICES", "") not in ("", "0")


def ci_run() -> bool:
    return os.environ.get("CI", "").lower() == "true"


# --- collection --------------------------------------------------------------


def pytest_report_header(config):
    if services_run():
        return "hitl: services mode (PostgreSQL + Redis), services tests included"
    return "hitl: embedded mode (SQLite, in-memory channels); services tests deselected"


def pytest_sessionstart(session):
    # A services run must really use the services: fail fast, never skip.
    if services_run():
        db = os.environ.get("DATABASE_URL", "")
        if not db.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
            pytest.exit(
                "HITL_TEST_SERVICES=1 needs DATABASE_URL=postgres://... and REDIS_URL (use `make test-services`)",
                returncode=4,
            )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
    # Outside a services run, services tests are deselected rather than skipped:
    # `make test` runs clean, and CI (where a skip fails the run) still covers
    # them in `make test-services`.
    if not services_run():
        deselected = [item for item in items if item.get_closest_marker("services")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("services")]


def pytest_sessionfinish(session, exitstatus):
    # The SQLite test database is removed by pytest-django, its WAL files are not.
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        for suffix in ("-wal", "-shm"):
            Path(f"{database['TEST']['NAME']}{suffix}").unlink(missing_ok=True)
    # CI=true: a skipped test is untested work hiding as done; fail the run.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if ci_run() and skipped:
        reporter.write_line(f"CI=true: {len(skipped)} skipped test(s) fail the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# Every database connection opened in this process, whatever thread opened it: none may be open
# when the test server forks (see prepare_fork).
_opened_connections: weakref.WeakSet = weakref.WeakSet()


@pytest.fixture(autouse=True, scope="session")
def _connections_tracked():
    from django.db.backends.signals import connection_created

    def track(sender, connection, **kwargs):
        _opened_connections.add(connection)

    connection_created.connect(track, weak=False)
    yield
    connection_created.disconnect(track)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Creating users is most of a view test's setup with the real hasher. Set on the settings
    object itself (not per test), so a daphne test server forked later verifies the same way."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _channel_layers_of_its_own():
    """Each test gets fresh channel layers. pytest-asyncio gives every async test a new event
    loop, and a Redis layer keeps its receive lock bound to the loop of the test that first
    contended it: a lock still held when that loop closed made every later consumer test fail
    with "bound to a different event loop"."""
    from channels.layers import channel_layers

    channel_layers.backends = {}


@pytest.fixture
def temp_workflow():
    """Register workflows for one test only (whatever had the name before comes back after):
    decisions are refused on runs of workflows that are not registered."""
    from workflows import registry

    registry.discover()
    saved = {}

    def register(workflow):
        saved.setdefault(workflow.name, registry._registry.get(workflow.name))
        return registry.register(workflow)

    yield register
    for name, previous in saved.items():  # no public unregister: tests only
        if previous is None:
            registry._registry.pop(name, None)
        else:
            registry._registry[name] = previous


# --- people ------------------------------------------------------------------
# One user per role, the same everywhere; a test that needs someone else makes them with
# `make_user` (or tests.factories.UserFactory). Every user signs in with factories.PASSWORD.


@pytest.fixture
def make_user(db):
    """``make_user("lee", "resolve_requirement", groups=("legal",), email=..., staff=True)``: a
    user with exactly these workflows permissions and groups."""
    from tests.factories import UserFactory

    def make(username: str, *perms: str, staff: bool = False, email: str = "", groups=()):
        return UserFactory(username=username, permissions=perms, is_staff=staff, email=email, groups=groups)

    return make


@pytest.fixture
def reviewer(make_user):
    """Resolves requirements open to everyone and those assigned to them; sees no runs but the
    ones they started."""
    return make_user("rita", "resolve_requirement")


@pytest.fixture
def operator(make_user):
    """Starts, watches and cancels runs and sees what they wait for; resolves nothing."""
    return make_user("olga", "start_run", "cancel_run", "view_workflowrun", "view_requirement")


@pytest.fixture
def outsider(make_user):
    """Signed in, without any permission or assignment."""
    return make_user("otto")


# --- continuations -----------------------------------------------------------


@pytest.fixture
def sent_runs():
    """Ids of the runs the services scheduled to continue (after commit), recorded instead of run."""
    from workflows.runtime import dispatch

    sent: list[str] = []
    previous = dispatch.set_backend(sent.append)
    yield sent
    dispatch.set_backend(previous)


@pytest.fixture
def sync_worker():
    """Scheduled continuations run in the thread that commits, as a worker would run them."""
    from workflows import services
    from workflows.runtime import dispatch

    previous = dispatch.set_backend(lambda run_id: services.run_advance(run_id=run_id))
    yield
    dispatch.set_backend(previous)


# --- browser fixtures --------------------------------------------------------


def prepare_fork() -> None:
    """Call right before forking a daphne test server.

    asgiref's process-wide single-thread executor owns a thread that a forked child does not
    inherit: without a fresh executor every consumer's sync call (and so every websocket
    handshake) hangs in the child."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync
    from channels.layers import channel_layers
    from django.db import connections

    # The child inherits the executor but not its worker thread: give it a fresh one.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    # Drop layers bound to event loops of earlier pytest-asyncio tests.
    channel_layers.backends = {}
    # No open SQLite connection may cross the fork: the child would inherit SQLite's per-process
    # record of the file's locks without the locks themselves, and once this process closed its
    # last connection (checkpointing and resetting the WAL) the server would read a stale database.
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()
    # The same for connections other threads left open (a worker, heartbeat or async test's
    # thread that ended without closing its own): SQLite's connection objects may be closed from
    # any thread (Django opens them with check_same_thread=False).
    import gc

    gc.collect()
    if connections["default"].vendor == "sqlite":
        for conn in list(_opened_connections):
            if conn.connection is not None and not conn.in_atomic_block:
                conn.connection.close()
                conn.connection = None


def _serve_setup():
    """In the forked server: the test database. In embedded mode the server starts its in-process
    worker itself (hitl_site.asgi). In services mode no Celery worker serves the browser tests,
    so the server runs each continuation in a thread of its own, and starts no sweeper: the tests
    in tests/services/ run real workers and beat on the same database."""
    import threading

    from channels.testing.live import set_database_connection
    from django.conf import settings

    from workflows.runtime import dispatch, worker

    set_database_connection()
    # No sweeper in the server: tests sweep the shared test database themselves, with their own
    # clocks and with workflows registered after this fork, which a sweeper here would not know
    # (it would claim their runs, fail to find the workflow, and delay them).
    worker._sweep = lambda stop: None
    if not settings.HITL_EMBEDDED:
        dispatch.set_backend(lambda run_id: threading.Thread(target=_advance, args=(run_id,), daemon=True).start())


def _advance(run_id):
    from django.db import close_old_connections

    from workflows import services

    try:
        services.run_advance(run_id=run_id)
    finally:
        close_old_connections()


@pytest.fixture(scope="session")
def asgi_live_server(django_db_setup, django_db_blocker):
    """URL of a forked daphne serving the real ASGI app (HTTP + websockets) on the test DB.

    Tests that create data for it must commit it: use `transactional_db`.
    Relies on the "fork" start method, Linux's default up to Python 3.13.
    """
    from functools import partial

    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    proc = DaphneProcess(
        "127.0.0.1",
        partial(make_application, static_wrapper=ASGIStaticFilesHandler),
        setup=_serve_setup,
    )
    prepare_fork()
    with django_db_blocker.unblock():  # else the child inherits pytest-django's DB blocker: 500s
        proc.start()
    if not proc.ready.wait(15):
        proc.terminate()
        raise RuntimeError("the daphne test server did not start within 15 s")
    yield f"http://127.0.0.1:{proc.port.value}"
    proc.terminate()
    proc.join(5)


@pytest.fixture(scope="module")  # module scope: a session-wide sync Playwright breaks pytest-asyncio tests run after it
def browser(asgi_live_server):
    """Headless system Chromium. Requests the server so the fork happens first (forking
    while sync Playwright runs hangs the child)."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium")
    # Sync Playwright keeps an event loop running in this thread: Django's ORM would refuse to run.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    """Where browser tests save screenshots for a person to look at (gitignored)."""
    path = BROWSER_DIR / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
