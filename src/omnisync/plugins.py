"""The plugin manager, and the only module that calls hooks (pluggy calls are untyped).

Plugins load once, lazily: the built-in ones, then every entry point in the ``omnisync`` group.
``OMNISYNC_LOAD_PLUGINS`` (comma-separated distribution names, empty for none) restricts which
entry points load; ``OMNISYNC_TRACE_HOOKS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points, version
from typing import TYPE_CHECKING, Any

import pluggy

from omnisync import hookspecs
from omnisync._hookdata import LocationCandidate, OrderEvent, RiskAssessment
from omnisync.adapters import Adapter
from omnisync.errors import PluginError
from omnisync.models import Order, OrderLine

if TYPE_CHECKING:
    from collections.abc import Iterator

    from omnisync.sim import SimulatorFactory

__all__ = [
    "DEFAULT_PLUGINS",
    "PluginInfo",
    "adapter_classes",
    "assess_risk",
    "channel_quantity_cap",
    "choose_location",
    "emit_order_event",
    "get_adapter_class",
    "installed_plugins",
    "plugin_manager",
    "simulators",
]

log = logging.getLogger("omnisync.plugins")

DEFAULT_PLUGINS = ("omnisync.sim.plugin",)
"""Plugins shipped inside omnisync itself; they register through the same hooks as any other."""

pm = pluggy.PluginManager("omnisync")
pm.add_hookspecs(hookspecs)
_loaded = False
# Each plugin loaded from an entry point, with its distribution's name and version, by the
# plugin's name (another plugin may take the name once it is unregistered).
_DISTRIBUTIONS: dict[str, tuple[object, str, str]] = {}
_adapters: dict[str, type[Adapter]] | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with every plugin loaded."""
    global _loaded
    if not _loaded:
        _loaded = True
        for name in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(name), name=name)
        _load_entry_points()
        pm.check_pending()
        if os.environ.get("OMNISYNC_TRACE_HOOKS"):
            pm.trace.root.setwriter(lambda message: sys.stderr.write(str(message)))
            pm.enable_tracing()
    return pm


def _load_entry_points() -> None:
    wanted = os.environ.get("OMNISYNC_LOAD_PLUGINS")
    allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
    for ep in entry_points(group="omnisync"):
        dist = ep.dist.name if ep.dist is not None else ep.name
        if allowed is not None and dist not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin {ep.name!r} from {dist!r} failed to import: {exc}") from exc
        pm.register(plugin, name=ep.name)
        if ep.dist is not None:
            _DISTRIBUTIONS[ep.name] = (plugin, ep.dist.name, ep.dist.version)


def _plugin_name(plugin: object) -> str:
    return pm.get_name(plugin) or str(getattr(plugin, "__name__", repr(plugin)))


def _collect_adapters() -> dict[str, type[Adapter]]:
    found: dict[str, type[Adapter]] = {}
    owners: dict[str, str] = {}
    manager = plugin_manager()
    for impl in manager.hook.register_adapters.get_hookimpls():
        owner = _plugin_name(impl.plugin)

        def register(cls: type[Adapter], owner: str = owner) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Adapter)):
                raise PluginError(f"plugin {owner!r} registered {cls!r}, which is not an Adapter")
            if cls.name in found:
                raise PluginError(
                    f"adapter name {cls.name!r} is registered by both {owners[cls.name]!r} "
                    f"and {owner!r}"
                )
            found[cls.name] = cls
            owners[cls.name] = owner

        impl.function(register=register)
    return found


def simulators() -> dict[str, SimulatorFactory]:
    """Every registered simulator factory by name."""
    found: dict[str, SimulatorFactory] = {}
    owners: dict[str, str] = {}
    for impl in plugin_manager().hook.register_simulators.get_hookimpls():
        owner = _plugin_name(impl.plugin)

        def register(name: str, factory: SimulatorFactory, owner: str = owner) -> None:
            if name in found:
                raise PluginError(
                    f"simulator {name!r} is registered by both {owners[name]!r} and {owner!r}"
                )
            found[name] = factory
            owners[name] = owner

        impl.function(register=register)
    return found


def adapter_classes() -> dict[str, type[Adapter]]:
    """Every registered adapter class by name. Computed once per process."""
    global _adapters
    if _adapters is None:
        _adapters = _collect_adapters()
    return dict(_adapters)


