"""Option types and ranges: one declaration per key (``common.core.options.SPECS``) that checks a value and
describes itself for ``--help``.

    spec = Int(min=1, null=True)
    spec.check(value, raw=None)   # -> the normalised value, or raises SpecError(what is allowed)
    spec.describe()               # -> "integer >= 1, or null" (the --help 'allowed' column)

``raw`` is the text typed on the command line (None for a YAML value); booleans are read from it, so only
true/false/yes/no/1/0 pass (YAML would also read on/off/y/n). Choices may be a callable returning the names
(a registry's ``names``), resolved only when a value is checked or --help is printed, so they never drift from
the code. A key without a spec takes the type of its recipe default: a number for a number, a boolean for a
boolean; anything else is left as given (:func:`inferred`).
"""
import math
import os


class SpecError(ValueError):
    """``str()`` is what is allowed, e.g. "an integer >= 1"."""


BOOL_TEXT = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def _fmt(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


class Spec:
    kind = "value"

    def __init__(self, null=False):
        self.null = null

    def check(self, value, raw=None):
        if value is None or (raw is not None and raw.strip().lower() in ("null", "none", "~")):
            if self.null:
                return None
            raise SpecError(self.allowed())
        return self._check(value, raw)

    def _check(self, value, raw):
        return value

    def describe(self):
        return self.kind + (", or null" if self.null else "")

    def allowed(self):
        return self.describe()


class Number(Spec):
    """A finite real number in [min, max] (``gt``: strictly above ``min``)."""
    kind = "number"

    def __init__(self, min=None, max=None, gt=False, lt=False, null=False):
        super().__init__(null)
        self.min, self.max, self.gt, self.lt = min, max, gt, lt

    def _num(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(self.allowed())
        return value

    def _range(self, value):
        if self.min is not None and (value <= self.min if self.gt else value < self.min):
            raise SpecError(self.allowed())
        if self.max is not None and (value >= self.max if self.lt else value > self.max):
            raise SpecError(self.allowed())
        return value

    def _check(self, value, raw):
        return self._range(self._num(value))

    def describe(self):
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.gt else '>='} {_fmt(self.min)}")
        if self.max is not None:
            parts.append(f"{'<' if self.lt else '<='} {_fmt(self.max)}")
        return " ".join([self.kind] + [" and ".join(parts)] if parts else [self.kind]) + (
            ", or null" if self.null else "")


class Int(Number):
    """An integer (a float with no fraction, e.g. 2.0, is taken as 2)."""
    kind = "integer"

    def _check(self, value, raw):
        value = self._num(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise SpecError(self.allowed())
            value = int(value)
        return self._range(value)


class Bool(Spec):
    kind = "boolean (true/false/yes/no/1/0)"

    def _check(self, value, raw):
        if raw is not None:
            text = raw.strip().lower()
            if text not in BOOL_TEXT:
                raise SpecError(self.allowed())
            return BOOL_TEXT[text]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in BOOL_TEXT:
            return BOOL_TEXT[value.strip().lower()]
        raise SpecError(self.allowed())


class Str(Spec):
    kind = "text"

    def _check(self, value, raw):
        if raw is not None:
            return raw
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise SpecError(self.allowed())
        return str(value)


class Path(Str):
    """A path; ``exists="file"``: an existing file (checked at the front door, before anything is built)."""
    kind = "path"

    def __init__(self, null=False, exists=None):
        super().__init__(null)
        self.exists = exists

    def _check(self, value, raw):
        value = super()._check(value, raw)
        if not value.strip():
            raise SpecError(self.allowed())
        if self.exists == "file" and not os.path.isfile(value):
            raise SpecError(f"{self.allowed()}; no such file")
        return value

    def describe(self):
        return ("path of an existing file" if self.exists == "file" else "path") + (", or null" if self.null else "")


class Choice(Spec):
    """One of ``names`` (a tuple, or a callable returning them: a registry's names); ``case``: exact case."""

    def __init__(self, names, null=False, case=True):
        super().__init__(null)
        self._names, self.case = names, case

    def names(self):
        names = self._names() if callable(self._names) else self._names
        return tuple(names)

    def _check(self, value, raw):
        names = self.names()
        if isinstance(value, str):
            if value in names:
                return value
            if not self.case:
                for n in names:
                    if n.lower() == value.lower():
                        return n  # the registry's spelling (cpu -> CPU, onnx -> ONNX)
        raise SpecError(self.allowed())

    def describe(self):
        try:
            names = self.names()
        except Exception:  # a registry that cannot be imported here: say so rather than fail --help
            names = ("(registry not importable)",)
        return "one of " + ", ".join(names) + (", or null" if self.null else "")


class List(Spec):
    """A list (``[a, b]``) of items of ``item``; ``names``: a comma-separated text is accepted too."""

    def __init__(self, item=None, null=False, names=False, min_len=0):
        super().__init__(null)
        self.item, self.names, self.min_len = item, names, min_len

    def _check(self, value, raw):
        if self.names and isinstance(value, str):
            return value
        if not isinstance(value, (list, tuple)) or len(value) < self.min_len:
            raise SpecError(self.allowed())
        if self.item is not None:
            try:
                value = [self.item.check(v) for v in value]
            except SpecError:
                raise SpecError(self.allowed()) from None
        return list(value)

    def describe(self):
        of = f" of {self.item.describe()}" if self.item is not None else ""
        text = f"list{of}" + (" (or comma-separated names)" if self.names else "")
        return text + (", or null" if self.null else "")


class Mapping(Spec):
    kind = "mapping {key: value, ...}"

    def _check(self, value, raw):
        if not isinstance(value, dict):
            raise SpecError(self.allowed())
        return value


class AnyOf(Spec):
    """The first of ``specs`` that accepts the value (e.g. resume: a boolean or a checkpoint path)."""

    def __init__(self, *specs, null=False, label=None):
        super().__init__(null)
        self.specs, self.label = specs, label

    def _check(self, value, raw):
        for s in self.specs:
            try:
                return s.check(value, raw)
            except SpecError:
                continue
        raise SpecError(self.allowed())

    def describe(self):
        return self.label or " or ".join(s.describe() for s in self.specs) + (", or null" if self.null else "")


def inferred(default):
    """The spec of a key that has none, from its recipe default: number, boolean, or None (untyped)."""
    if isinstance(default, bool):
        return Bool()
    if isinstance(default, (int, float)):
        return Number()
    return None


def quote(value, raw=None):
    """The value as the user wrote it, for an error line."""
    if raw is not None:
        return repr(raw) if (not raw or raw != raw.strip() or " " in raw) else raw
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
