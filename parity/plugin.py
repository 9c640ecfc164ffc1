"""pytest wiring for parity: options, markers, parametrization, reports. Hooks only."""

from __future__ import annotations

import _thread
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from parity import distribute
from parity.comparison.recording import short_failure
from parity.configuration import find_config, load_config
from parity.environments.runs import new_run_id
from parity.fixtures import environment, http, parity_side, runner_key  # noqa: F401 - fixtures
from parity.handoff import Handoff, handoff_dir
from parity.markers import MARKERS, parity_skip_reason, sides_for
from parity.progress import PairMarks
from parity.reports import summary as parity_report
from parity.reports.ci import add_junit_properties, append_step_summary
from parity.reports.html import write_html
from parity.reports.terminal import terminal_lines
from parity.runner import DIVERGED_PROPERTY, RECORDING_PROPERTY, SIDES, SKIP_PROPERTY, ParityRunner
from parity.support.errors import ParityConfigError
from parity.support.interrupts import give_back_sigint, take_sigint


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "parity: local dev server vs containerized stack")
    group.addoption("--parity", action="store_true", default=False,
                    help="run behavior tests against the local dev server AND the compose stack, and compare")
    group.addoption("--parity-config", metavar="PATH", default=None,
                    help="the app's pyproject.toml with [tool.parity] (default: found from the rootdir)")
    group.addoption("--parity-report", metavar="PATH.json", default=None,
                    help="where to write the JSON report (default: parity-report.json)")
    group.addoption("--parity-html", metavar="PATH.html", default=None,
                    help="where to write the HTML report (default: parity-report.html)")
    group.addoption("--parity-noise", choices=("builtin", "learn"), default="builtin",
                    help="learn: also run the local side twice and treat what differs as noise")
    group.addoption("--parity-serial", action="store_true", default=False,
                    help="run [local] and [stack] one after the other in this process, instead of "
                         "at the same time in a worker each (ini: parity_serial)")
    parser.addini("parity_config", "path of the pyproject.toml holding [tool.parity]", default="")
    parser.addini("parity_serial", "run the sides one after the other (as --parity-serial)",
                  type="bool", default=False)


def pytest_cmdline_main(config: pytest.Config) -> None:
    """After pytest-xdist made -n into --tx: a concurrent run gets one worker per side."""
    sides = len(SIDES) + (config.getoption("parity_noise") == "learn")
    distribute.choose_mode(config, sides)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    explicit = config.getoption("parity_config") or config.getini("parity_config")
    try:
        path = Path(explicit) if explicit else _find_config(config)
        app_config = load_config(path)
    except ParityConfigError as error:
        if config.getoption("parity") or explicit:
            raise pytest.UsageError(error.one_line()) from None
        return  # no app here: the plugin stays out of the way of unrelated test suites
    runner = ParityRunner(config=app_config, parity=bool(config.getoption("parity")),
                          learn=config.getoption("parity_noise") == "learn")
    if distribute.mode_of(config) == "concurrent":
        if hasattr(config, "workerinput"):
            runner.handoff = Handoff(Path(config.workerinput[distribute.HANDOFF_INPUT]))
            runner.owns_environments = False
        else:
            runner.run_id = new_run_id()
            runner.handoff = Handoff(handoff_dir(runner.run_id))
    config.stash[runner_key] = runner
    config.pluginmanager.register(ParityPlugin(config, runner), "parity-session")


