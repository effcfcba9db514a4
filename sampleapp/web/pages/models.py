"""Pages: no data of their own; the home page shows the signed-in user's feed."""
