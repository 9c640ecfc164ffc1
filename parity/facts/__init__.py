"""Environment facts: the probe each side's interpreter runs, the rules that compare the two
sides' answers, and the database schemas.

May import: parity.support, parity.configuration, parity.machine.
"""
