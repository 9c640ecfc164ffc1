"""What this machine has: the Docker engine and compose CLI, base images and their stand-ins,
and the checks of `parity doctor`.

May import: parity.support, parity.configuration.
"""
