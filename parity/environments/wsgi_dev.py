"""`python -m parity.environments.wsgi_dev module:callable HOST PORT`: the local dev server for plain WSGI apps."""

from __future__ import annotations

import importlib
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def main(argv: list[str]) -> int:
    target, host, port = argv
    module_name, _, attribute = target.partition(":")
    sys.path.insert(0, ".")
    application = getattr(importlib.import_module(module_name), attribute or "application")
    with make_server(host, int(port), application, handler_class=_Handler) as server:
        sys.stderr.write(f"serving {target} on http://{host}:{port}/\n")
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
