"""The parts of bench/mirror.py, in the order a run uses them.

- `layout`: the items (issues, PRs, cards), where they live, and the deliveries' shape;
- `plan`, `github`, `trello`: the planned deliveries and each item's expected final state;
- `serve`: seeding the database and running `makersbot serve`;
- `send`: posting the deliveries in bursts and timing the answers;
- `check`: what the fake Slack received and holds, against the expected state;
- `bound`, `topology`, `procfile`, `faults`: the Procfile run, its faults and its bound;
- `report`: the printed figures and goals.

The package name starts with `_`, so `bench/run_all.py` does not take it for a benchmark.
"""
