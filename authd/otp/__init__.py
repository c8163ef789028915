"""One-time passwords: requesting one for a UIN or VID, storing it, delivering it (outbox or
webhook) and where it goes, masked.
"""
