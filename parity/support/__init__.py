"""What every layer may use: errors, subprocesses, ports, waiting, caches, signals, redaction.

The bottom layer. It imports nothing from parity.
"""
