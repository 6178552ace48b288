"""The `digits` command line: `main.py` builds the parser from one module per command group
(data, train, models, predict, gui, schedule, runs); `options.py` declares every option once;
`prefect_env.py` sets Prefect up for a quiet, fast command."""
