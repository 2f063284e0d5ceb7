"""The local development stack: AWS is moto, banks are real HTTP servers.

Modules here are dev-only and never packaged into the Lambda: the Graph Send API
stand-in (`graph_standin`) and the SQS queue pump (`queue_pump`) that feeds queue
messages to the same handlers Lambda would call.
"""
