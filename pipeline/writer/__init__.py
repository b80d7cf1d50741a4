"""The AI desk: prose written by a language model, checked against the day's data.

- ``facts``: the facts pack the model writes from (items with stable ids, figures, headlines)
- ``quantities``, ``sentences``, ``grounding``: the deterministic checker
- ``backends``: OpenAI-compatible Chat Completions (httpx) and Bedrock Converse (boto3)
- ``prompts``: instructions and the JSON schemas of each piece
- ``desk``: asks for each piece, checks it, caches answers, keeps to the token budget
- ``errors``: ``WriterError`` and its family
"""
