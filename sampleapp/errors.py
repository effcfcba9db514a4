"""The one error hierarchy of sampleapp.

Every failure the project reports to a person is one of these, with a message that says what
failed, what was expected against what was found, and the next command to run. Library and
subprocess errors are translated into them at the boundary (one context manager per boundary,
chained with ``from exc``), and ``sampleapp.cli.main`` prints them as ``error: <message>``.

    SampleappError
    ├── ConfigError        a setting or environment variable is missing or malformed
    ├── PreflightError     a check before any change failed (engine, ports, secrets, tools)
    ├── StackError         a container, image, compose or swarm operation failed
    ├── DiscoveryError     etcd, nginx or DNS could not be reached or used
    └── CostError          a price file, topology, page-size file or traffic figure is unknown,
                           malformed or out of range
"""

from __future__ import annotations


class SampleappError(Exception):
    """Base of every error sampleapp reports; its message names the fix."""


class ConfigError(SampleappError):
    """A setting or environment variable is missing or malformed."""


class PreflightError(SampleappError):
    """A check that runs before anything is changed has failed."""


class StackError(SampleappError):
    """A container, image, compose or swarm operation failed."""


class DiscoveryError(SampleappError):
    """etcd, nginx or the DNS responder could not be reached or used."""


class CostError(SampleappError):
    """A price file, topology, page-size file or traffic figure is unknown or malformed."""