def get_adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``; `PluginError` naming the known ones if none."""
    classes = adapter_classes()
    try:
        return classes[name]
    except KeyError:
        known = ", ".join(sorted(classes)) or "none"
        raise PluginError(
            f"no adapter named {name!r} is installed (installed: {known})",
            hint="install the plugin that provides it, e.g. `pip install omnisync-" + name + "`",
        ) from None


def reset_adapter_cache() -> None:
    """Forget the adapter registry, so plugins registered since are seen (tests use this)."""
    global _adapters
    _adapters = None


@dataclass(frozen=True)
class PluginInfo:
    """An installed plugin: its name, its distribution's version, the adapters it registers."""

    name: str
    version: str | None
    adapters: list[str] = field(default_factory=list)


def installed_plugins() -> list[PluginInfo]:
    """Every loaded plugin, built-in ones included, with the adapters each registers."""
    manager = plugin_manager()
    adapters: dict[str, list[str]] = {}
    for impl in manager.hook.register_adapters.get_hookimpls():
        names: list[str] = []
        impl.function(register=lambda cls, names=names: names.append(cls.name))
        adapters[_plugin_name(impl.plugin)] = sorted(names)
    infos = []
    for plugin in manager.get_plugins():
        name = _plugin_name(plugin)
        version: str | None
        found = _DISTRIBUTIONS.get(name)
        if found is not None and found[0] is plugin:
            _, project, version = found
            label = f"{project} ({name})"
        else:
            label, version = name, _own_version() if name in DEFAULT_PLUGINS else None
        infos.append(PluginInfo(name=label, version=version, adapters=adapters.get(name, [])))
    return sorted(infos, key=lambda info: info.name)


def _own_version() -> str:
    return version("omnisync")


def emit_order_event(event: OrderEvent) -> None:
    """Deliver an event to every plugin; a plugin that fails is logged, not fatal."""
    for impl in _impls("order_event"):
        try:
            impl.function(event=event)
        except Exception:
            log.exception(
                "plugin %s failed handling %s for order %s",
                _plugin_name(impl.plugin),
                event.kind.value,
                event.order.external_id,
                extra={"channel": event.order.channel, "order": event.order.external_id},
            )


def assess_risk(order: Order) -> RiskAssessment | None:
    """The highest risk any plugin sees in ``order``; ``None`` if no plugin judges it."""
    answers: list[RiskAssessment] = [
        answer for answer in plugin_manager().hook.assess_risk(order=order) if answer is not None
    ]
    if not answers:
        return None
    return max(answers, key=lambda answer: answer.level.rank)


def channel_quantity_cap(channel: str, sku: str, quantity: int) -> int:
    """``quantity`` lowered by every plugin rule (the lowest answer wins, never below zero)."""
    answers: list[Any] = plugin_manager().hook.channel_quantity(
        channel=channel, sku=sku, quantity=quantity
    )
    caps = [int(answer) for answer in answers if answer is not None]
    return max(min([quantity, *caps]), 0)


def choose_location(
    order: Order, line: OrderLine, sku: str, quantity: int, free: Mapping[str, int]
) -> str | None:
    """The location a plugin picks for this line among ``free`` (the units free at each
    location that serves the channel, in the channel's order), or ``None`` to let omnisync
    fill in order."""
    hook = plugin_manager().hook.choose_location
    if not hook.get_hookimpls():  # every line of every order asks: skip building candidates
        return None
    candidates = [LocationCandidate(location=loc, free=units) for loc, units in free.items()]
    answer: str | None = hook(
        order=order, line=line, sku=sku, quantity=quantity, candidates=candidates
    )
    if answer is None:
        return None
    if answer not in free:
        raise PluginError(
            f"choose_location returned {answer!r}, which does not serve channel {order.channel!r}"
        )
    return answer


def has_impls(hook: str) -> bool:
    """Whether any plugin implements ``hook`` (lets the engine skip work nobody listens to)."""
    return bool(list(_impls(hook)))


def _impls(hook: str) -> Iterator[pluggy.HookImpl]:
    yield from getattr(plugin_manager().hook, hook).get_hookimpls()
