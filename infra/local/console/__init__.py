"""The BankBridge console: a Messenger-like page for trying the local stack in a browser.

Dev-only (started by `make dev`); the deployed app never imports it. The browser
talks only to this backend, which signs webhooks with the dev app secret, reads the
bot's replies from the Graph stand-in and the components' redacted log lines, so no
secret ever reaches the page.
"""
