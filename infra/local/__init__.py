"""The local development stack: AWS is moto, banks are real HTTP servers.

Modules here are dev-only and never packaged into the Lambda: the orchestrator
(`stack`) and its `supervisor` that restarts a dying component, the moto launcher
(`moto_server`), the Graph Send API stand-in (`graph_standin`), and the SQS queue
pump (`queue_pump`) that feeds queue messages to the same handlers Lambda would
call, inside killable child processes that enforce each function's Lambda timeout
(`lambda_runtime`).
"""
