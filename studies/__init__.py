"""Research diagnostics: what limits a learner, and how believable the market is.

Each module answers one question and is run on demand (``python -m studies.<name>``); its page
in ``docs/studies/`` gives the question, the command and the current answer. The product
(``sim``, ``policies``, ``bandits``, ``experiments``, serving) never imports this package.
"""
