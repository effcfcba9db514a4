"""What the deployment costs: the thesis's tables recomputed, and today's price of our topology.

Plain typed functions over data files (deploy/cost/*.yaml, deploy/aws/topology.yaml): no Django
and no Docker, so a price can be worked out, and tested to the cent, on any machine. Money is
``decimal.Decimal`` throughout and is rounded only when shown.
"""
