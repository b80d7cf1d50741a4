"""The public web app: subscribe, confirm, unsubscribe, the archive, the SES webhook."""
