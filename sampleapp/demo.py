"""The sample data's demo account, in one place.

``populate`` creates it (the Rails Tutorial's seed user, an admin), and ``make run``, ``up`` and
``cluster deploy`` print it with the URL, so that a first visitor can sign in at once. Plain
constants: the web package, the deployment code and the benchmarks all read them, and only the
first may import Django.
"""

EMAIL = "example@railstutorial.org"
PASSWORD = "foobar"
LOGIN = (EMAIL, PASSWORD)
