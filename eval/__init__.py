"""Search evaluation: a labelled development set built from real media at run time, and the scorer."""
