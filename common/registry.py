"""A name -> constructor registry (mindcv-style) instead of if/elif chains."""


class Registry:
    def __init__(self, kind):
        self.kind = kind
        self._items = {}

    def register(self, name=None):
        """Decorator: ``@BACKBONES.register()`` registers under the function/class name."""
        def wrap(obj):
            key = name or obj.__name__
            if key in self._items:
                raise KeyError(f"{self.kind} '{key}' registered twice")
            self._items[key] = obj
            return obj
        return wrap

    def get(self, name):
        if name not in self._items:
            raise KeyError(f"unknown {self.kind} '{name}'; known: {', '.join(sorted(self._items))}")
        return self._items[name]

    def create(self, name, **kwargs):
        return self.get(name)(**kwargs)

    def names(self):
        return sorted(self._items)

    def __contains__(self, name):
        return name in self._items
