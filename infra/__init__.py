"""BankBridge's AWS resources as code and the tools that build them.

`template.json` is the single definition of the stage's resources; `provision`
creates them with CloudFormation (moto locally), `package` merges them into the
`chalice package` SAM stack, `requirements` keeps requirements.txt generated.
"""
