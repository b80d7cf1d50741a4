"""The editors' preview: a local web page showing the day's draft as readers will get it."""
