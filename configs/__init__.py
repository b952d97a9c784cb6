"""offerlab's Hydra configs as package data, so that an installed copy finds them (see ``sim/resources.py``)."""
