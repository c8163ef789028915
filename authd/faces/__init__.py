"""Faces in the running service: the encoder pool and thresholds, the gallery kept in step with the
database, enrollment with 1:N dedup and its cases, batch enrollment and re-sealing.
"""
