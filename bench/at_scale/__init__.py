"""The parts of bench/scale.py, one job each.

- ``dataset``: the database, the seeded project, users and flags, the 1 M-customer data
  set and the customer with 10,000 events (``prepare``).
- ``timing``: timing one request (wall and CPU of this process and its PostgreSQL
  backend), query counts, the result table.
- ``pages``: the cases of the customer filter, Django's admin changelist and the profile.
- ``search``: the filter on any attribute (equality, prefix, contains on searchable ones).
- ``export``: the export cases, each in a subprocess of its own (peak memory), and the
  bare ``COPY`` that is their limit.

``bench/scale.py`` is the script that runs them.
"""
