"""Pure functions over the results table, and thin plotting on top of them."""
