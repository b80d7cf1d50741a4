"""The store: one database holding the list, the issues' records and every delivery.

Everything that is the store's lives here: the connection (``engine``), the tables
(``schema``) and how they came to be (``migrations``), the subscriber rows (``roster``),
the issue records (``editions``), the delivery ledger (``ledger``), the leases every
process shares (``locks``) and the figures read back from the ledger (``sendstats``).
"""
