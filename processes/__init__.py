"""The worker's composition: which workflows it runs, which activities over which
gateways (the simulator by default; ``processes.activities``), its start-up and main
loop (``processes.worker``), the trust it gives only to the front door's assertions
(``processes.front_door``) and the Schedule of the daily notifications reconciliation
it keeps up to date (``processes.reconciliation_schedule``)."""
