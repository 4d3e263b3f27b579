"""Global holdouts: a share of a workspace's units kept out of every experiment for a period,
and the measured cumulative impact of everything shipped meanwhile (holdout vs everyone else).

See docs/experiments.md ("Global holdouts") and docs/statistics.md ("Cumulative impact").
"""
