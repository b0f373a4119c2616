"""Capstan's plugin helpers for Python (written by `capstan plugin new`).

A thin layer over the bindings componentize-py generates from
wit/plugin.wit: objects arrive as a list of dicts and the `with:` block as
a dict; a plugin returns dicts, `Diagnostic`s or a `Status`, and raises
`InvalidConfig`, `InvalidInput` or `Failed` to fail a call. Wrap the
plugin's function with the decorator of its world and bind the result to
the name componentize-py exports:

    Validate = capstan_plugin.validator(check)        # world: validator
    Transform = capstan_plugin.transformer(change)    # world: transformer
    Render = capstan_plugin.renderer(generate)        # world: renderer
    Assess = capstan_plugin.health(assess)            # world: health

The bindings (`wit_world`) exist only inside the component, so this module
imports them only when a call arrives: the plugin's functions run natively
too, in unit tests (`python3 -m unittest`).
"""

import json
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple, Union

__all__ = [
    "Context", "Diagnostic", "Status", "InvalidConfig", "InvalidInput", "Failed",
    "error", "warning", "info", "field", "labels", "log",
    "renderer", "transformer", "validator", "health",
]


class PluginError(Exception):
    """A call that fails; the message should name the file, object and field."""

    kind = "failed"


class InvalidConfig(PluginError):
    """The `with:` parameters are not what the plugin accepts."""

    kind = "invalid-config"


class InvalidInput(PluginError):
    """The snapshot or the input objects are not what the plugin accepts."""

    kind = "invalid-input"


class Failed(PluginError):
    """Anything else went wrong inside the plugin."""

    kind = "failed"


@dataclass
class Context:
    """Where a call runs: the Application, its namespace, the directory of the snapshot, the commit."""

    app: str
    namespace: Optional[str]
    path: str
    revision: str


@dataclass
class Diagnostic:
    """A finding: `severity` is "error", "warning" or "info"; `object` is
    the object it is about (its apiVersion, kind, namespace and name are
    reported); `field` a path in it (see `field()`); `file` a snapshot file."""

    severity: str
    message: str
    object: Optional[dict] = None
    field: Optional[str] = None
    file: Optional[str] = None


def error(message: str, about: Optional[dict] = None, at: Optional[str] = None, file: Optional[str] = None) -> Diagnostic:
    """An error diagnostic (an enforcing policy stops the sync)."""
    return Diagnostic("error", message, about, at, file)


def warning(message: str, about: Optional[dict] = None, at: Optional[str] = None, file: Optional[str] = None) -> Diagnostic:
    """A warning diagnostic."""
    return Diagnostic("warning", message, about, at, file)


def info(message: str, about: Optional[dict] = None, at: Optional[str] = None, file: Optional[str] = None) -> Diagnostic:
    """An informational diagnostic."""
    return Diagnostic("info", message, about, at, file)


@dataclass
class Status:
    """A health check's verdict: `health` is "healthy", "progressing",
    "degraded", "missing" or "unknown"."""

    health: str
    message: str


def field(*parts: Union[str, int, list]) -> str:
    """A field path as Kubernetes writes it: `field("spec", "containers", 0,
    "image")` is `spec.containers[0].image`; a one-element list is a map key,
    `field("metadata", "labels", ["app.kubernetes.io/name"])` is
    `metadata.labels[app.kubernetes.io/name]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, list):
            out += f"[{part[0]}]"
        else:
            out += f".{part}" if out else part
    return out


def labels(obj: dict) -> dict:
    """The object's `metadata.labels`, created when absent."""
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{_describe(obj)}: metadata is not a map")
    found = metadata.setdefault("labels", {})
    if not isinstance(found, dict):
        raise InvalidInput(f"{_describe(obj)}: metadata.labels is not a map")
    return found


_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(level: str, message: str) -> None:
    """A line in the engine's log under the plugin's name (level: trace,
    debug, info, warn or error); natively, a line on stderr."""
    if level not in _LEVELS:
        raise ValueError(f"log level {level!r}: use one of {', '.join(_LEVELS)}")
    try:
        from wit_world.imports import log as wit_log
    except ImportError:
        print(f"{level}: {message}", file=sys.stderr)
        return
    wit_log.log(wit_log.Level[level.upper()], message)


# The glue: WIT values in, the plugin's function, WIT values out.

def _describe(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "an object"
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "")
    kind = obj.get("kind", "")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def _params(text: str) -> dict:
    try:
        params = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise InvalidConfig(f"invalid `with:` parameters: {e}") from None
    if not isinstance(params, dict):
        raise InvalidConfig("invalid `with:` parameters: not a map")
    return params


