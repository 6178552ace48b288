"""The `digits` command line: `main.py` builds the parser from one module per command group (data,
train and evaluate, models, predict, explain, gui, feedback, schedule, runs, server); `options.py`
declares every option once; `prefect_env.py` sets Prefect up for a quiet, fast command;
`local_server.py` knows the Prefect server that `digits server start` records."""
