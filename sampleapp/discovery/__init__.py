"""Service discovery on etcd v3: the thesis's registrar, confd and SkyDNS roles, rebuilt.

``registrar`` announces an app server under a lease once it is ready, ``renderer`` keeps
nginx's pool of app servers in step with the registrations (watch, render, ``nginx -t``, graceful
reload) and runs nginx as its child, ``dns`` answers ``*.sampleapp.local`` from SkyDNS-style
keys. They share one small etcd client (``etcd``), one key schema (``keys``) and one reader of
the environment (``config``). Nothing here imports Django or ``sampleapp.web``: the app server
is reached over HTTP only.
"""