def _objects(items: List[str]) -> List[dict]:
    out = []
    for index, text in enumerate(items):
        try:
            out.append(json.loads(text))
        except ValueError as e:
            raise InvalidInput(f"item {index} is not JSON: {e}") from None
    return out


def _context(ctx: Any) -> Context:
    return Context(ctx.app, ctx.namespace, ctx.path, ctx.revision)


def _wit_diagnostic(diagnostic: Diagnostic) -> Any:
    from wit_world.imports import types

    if not isinstance(diagnostic, Diagnostic):
        raise Failed(f"a diagnostic must be a capstan_plugin.Diagnostic, not {type(diagnostic).__name__}")
    try:
        severity = types.Severity[diagnostic.severity.upper()]
    except KeyError:
        raise Failed(f"diagnostic severity {diagnostic.severity!r}: use error, warning or info") from None
    ref = None
    if diagnostic.object is not None:
        obj = diagnostic.object
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        ref = types.ObjectRef(str(obj.get("apiVersion", "")), str(obj.get("kind", "")),
                              metadata.get("namespace"), str(metadata.get("name", "")))
    return types.Diagnostic(severity, diagnostic.message, ref, diagnostic.field, diagnostic.file)


def _wit_output(returned: Any) -> Any:
    """A list of objects, or a tuple (objects, diagnostics)."""
    from wit_world.imports import types

    objects, diagnostics = returned if isinstance(returned, tuple) else (returned, [])
    items = []
    for obj in objects:
        if not isinstance(obj, dict):
            raise Failed(f"every returned object must be a dict, not {type(obj).__name__}")
        items.append(json.dumps(obj, separators=(",", ":")))
    return types.Output(items, [_wit_diagnostic(d) for d in diagnostics])


def _call(body: Callable[[], Any]) -> Any:
    """Runs `body`; a PluginError becomes the WIT error it names, any other
    exception `failed` with its type and message (the traceback goes to
    stderr, which the engine logs)."""
    from componentize_py_types import Err
    from wit_world.imports import types

    variants = {
        "invalid-config": types.Error_InvalidConfig,
        "invalid-input": types.Error_InvalidInput,
        "failed": types.Error_Failed,
    }
    try:
        return body()
    except PluginError as e:
        raise Err(variants[e.kind](str(e))) from None
    except Exception as e:  # noqa: BLE001 - every failure becomes the call's error, not a trap
        traceback.print_exc(file=sys.stderr)
        raise Err(types.Error_Failed(f"{type(e).__name__}: {e}")) from None


def renderer(fn: Callable[[Context, dict], Union[List[dict], Tuple[List[dict], List[Diagnostic]]]]) -> type:
    """`fn(ctx, params)` reads the snapshot (at `/`, the directory
    `ctx.path`) and returns objects, or (objects, diagnostics)."""

    class Render:
        def render(self, ctx: Any, params: str) -> Any:
            return _call(lambda: _wit_output(fn(_context(ctx), _params(params))))

    return Render


def transformer(fn: Callable[[List[dict], dict, Context], Union[List[dict], Tuple[List[dict], List[Diagnostic]]]]) -> type:
    """`fn(objects, params, ctx)` returns the new objects, or (objects,
    diagnostics); objects left out are removed."""

    class Transform:
        def transform(self, ctx: Any, items: List[str], params: str) -> Any:
            return _call(lambda: _wit_output(fn(_objects(items), _params(params), _context(ctx))))

    return Transform


def validator(fn: Callable[[List[dict], dict, Context], List[Diagnostic]]) -> type:
    """`fn(objects, params, ctx)` returns one Diagnostic per finding."""

    class Validate:
        def validate(self, ctx: Any, items: List[str], params: str) -> Any:
            return _call(lambda: [_wit_diagnostic(d) for d in fn(_objects(items), _params(params), _context(ctx))])

    return Validate


def health(fn: Callable[[dict, dict], Status]) -> type:
    """`fn(obj, params)` assesses one live object and returns a Status."""

    class Assess:
        def assess(self, item: str, params: str) -> Any:
            from wit_world.exports import assess

            def body() -> Any:
                status = fn(_objects([item])[0], _params(params))
                if not isinstance(status, Status):
                    raise Failed(f"a health check returns a capstan_plugin.Status, not {type(status).__name__}")
                try:
                    verdict = assess.Health[status.health.upper()]
                except KeyError:
                    raise Failed(f"health {status.health!r}: use healthy, progressing, degraded, missing or unknown") from None
                return assess.Status(verdict, status.message)

            return _call(body)

    return Assess
