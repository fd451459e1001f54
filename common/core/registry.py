"""A name -> constructor registry (mindcv-style) instead of if/elif chains."""


class Registry:
    def __init__(self, kind):
        self.kind = kind
        self._items = {}
        self._meta = {}

    def register(self, name=None, **meta):
        """Decorator: ``@BACKBONES.register()`` registers under the function/class name; ``meta`` (e.g.
        ``input_size=(3, 112, 112)``) is kept for :meth:`meta`."""
        def wrap(obj):
            key = name or obj.__name__
            if key in self._items and self._items[key] is not obj:
                raise KeyError(f"{self.kind} '{key}' registered twice")
            self._items[key] = obj
            self._meta[key] = dict(meta)
            return obj
        return wrap

    def meta(self, name):
        self.get(name)
        return self._meta.get(name, {})

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
