"""Service discovery on etcd v3: the thesis's registrar, confd and SkyDNS roles, rebuilt.

The roles (``supervisor`` and ``registrar``, ``renderer``, ``dns``; docs/ARCHITECTURE.md maps
every module) share one etcd client (``etcd``), one key schema (``keys``) and one reader of the
environment (``config``). Nothing here imports Django or ``sampleapp.web``: the app server is
reached over HTTP only.
"""
