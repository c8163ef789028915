"""One-time passwords: `requests` (requesting one for a UIN or VID: the same answer whether or
not the ID exists), `transactions` (minting, hashing and checking codes; the `OtpStore`
interface), `stores` (that store in the database or in Redis), `destinations` (where a code
goes, shown masked) and `notify` (delivery off the request path: outbox file or signed
webhook).
"""
