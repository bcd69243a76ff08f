"""The reference Calendar Assistant: the system the drills break and repair.

Users and calendar events live in MongoDB; Redis caches event lookups and
holds sessions. Ids are chosen by the client, so every write can be tracked.
"""
