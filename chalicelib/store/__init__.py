"""DynamoDB access: the key schema in one place, and one typed repository per item kind."""
