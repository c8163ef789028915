"""Who is known: identities and their UINs and VIDs, relying parties and their API keys, and the
subject an authentication is about.
"""
