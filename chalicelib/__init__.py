"""BankBridge: a serverless bridge between messaging apps and open-banking APIs."""
