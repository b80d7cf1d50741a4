"""What SES tells us after a send: notifications parsed and applied, from SNS or SQS."""
