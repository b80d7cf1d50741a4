"""Assembly: the day's gathered items turned into one issue (``issue.json``)."""
