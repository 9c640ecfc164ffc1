"""What `pytest --parity` does, as a plain object the pytest hooks call into.

It owns the session's lifecycle, the recordings of every test in every environment, and the
verdicts computed from them. Recordings travel to the controller inside test reports and are
compared there. Which process owns the environments depends on the mode (`parity.distribute`):
this one (serial runs, and each worker with `-n`), or the controller of a concurrent run,
whose workers use them through `parity.handoff` (`owns_environments=False`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from parity.comparison.compare import NoiseRules, Verdict, compare, default_noise
from parity.comparison.connections import KeptConnections
from parity.comparison.layers import attribute
from parity.comparison.learn import learn_noise
from parity.comparison.recording import Recording, RecordingSession, base_test_id, side_of
from parity.comparison.replay import Replayer, ReplayMode
from parity.configuration import ParityConfig
from parity.environments.environment import Environment
from parity.environments.session import RERUN, ParitySession
from parity.handoff import Handoff
from parity.reports.summary import Summary
from parity.reports.terminal import describe_verdict
from parity.support import proc
from parity.support.errors import ParityError
from parity.support.redaction import is_secret_variable

RECORDING_PROPERTY = "parity.recording"
SKIP_PROPERTY = "parity.skip"
DIVERGED_PROPERTY = "parity.diverged"
"""Set on a [stack] call report that parity itself failed: the test's own outcome was "passed"."""
SIDES = ("local", "stack")
RERUN_SIDE = RERUN
"""--parity-noise=learn runs the local side a second time, against an environment of its own
(own database, release step and dev server), in the same order; what differs is noise."""
EARLY_SIDES = ("local", RERUN_SIDE)
"""In a concurrent run, these sides' workers start as soon as their own environment is up."""


