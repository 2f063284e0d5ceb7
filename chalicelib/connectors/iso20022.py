"""ISO 20022 code lists more than one standard uses (UK OB v4.0, Berlin Group).

`ExternalCashAccountType1Code` names the kind of account; both UK OB v4
`AccountTypeCode` and Berlin Group `cashAccountType` carry it.
"""

from __future__ import annotations

from chalicelib.bank_data import AccountKind

CASH_ACCOUNT_KINDS = {
    "CACC": AccountKind.CHECKING,  # current
    "TRAN": AccountKind.CHECKING,  # transacting
    "SLRY": AccountKind.CHECKING,  # salary
    "NREX": AccountKind.CHECKING,  # non-resident external
    "NFCA": AccountKind.CHECKING,  # non-resident foreign currency
    "SVGS": AccountKind.SAVINGS,  # savings
    "LLSV": AccountKind.SAVINGS,  # limited liquidity savings
    "MOMA": AccountKind.SAVINGS,  # money market
    "ONDP": AccountKind.SAVINGS,  # overnight deposit
    "CARD": AccountKind.CREDIT_CARD,  # card account
    "LOAN": AccountKind.LOAN,  # loan
    "MORT": AccountKind.LOAN,  # mortgage (UK OB v4 code list)
    "MGLD": AccountKind.LOAN,  # marginal lending
    "ODFT": AccountKind.LINE_OF_CREDIT,  # overdraft
}
"""ISO cash account type -> canonical kind; every other code (CASH, CHAR, TAXE, ...) is `other`."""