class ParityPlugin:
    """Registered only when an app config was found: the session's hooks."""

    def __init__(self, config: pytest.Config, runner: ParityRunner) -> None:
        self.config = config
        self.runner = runner
        self.worker = hasattr(config, "workerinput")
        self.mode = distribute.mode_of(config)
        runner.progress = self._progress
        self.reports: tuple[Path, Path] | None = None
        self.step_summary: Path | None = None
        self.marks = PairMarks(runner.sides)
        self._nodes = 0
        self.scheduler: distribute.SideScheduling | None = None
        self.session: pytest.Session | None = None
        self._in_loop = False
        """A concurrent run's controller is in pytest-xdist's loop (its start-up may stop it)."""
        self._interrupted = False
        # Workers too: a worker whose controller died stops itself with SIGINT (execnet).
        self._inherited_sigint = take_sigint()

    def pytest_unconfigure(self) -> None:
        give_back_sigint(self._inherited_sigint)
        xml_path = getattr(self.config.option, "xmlpath", None)
        if self.reports is not None and xml_path and Path(xml_path).is_file():
            # pytest's junitxml wrote the file in its own sessionfinish, after ours: the
            # verdicts (final only once the facts were in) go into it now.
            add_junit_properties(Path(xml_path), self.summary.verdicts)

    def _progress(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or self.worker:
            return
        with _progress_lock:  # start-up phases report from several threads
            reporter.ensure_newline()
            if reporter._tw.width_of_current_line:
                reporter.line("")  # after progress marks: pytest's own newline tracking misses them
            reporter.write_line(line)

    def _controller(self) -> bool:
        return self.config.pluginmanager.has_plugin("dsession")

    def pytest_report_header(self) -> list[str]:
        config = self.runner.config
        images = None
        if self.runner.parity and not config.stack.user_owned:
            from parity.machine.standins import describe

            images = describe(config)
        line = parity_report.header_line(config, self.runner.parity, images)
        if self.runner.parity:
            line += f" ({engine_version()})"
        return [line]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "parity_side" not in metafunc.fixturenames:
            return
        sides = sides_for(list(metafunc.definition.iter_markers("only_in")), self.runner.sides)
        metafunc.parametrize("parity_side", sides, indirect=True, ids=sides)

    # --- which process runs what (parity.distribute) -------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """A concurrent run's worker: the side it runs, and where the environments are."""
        if self.mode == "concurrent" and self.runner.handoff is not None:
            node.workerinput[distribute.SIDE_INPUT] = self.runner.sides[self._nodes % len(self.runner.sides)]
            node.workerinput[distribute.HANDOFF_INPUT] = str(self.runner.handoff.directory)
            self._nodes += 1

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if self.mode == "concurrent" and self.runner.handoff is not None:
            self.scheduler = distribute.SideScheduling(
                config, self.runner.sides, log, on_schedule=self.runner.handoff.expect_twins,
                refuse=self._collection_errors)
            return self.scheduler
        if len(self.runner.sides) > 1:
            return distribute.twin_scheduling(config, self.runner.sides, log)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        self.marks.expect(ids)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.marks.expect(item.nodeid for item in session.items)

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Generator[None, Any, Any]:
        """One progress mark per test pair (parity.progress)."""
        result = yield
        if self.worker or not isinstance(report, pytest.TestReport) or result is None:
            return result
        category, letter, word = result
        self.marks.held = []
        letter, word = self.marks.mark(report.nodeid, report.when or "", letter, word)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        counted = getattr(reporter, "_progress_nodeids_reported", None)
        if isinstance(counted, set):
            counted.update(self.marks.held)  # the percentage counts tests, not pairs
        return category, letter, word

    def _collection_errors(self) -> str | None:
        """As a serial run stops after collection errors, so does a concurrent one."""
        session = self.session
        if session is None or not session.testsfailed or self.config.option.continue_on_collection_errors:
            return None
        return f"{session.testsfailed} error{'s' if session.testsfailed != 1 else ''} during collection"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        self.session = session
        if self.mode == "concurrent":
            # The controller starts the environments in a thread while its workers start,
            # collect and run: each side's worker waits for its own (parity.handoff).
            needs = not self.worker and not session.config.option.collectonly
        else:
            needs = any("parity_side" in getattr(item, "fixturenames", ()) for item in session.items) \
                and not self._controller() and not session.config.option.collectonly
        background = needs and self.mode == "concurrent"
        if background:
            self._in_loop = True
            self.runner.start_in_background(failed=self._startup_failed)
        elif needs:
            self.runner.start()
            self._exit_on_startup_error()
        try:
            try:
                result = yield
            finally:
                with _loop_lock:
                    self._in_loop = False
        except KeyboardInterrupt as stop:
            stopping = self.scheduler is not None and str(stop).startswith("stopping after")
            if background:
                # Ctrl-C stops the start-up; -x lets it end (the tests that ran get a report);
                # a failed start-up has ended (a crash is re-raised here).
                self.runner.wait_started(cancel=not stopping and not self._interrupted)
                if self._interrupted:  # by _startup_failed, not by Ctrl-C
                    self._exit_on_startup_error()
            if not stopping:
                raise
            # -x / --maxfail: pytest-xdist stops as if interrupted (exit 2); a serial run fails (1).
            session.shouldfail = str(stop)
            raise session.Failed(str(stop)) from None
        refused = self.scheduler.refused if self.scheduler is not None else None
        if background:
            self.runner.wait_started(cancel=bool(refused))
        if refused:
            raise session.Interrupted(refused)
        if background:
            self._exit_on_startup_error()  # it failed after the loop had ended
        return result

    def _startup_failed(self) -> None:
        """From the start-up thread: the environments did not start. The test loop stops, as a
        serial run never starts it (the workers got the error through the hand-off)."""
        with _loop_lock:
            if self._in_loop:
                self._interrupted = True
                _thread.interrupt_main()

    def _exit_on_startup_error(self) -> None:
        error = self.runner.startup_error
        if error is None:
            return
        secrets = self.runner.secrets()  # an app may print its DATABASE_URL as it fails
        scrub = parity_report.Redactor(secrets)
        details = [scrub(line) for line in str(error).splitlines()[1:]]
        message = scrub(f"parity: {error.one_line()}")
        if self.worker:  # -n: the controller says it and stops the run (testnodedown)
            self.config.workeroutput[STARTUP_ERROR_OUTPUT] = {  # type: ignore[attr-defined]
                "message": message, "details": details, "exit_code": error.exit_code}
        self._exit_with(message, details, error.exit_code)

    def _exit_with(self, message: str, details: list[str], exit_code: int) -> None:
        if details:  # the failing step's log tail: the one line alone rarely says why
            self._progress("\n".join(["parity: last log lines:", *details]))
        pytest.exit(message, returncode=exit_code)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "setup":
            reason = parity_skip_reason(item)
            if reason:
                item.user_properties.append((SKIP_PROPERTY, reason))
                report.user_properties.append((SKIP_PROPERTY, reason))
        side = getattr(getattr(item, "callspec", None), "params", {}).get("parity_side")
        if report.when == "call" and side and self.runner.parity and parity_skip_reason(item) is None:
            divergence = self.runner.divergence_now(item.nodeid, side, report.outcome, _failure(report))
            if divergence and report.outcome == "passed":
                report.outcome = "failed"
                report.longrepr = divergence
                report.user_properties.append((DIVERGED_PROPERTY, True))
            elif divergence:  # it failed by itself: its failure shows both sides too
                report.sections.append(("parity", divergence))
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when not in ("setup", "call", "teardown"):
            self.runner.lost(report.nodeid)  # xdist: its worker crashed while running it
            return
        self.runner.add_phase(report.nodeid, report.when, report.outcome, _failure(report),
                              list(report.user_properties))
        if not self.worker:
            # The recording rode along for the comparison (from a worker, too); JUnit XML and
            # other report readers get the verdict as `parity.verdict` instead.
            report.user_properties = [(name, value) for name, value in report.user_properties
                                      if name not in INTERNAL_PROPERTIES]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist: with -n, every worker ran both environments: take the first worker's facts.
        In a concurrent run, the [stack] worker stops waiting for [local] twins of a gone worker.
        A -n worker whose environments failed to start ends the run as a serial run would: its
        one-line error and exit code (other workers tear down first), not xdist's crash report."""
        output = getattr(node, "workeroutput", {})
        failed = output.get(STARTUP_ERROR_OUTPUT)
        if failed and not self.worker:
            distribute.stop_workers(self.config)
            self._exit_with(str(failed["message"]), list(failed["details"]), int(failed["exit_code"]))
        if output.get(FACTS_OUTPUT) and not self.runner.facts:
            self.runner.facts = list(output[FACTS_OUTPUT])
        side = getattr(node, "workerinput", {}).get(distribute.SIDE_INPUT)
        if side and self.runner.handoff is not None:
            self.runner.handoff.side_done(side)

    def pytest_keyboard_interrupt(self) -> None:
        """Ctrl-C or SIGTERM reached the controller alone (a CI runner signals one pid): its
        workers stop now, not after xdist's grace period (`-n` workers tear down first)."""
        if not self.worker:
            distribute.stop_workers(self.config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.marks.active = False  # the short test summary shows every report as pytest would
        self.runner.stop()
        if self.worker:
            self.config.workeroutput[FACTS_OUTPUT] = self.runner.facts  # type: ignore[attr-defined]
            return
        if not self.runner.parity or self.runner.startup_error is not None \
                or self.config.option.collectonly or not self.runner.results:
            return  # nothing ran against the environments: no parity summary to give
        self.runner.meta["mode"] = self.mode  # concurrent, distributed (-n) or serial
        summary = self.runner.summary()
        json_path, html_path = parity_report.paths(
            self.config.getoption("parity_report"), self.config.getoption("parity_html"),
            self.config.invocation_params.dir)
        secrets = self.runner.secrets()
        parity_report.write_json(summary, json_path, secrets)
        write_html(summary, html_path, secrets)
        self.reports = (json_path, html_path)
        self.summary = summary
        self.secrets = secrets
        self.step_summary = append_step_summary(summary, html_path, secrets=secrets)
        if summary.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.reports is None:
            return
        terminalreporter.write_sep("=", "parity")
        for line in terminal_lines(self.summary, width=terminalreporter._tw.fullwidth,
                                                 secrets=self.secrets):
            terminalreporter.write_line(line)
        json_path, html_path = self.reports
        terminalreporter.write_line(f"reports: {html_path}  {json_path}")
        if self.step_summary is not None:
            terminalreporter.write_line(f"summary appended to GITHUB_STEP_SUMMARY ({self.step_summary})")


_loop_lock = threading.Lock()
_progress_lock = threading.RLock()
"""Reentrant: a signal handler (teardown's "please wait") may print while the main thread prints."""
FACTS_OUTPUT = "parity_facts"
STARTUP_ERROR_OUTPUT = "parity_startup_error"
INTERNAL_PROPERTIES = frozenset({RECORDING_PROPERTY, DIVERGED_PROPERTY})
"""What a test report carries to the controller for the comparison, not for report readers."""


def engine_version() -> str:
    """The engine's version for the header; never fails the run (start-up reports that)."""
    try:
        import docker

        return "Docker " + str(docker.from_env(version="auto", timeout=5).version().get("Version", "?"))
    except Exception as error:
        return f"Docker engine not reachable: {type(error).__name__}"


def _find_config(config: pytest.Config) -> Path:
    """From where pytest was invoked upwards, then from the rootdir (an app inside a repo)."""
    try:
        return find_config(config.invocation_params.dir)
    except ParityConfigError:
        return find_config(config.rootpath)


def _failure(report: pytest.TestReport) -> str | None:
    if report.passed:
        return None
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    return short_failure(report.longreprtext) if report.longreprtext else None
