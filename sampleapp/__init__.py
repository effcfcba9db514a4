"""sampleapp: the Rails Tutorial microblog in Django, and the tools that deploy it."""

__version__ = "0.1.0"
