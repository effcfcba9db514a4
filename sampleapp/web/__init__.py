"""The Django project: the microblog itself. The only package of sampleapp that imports Django."""
