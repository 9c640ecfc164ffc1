"""The throwaway Postgres: the server binaries on this machine, a cluster or an external
server with parity's own databases, and the sweep of what killed runs left.
"""
