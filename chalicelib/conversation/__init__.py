"""The conversation core: intents, dialogue and reply wording. Pure: no AWS, no HTTP."""
