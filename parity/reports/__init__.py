"""Reports: the summary and its JSON, the terminal lines, the HTML report with side-by-side
diffs, and what CI systems read (GitHub step summary, JUnit properties).

May import: every layer below the pytest face and the CLI (support, configuration, machine,
facts, comparison, environments).
"""