@dataclass
class ParityRunner:
    config: ParityConfig
    parity: bool
    learn: bool = False
    progress: Callable[[str], None] = lambda line: None
    session: ParitySession | None = None
    startup_error: ParityError | None = None
    live: dict[str, Recording] = field(default_factory=dict)
    phases: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    results: dict[tuple[str, str], Recording] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    meta: dict[str, Any] = field(default_factory=dict)
    facts: list[dict[str, Any]] = field(default_factory=list)
    settings_noise: NoiseRules = field(default_factory=NoiseRules)
    """What follows from settings only one side declares (Secure cookies, HSTS over HTTPS)."""
    tests_started: float | None = None
    """When the environments were ready: the "tests" phase runs from here to `stop()`."""
    run_id: str | None = None
    handoff: Handoff | None = None
    """A concurrent run's hand-off: the controller publishes its environments there, the
    workers use them and pass [local] recordings to the [stack] worker."""
    owns_environments: bool = True
    """False in a concurrent run's workers: the controller starts and stops the environments."""
    environments: dict[str, Environment] = field(default_factory=dict)
    app_url: str | None = None
    """The stack's app server, straight (for replays); None when it is not published."""
    _starting: ParitySession | None = field(default=None, repr=False)
    _starter: threading.Thread | None = field(default=None, repr=False)
    _start_crash: BaseException | None = field(default=None, repr=False)

    @property
    def sides(self) -> tuple[str, ...]:
        sides: tuple[str, ...] = SIDES if self.parity else ("local",)
        return (*sides, RERUN_SIDE) if self.learn else sides

    @functools.cached_property
    def noise(self) -> NoiseRules:
        """Built-in plus declared noise; built once, not per exchange: the config is frozen,
        and what the app's settings declare is known once the environments are up."""
        configured = default_noise(self.config.compare, self.config.facts.expected,
                                   static_url=self.config.static_url,
                                   media_url=self.config.media_url)
        return configured.merge(self.settings_noise)

    # --- environments ------------------------------------------------------------------
    def start(self) -> None:
        """Start the environments in this process (serial runs, `-n` workers)."""
        self._start(self._new_session())

    def start_in_background(self, failed: Callable[[], None]) -> None:
        """A concurrent run's controller: start the environments in a thread while the workers
        run; each local environment goes to its worker as soon as it is up (the [local] side
        tests while the stack still starts). `failed` is called from that thread when they did
        not start. `wait_started()` joins it."""
        session = self._new_session()
        session.install_signal_handlers()  # main thread: SIGTERM tears down as Ctrl-C does
        self._starting = session

        def start() -> None:
            try:
                self._start(session)
            except BaseException as error:  # not parity's own: re-raised by wait_started()
                self._start_crash = error
            if self.startup_error is not None or self._start_crash is not None:
                if self.handoff is not None:
                    shown = self.startup_error or self._start_crash
                    self.handoff.startup_failed(self.startup_error.one_line() if self.startup_error
                                                else f"parity: start-up crashed: {shown!r}")
                failed()

        # Not a daemon: should the main thread end first, the interpreter still waits for it
        # to tear down what it started.
        self._starter = threading.Thread(target=start, name="parity-startup")
        self._starter.start()

    def wait_started(self, cancel: bool = False) -> None:
        """The background start-up is over (main thread): done, failed, or with `cancel`
        stopped where it is (Ctrl-C; nothing will run)."""
        starter, self._starter = self._starter, None
        if starter is not None:
            assert self._starting is not None
            with self._starting.signals_wait():  # it may be tearing down: never cut that short
                if cancel and starter.is_alive():
                    proc.cancel_all()
                starter.join()
        if self._starting is not None and self.session is None:
            self._starting.restore_signal_handlers()  # it failed: nothing will tear it down
            self._starting = None
        crash, self._start_crash = self._start_crash, None
        if crash is not None and not cancel:  # cancelled: whatever it raised, it was stopped
            raise crash

    def _new_session(self) -> ParitySession:
        environments = SIDES if self.parity else ("local",)
        if self.learn:
            environments = (*environments, RERUN_SIDE)
        return ParitySession(self.config, environments=environments, progress=self.progress,
                             run_id=self.run_id, on_ready=self._publish_ready)

    def _publish_ready(self, name: str, environment: Environment) -> None:
        """A local environment is up: its worker may start (the stack's waits for them all)."""
        if name in EARLY_SIDES and self.handoff is not None and self._starting is not None:
            self.handoff.publish_ready(self._starting, name)

    def _start(self, session: ParitySession) -> None:
        try:
            session.__enter__()
        except ParityError as error:
            self.startup_error = error
            self.meta.update(session.describe())  # its secrets: the error's log tail is shown
            return
        self.session = session
        self.environments = dict(session.environments)
        self.app_url = session.stack.app_url if session.stack is not None else None
        self.settings_noise = session.declared_noise()
        self.__dict__.pop("noise", None)  # rebuilt with what the settings declare
        if self.handoff is not None:
            self.handoff.publish(session, self.settings_noise)
        self.tests_started = time.monotonic()

    def _receive(self, side: str) -> None:
        """A concurrent run's worker: its side's environment from the controller, waited for
        (the stack's comes with what the app's settings declare, once all are up)."""
        assert self.handoff is not None
        try:
            if side in EARLY_SIDES:
                self.environments[side] = self.handoff.environment(side)
                return
            self.environments, self.app_url, self.settings_noise = self.handoff.environments()
        except ParityError as error:
            self.startup_error = error
        self.__dict__.pop("noise", None)  # rebuilt with what the settings declare

    def stop(self) -> None:
        """Collect the facts (they need the environments), then tear everything down."""
        self.wait_started()
        KeptConnections.close_all()  # before the stack they lead to goes down
        if not self.owns_environments:
            for environment in self.environments.values():
                environment.close()
        if self.session is not None:
            session, self.session = self.session, None
            if self.tests_started is not None:
                session.timings.phases["tests"] = round(time.monotonic() - self.tests_started, 3)
            try:
                self.facts = session.facts()
            except Exception as error:
                self.facts = [{"name": "facts", "severity": "warn", "local": "", "stack": "",
                               "detail": [f"facts could not be gathered: {error}"], "expected": False}]
            finally:
                session.__exit__(None, None, None)
            self.meta.update(session.describe())
        if self.owns_environments and self.handoff is not None:
            self.handoff.remove()

    def environment(self, side: str) -> Environment:
        __tracebackhide__ = True
        if self.startup_error is None:
            if self.owns_environments and not self.environments:
                self.start()
            elif not self.owns_environments and side not in self.environments:
                self._receive(side)
        if self.startup_error is not None:
            raise self.startup_error
        return self.environments[side]

    def twin(self, test_id: str) -> Recording | None:
        """The [local] recording of a test, finished: in this process, or (a concurrent run's
        [stack] worker) from the [local] worker, waited for."""
        if not self.owns_environments:
            assert self.handoff is not None
            return self.handoff.twin(test_id)
        return self.results.get((test_id, "local"))

    # --- recording -------------------------------------------------------------------------
    def recording_for(self, nodeid: str, side: str) -> Recording:
        if nodeid not in self.live:
            self.live[nodeid] = Recording(base_test_id(nodeid, side), side)
        return self.live[nodeid]

    @contextlib.contextmanager
    def using(self, nodeid: str, side: str, properties: list[tuple[str, object]]) -> Iterator[Environment]:
        """The environment for one test instance; its recording rides out in the test's report."""
        environment = self.environment(side)
        self.recording_for(nodeid, side)
        try:
            yield environment
        finally:
            recording = self.live.pop(nodeid, None)
            if recording is not None:
                properties.append((RECORDING_PROPERTY, recording.to_dict()))

    @contextlib.contextmanager
    def recording_session(self, nodeid: str, environment: Environment, side: str,
                          declared: NoiseRules | None = None,
                          replay: ReplayMode = "off") -> Iterator[RecordingSession]:
        recording = self.recording_for(nodeid, side)
        if declared is not None:
            recording.ignores = recording.ignores.merge(declared)
        with RecordingSession(environment.base_url, recording,
                              timeout=self.config.compare.request_timeout,
                              keep_connections=side == "stack") as session:
            if environment.ca_bundle:
                session.verify = environment.ca_bundle
            if side == "stack" and self.parity and replay != "off" and self.config.stack.has_frontend:
                session.observer = self._replayer(recording, environment, replay).observe
            yield session

    def _replayer(self, recording: Recording, environment: Environment,
                  mode: ReplayMode) -> Replayer:
        """Replays the [stack] test's diverging requests against the app service directly."""
        return Replayer(recording, stack_url=environment.base_url, app_url=self.app_url, mode=mode,
                        local=lambda: self.twin(recording.test_id), noise=lambda: self.noise,
                        timeout=self.config.compare.request_timeout,
                        unavailable="the app service's port is not published (name app_service "
                                    "and app_port in [tool.parity.stack])")

    # --- results ---------------------------------------------------------------------------
    def add_phase(self, nodeid: str, when: str, outcome: str, failure: str | None,
                  properties: list[tuple[str, Any]]) -> None:
        """Fold one test report in (serial runs, and the xdist controller for every worker)."""
        data = dict(properties)
        if when == "call" and data.get(DIVERGED_PROPERTY):
            outcome, failure = "passed", None
        self.phases.setdefault(nodeid, []).append((when, outcome, failure))
        if SKIP_PROPERTY in data and RECORDING_PROPERTY in data:
            recording = data[RECORDING_PROPERTY]
            self.skipped[recording["test_id"]] = str(data[SKIP_PROPERTY])
        if when != "teardown":
            return
        phases = self.phases.pop(nodeid, [])
        recording = None
        if RECORDING_PROPERTY in data:
            recording = Recording.from_dict(data[RECORDING_PROPERTY])
            for phase_when, phase_outcome, phase_failure in phases:
                recording.record_phase(phase_when, phase_outcome, phase_failure)
            self.results[(recording.test_id, recording.environment)] = recording
        if not self.owns_environments:
            self._hand_over(nodeid, recording)

    def lost(self, nodeid: str) -> None:
        """A test whose worker crashed: it will not hand its recording over itself."""
        self._hand_over(nodeid, None)

    def _hand_over(self, nodeid: str, recording: Recording | None) -> None:
        """A [local] test is done: the [stack] worker may be waiting for it (also when it has
        no recording: it errored before it made one)."""
        if self.handoff is not None and side_of(nodeid, self.sides) == "local":
            self.handoff.hand_over(base_test_id(nodeid, "local"), recording)

    def divergence_now(self, nodeid: str, side: str, call_outcome: str, failure: str | None) -> str | None:
        """In a serial run, [stack] runs right after [local]: compare at once, so the stack
        test itself fails with the difference. Returns the text, or None when it matches."""
        if side != "stack" or nodeid not in self.live:
            return None
        stack = Recording.from_dict(self.live[nodeid].to_dict())
        if stack.test_id in self.skipped:
            return None
        local = self.twin(stack.test_id)
        if self.handoff is not None:
            self.handoff.forget_twin(stack.test_id)
        if local is None:
            return None
        stack.record_phase("call", call_outcome, failure)
        verdict = compare(local, stack, self.noise)
        if not verdict.failed:
            return None
        self._attribute(verdict, local, stack, self.noise, None)
        return describe_verdict(verdict)

    def _attribute(self, verdict: Verdict, local: Recording, stack: Recording, noise: NoiseRules,
                   facts: list[dict[str, Any]] | None) -> None:
        """Name the layer a failing verdict comes from; never fails the run itself."""
        try:
            found = attribute(verdict, local, stack, noise, facts=facts,
                              declared=self.declared_differences(),
                              static_url=self.config.static_url, media_url=self.config.media_url,
                              frontend=self.config.stack.has_frontend)
        except Exception as error:
            verdict.layer, verdict.evidence = "unknown", [f"the layer could not be told: {error!r}"]
        else:
            verdict.layer, verdict.evidence = found.layer, found.evidence

    def verdicts(self, facts: list[dict[str, Any]] | None = None) -> list[Verdict]:
        """Every test's verdict; failing ones name their layer (with the facts, default ours)."""
        facts = self.facts if facts is None else facts
        verdicts = []
        for test_id in sorted({test_id for test_id, _side in self.results}):
            local = self.results.get((test_id, "local"))
            stack = self.results.get((test_id, "stack"))
            if local is None or stack is None:
                continue
            noise = self.noise
            rerun = self.results.get((test_id, RERUN_SIDE))
            if rerun is not None:
                noise = noise.merge(learn_noise(local, rerun))
            verdict = compare(local, stack, noise, skip_reason=self.skipped.get(test_id))
            if verdict.failed:
                self._attribute(verdict, local, stack, noise, facts)
            verdicts.append(verdict)
        return verdicts

    def one_sided(self) -> list[str]:
        sides: dict[str, set[str]] = {}
        for test_id, side in self.results:
            sides.setdefault(test_id, set()).add(side)
        return [f"{test_id} ran in {', '.join(sorted(s & set(SIDES)))} only"
                for test_id, s in sorted(sides.items()) if len(s & set(SIDES)) == 1]

    def declared_differences(self) -> dict[str, dict[str, str]]:
        return {"local": dict(self.config.local.env), "stack": dict(self.config.stack.env)}

    def summary(self, facts: list[dict[str, Any]] | None = None) -> Summary:
        declared = self.declared_differences()
        facts = facts if facts is not None else self.facts
        meta = {
            "app": self.config.name,
            "config": str(self.config.file),
            "duration_seconds": round(time.monotonic() - self.started_at, 2),
            **self.meta,
        }
        return Summary(verdicts=self.verdicts(facts), facts=facts,
                       declared_differences=declared, meta=meta, notes=self.one_sided())

    def secrets(self) -> list[str]:
        """Values no report may show: the database password and secret-looking settings."""
        found = list(self.meta.pop("_secrets", []))
        for env in (self.config.env, self.config.local.env, self.config.stack.env):
            found += [value for name, value in env.items() if is_secret_variable(name)]
        for name, value in os.environ.items():
            if name in ("PGPASSWORD", "PARITY_DATABASE_URL") or is_secret_variable(name):
                found.append(value)
        return [s for s in found if s]
