"""The validate stage: rules, sensor-fault detection, completeness and the quality report.

- ``rules``: the rule catalogue (ids, severities, parameters, penalties)
- ``validate``: rules applied to canonical rows, duplicates, scores, the threshold
- ``anomalies``: spikes, flatlines, stuck vanes, neighbours (vectorised)
- ``completeness``: cadence, expected vs received, gaps
- ``partitions``: groups of stations validated and loaded together, with their context
- ``report``: the quality report (KPIs, per station and measurement)
- ``html``: the quality report as a page with charts
- ``docs``: docs/data-quality.md generated from the catalogue
"""
