"""The two environments and the session that owns them: the throwaway Postgres (`postgres`), the
images and their build context (`images`), the local dev server (`local`), the compose stack
(`stack`), the app's settings, per-run TLS, the run registry and the sweep of killed runs.

May import: parity.support, parity.configuration, parity.machine, parity.facts, parity.comparison.
"""
