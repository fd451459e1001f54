"""The flows every model entry runs, once: train, eval, export (and embed, for tools).

``<model>/train.py`` is ``guard(lambda argv: flows.train.run(RECIPE, argv))``; the recipe (common/recipes/contract.py)
says what differs between models.
"""
