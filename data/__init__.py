"""The data offerlab ships, as package data, so that an installed copy finds it (see ``sim/resources.py``)."""
