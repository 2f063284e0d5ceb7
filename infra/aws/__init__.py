"""BankBridge's AWS resources as code and the tools that build and deploy them.

`template.json` is the single definition of the stage's resources; `provision`
creates them with CloudFormation (moto locally), `package` merges them into the
`chalice package` SAM stack, `deploy` runs route (b) of docs/deployment.md,
`permissions` generates the functions' IAM policies, `requirements` keeps
requirements.txt generated and `vendor` installs it into the Lambda zip.

Never packaged into the wheel or the Lambda zip. `provision` is the one module
the local stack (`infra.local`) may use: it creates a stage's resources in moto
from the same template production deploys.
"""
