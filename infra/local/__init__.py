"""The local development stack: AWS is moto, banks are real HTTP servers.

Modules here are dev-only and never packaged into the wheel or the Lambda: the
orchestrator (`stack`) and its `supervisor` that restarts a dying component, the moto
launcher (`moto_server`), the Graph Send API stand-in (`graph_standin`), the SQS queue
pump (`queue_pump`) that feeds queue messages to the same handlers Lambda would
call, inside killable child processes that enforce each function's Lambda timeout
(`lambda_runtime`), the fake bank (`sandbox_bank`), the chat page (`console`), and
the one way they all serve HTTP (`serving`). From the deployment code the stack uses
only `infra.aws.provision`, to create moto's resources from the production template.
"""
