"""Faces in the running service: `service` (one face model's encoder in a pool of worker
processes, and its calibrated thresholds), `runtime` (the models and galleries a running
state attaches, encodes with and closes), `gallery` (the FAISS index kept in step with the
database), `models` (which models the gallery holds), `enrollment` (storing a template after a
1:N dedup, and the adjudication cases), `batch` (bulk enrollment from a CSV), `vault`
(sealing templates), `reseal` (re-sealing under a new key) and `reencode` (migrating to
another face model).
"""
