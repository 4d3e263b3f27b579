"""Analysing experiments: requests (refresh, schedule), the run, and what it reads and writes.

``refresh`` queues analyses (one per experiment at a time), ``run`` computes and stores a
snapshot once per job under the experiment's ``locks``, ``inputs`` computes sufficient
statistics through the metric layer, ``rows`` lays them out for the statistics engine,
``outputs`` turns them into results (``experiments.contracts``), ``health`` checks the data
behind them and ``verdict`` says what they mean. Import each from its own module.
"""
