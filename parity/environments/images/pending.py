"""The image build as the stack's start-up sees it while it runs: the app image first (the
release step runs in it, while the frontend image builds), then the whole build."""

from __future__ import annotations

import threading

from parity.environments.images.build import CANCELLED, BuiltImages
from parity.support import proc
from parity.support.errors import CommandError

POLL_SECONDS = 0.1


class PendingImages:
    """Filled in by the image build job (`app_ready`, `finished`), waited on by the stack job."""

    def __init__(self) -> None:
        self._app = threading.Event()
        self._done = threading.Event()
        self._app_images: BuiltImages | None = None
        self._error: BaseException | None = None

    def app_ready(self, images: BuiltImages) -> None:
        self._app_images = images
        self._app.set()

    def finished(self, error: BaseException | None = None) -> None:
        """The build ended: with its error, the waiting side raises that same error, so the
        start-up reports the build's failure whichever job it hears from first."""
        self._error = error
        self._done.set()

    def app_image(self) -> BuiltImages:
        """The images' tags and the app's settings, once the app image exists."""
        self._wait(self._app)
        assert self._app_images is not None
        return self._app_images

    def all_built(self) -> None:
        """Returns once the frontend image exists too."""
        self._wait(self._done)

    def _wait(self, event: threading.Event) -> None:
        while not event.wait(POLL_SECONDS):
            if self._done.is_set() or proc.cancelled():
                break
        if self._error is not None:
            raise self._error
        if not event.is_set():
            raise CommandError([], None, CANCELLED, "start-up")
