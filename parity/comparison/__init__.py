"""Recording and comparison: the recording HTTP client, noise rules, normalisation, diffs,
verdicts, learning noise, replay, and the layer a divergence comes from.

May import: parity.support, parity.configuration, parity.machine, parity.facts.
"""
