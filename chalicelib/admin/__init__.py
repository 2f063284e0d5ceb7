"""Administration of BankBridge: the connector admin API and its live checks."""
