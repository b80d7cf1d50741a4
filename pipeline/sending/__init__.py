"""The send engine: every active subscriber gets the issue once, at the account's rate."""
