"""The TOML configuration: loading it, checking it, and the example ``omnisync init`` writes.

Every string may reference an environment variable as ``${NAME}`` (write ``$${`` for a literal
``${``). Every error names the key it is about, e.g. ``channels.shop.buffer``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from omnisync._redact import redact_url, secrets
from omnisync.adapters import Adapter, AdapterSettings, Capability
from omnisync.errors import CapabilityError, ConfigError
from omnisync.http import RetryPolicy
from omnisync.models import DocumentKind
from omnisync.plugins import get_adapter_class

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ChannelConfig",
    "Config",
    "EngineConfig",
    "LocationConfig",
    "ResolvedChannel",
    "RetryConfig",
    "StoreConfig",
    "WorkerConfig",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_NAME = "omnisync.toml"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Section):
    """``[store]``: where omnisync keeps its state (a password in ``url`` never shows)."""

    url: str = "sqlite:///omnisync.db"

    @field_validator("url")
    @classmethod
    def _remember_password(cls, value: str) -> str:
        password = urlsplit(value).password
        if password:
            secrets.add(unquote(password))  # scrubbed from every log line
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" else value


class EngineConfig(_Section):
    """``[engine]``: how syncs run.

    ``count_lag_seconds`` is how long an inventory source may take to record a shipment a
    channel reported: shipped units keep holding stock until a count taken after the
    shipment shows them gone, or until the source's counts are confirmed this long after it.
    """

    overlap_seconds: int = Field(default=300, ge=0)
    interval_seconds: float = Field(default=60.0, gt=0)
    hold_oversold: bool = True
    lock_ttl_seconds: float = Field(default=120.0, gt=0)
    count_lag_seconds: float = Field(default=3600.0, ge=0)


class WorkerConfig(_Section):
    """``[worker]``: how ``omnisync worker`` processes share the work (PostgreSQL stores).

    ``schedule`` is a cron expression (a sixth field counts seconds) for the periodic tick
    that queues a sync of every channel; ``concurrency`` how many jobs one worker runs at
    once; a worker silent for ``stalled_seconds`` (it sends a heartbeat every
    ``heartbeat_seconds``) is taken for dead and its jobs go back to the queue.
    ``poll_seconds``: how often an idle worker looks for jobs it was not notified of.
    """

    schedule: str = "* * * * *"
    concurrency: int = Field(default=4, ge=1)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    stalled_seconds: float = Field(default=30.0, gt=0)
    poll_seconds: float = Field(default=5.0, gt=0)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) not in (5, 6):
            raise ValueError("a cron expression has five fields (six with seconds)")
        return value


class LocationConfig(_Section):
    """``[locations.NAME]``: a place stock sits.

    ``source`` names the inventory channel that counts it (its id there is ``source_id``,
    by default the location's name). Without a source, omnisync itself keeps the count:
    set it with ``omnisync set-stock``, and shipments and restocks adjust it.
    """

    source: str | None = None
    source_id: str | None = None


class RetryConfig(_Section):
    """``[channels.NAME.retry]``: how calls to the channel are retried."""

    max_attempts: int = Field(default=5, ge=1)
    initial_wait: float = Field(default=0.5, ge=0)
    max_wait: float = Field(default=30.0, ge=0)
    jitter: float = Field(default=0.5, ge=0)

    def policy(self) -> RetryPolicy:
        """The `RetryPolicy` these settings describe."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_wait=self.initial_wait,
            max_wait=self.max_wait,
            jitter=self.jitter,
        )


class ChannelConfig(_Section):
    """``[channels.NAME]``: one marketplace, shop, ERP or back office, through one adapter.

    ``enable`` limits what omnisync does with it (default: everything its adapter can).
    The quantity shown is on-hand at ``locations`` minus reservations, minus ``buffer``,
    times ``percentage`` %, then 0 if below ``zero_below``, then at most ``max_quantity``.
    """

    adapter: str
    enable: list[Capability] | None = None
    locations: list[str] | None = None
    buffer: int = Field(default=0, ge=0)
    percentage: int = Field(default=100, ge=0, le=100)
    zero_below: int = Field(default=0, ge=0)
    max_quantity: int | None = Field(default=None, ge=0)
    overlap_seconds: int | None = Field(default=None, ge=0)
    document_kind: DocumentKind = DocumentKind.SALES_ORDER
    retry: RetryConfig = RetryConfig()
    # The adapter's own settings, raw: they may hold credentials, so reprs leave them out.
    settings: dict[str, Any] = Field(default_factory=dict, repr=False)


class Config(_Section):
    """The whole configuration file."""

    store: StoreConfig = StoreConfig()
    engine: EngineConfig = EngineConfig()
    worker: WorkerConfig = WorkerConfig()
    locations: dict[str, LocationConfig] = Field(
        default_factory=lambda: {"default": LocationConfig()}
    )
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    bundles: dict[str, dict[str, int]] = Field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedChannel:
    """A channel with its adapter class found, its settings validated and its scope settled."""

    name: str
    config: ChannelConfig
    adapter_class: type[Adapter]
    settings: AdapterSettings
    enabled: frozenset[Capability]
    locations: tuple[str, ...]

    def can(self, capability: Capability) -> bool:
        """Whether this channel is set up to do ``capability``."""
        return capability in self.enabled


@dataclass(frozen=True)
class LoadedConfig:
    """A checked configuration: the file's content, its resolved channels, where it lives."""

    config: Config
    channels: dict[str, ResolvedChannel]
    base_dir: Path
    path: Path | None = None

    def local_locations(self) -> frozenset[str]:
        """Locations whose count omnisync keeps itself (no inventory source)."""
        return frozenset(
            name for name, location in self.config.locations.items() if not location.source
        )

    def source_locations(self, channel: str) -> dict[str, str]:
        """For an inventory channel: its location ids mapped to omnisync's location names."""
        return {
            location.source_id or name: name
            for name, location in self.config.locations.items()
            if location.source == channel
        }


def load_config(path: str | os.PathLike[str] | None = None) -> LoadedConfig:
    """Read and check the configuration at ``path``.

    Without a path: ``$OMNISYNC_CONFIG``, else ``omnisync.toml`` in the current directory.
    """
    target = Path(path or os.environ.get("OMNISYNC_CONFIG") or DEFAULT_CONFIG_NAME)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration file at {target}",
            hint="run `omnisync init` to write an example, or pass --config PATH",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target} is not valid TOML: {exc}") from None
    return parse_config(data, base_dir=target.resolve().parent, path=target)


def parse_config(
    data: Mapping[str, Any], *, base_dir: Path | None = None, path: Path | None = None
) -> LoadedConfig:
    """Check configuration ``data`` (as parsed from TOML) and resolve its channels."""
    expanded = _expand(data, "")
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        raise _config_error(exc, prefix="") from None
    _check_names(config)
    channels = {name: _resolve_channel(name, ch, config) for name, ch in config.channels.items()}
    _check_locations(config, channels)
    _check_bundles(config)
    return LoadedConfig(config, channels, base_dir or Path.cwd(), path)


def _expand(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        return _REFERENCE.sub(lambda match: _lookup(match, key), value)
    return value


def _lookup(match: re.Match[str], key: str) -> str:
    if match.group(0) == "$${":
        return "${"
    name = match.group(1)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(f"${{{name}}} is not a valid environment variable reference", key=key)
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(
            f"environment variable {name} is not set",
            key=key,
            hint=f"export {name}=... before running omnisync",
        )
    if ".settings." in key:
        secrets.add(value)  # adapter settings are where credentials live: never log them
    return value


def _shown(key: str, value: object) -> str:
    """The offending value for an error message, unless it may be a credential.

    Adapter settings hold credentials under any name (a misspelt ``tokn`` included), so their
    values are never repeated; elsewhere only plain numbers and short words are.
    """
    if ".settings." in f"{key}." or isinstance(value, dict | list | SecretStr):
        return ""
    if isinstance(value, str) and len(value) > 40:
        return ""
    return f" (got {value!r})"


def _config_error(exc: ValidationError, prefix: str) -> ConfigError:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        problems.append((key, f"{error['msg']}{_shown(key, error.get('input'))}"))
    first_key, first_message = problems[0]
    if len(problems) == 1:
        return ConfigError(first_message, key=first_key)
    listing = "; ".join(f"{key}: {message}" for key, message in problems)
    return ConfigError(f"{len(problems)} problems: {listing}")


def _check_names(config: Config) -> None:
    for section, names in (("channels", config.channels), ("locations", config.locations)):
        for name in names:
            if not _NAME.match(name):
                raise ConfigError(
                    "names start with a letter and hold only letters, digits, '-' and '_'",
                    key=f"{section}.{name}",
                )


def _resolve_channel(name: str, channel: ChannelConfig, config: Config) -> ResolvedChannel:
    key = f"channels.{name}"
    cls = get_adapter_class(channel.adapter)
    enabled = frozenset(channel.enable) if channel.enable is not None else cls.capabilities
    missing = sorted(enabled - cls.capabilities)
    if missing:
        can = ", ".join(sorted(c.label for c in cls.capabilities)) or "nothing"
        raise CapabilityError(
            f"adapter {cls.name!r} cannot {', '.join(c.label for c in missing)} (it can: {can})",
            key=f"{key}.enable",
        )
    locations = (
        tuple(channel.locations) if channel.locations is not None else tuple(config.locations)
    )
    for location in locations:
        if location not in config.locations:
            raise ConfigError(
                f"location {location!r} is not defined",
                key=f"{key}.locations",
                hint=f"add a [locations.{location}] section or remove it from the list",
            )
    return ResolvedChannel(
        name=name,
        config=channel,
        adapter_class=cls,
        settings=_adapter_settings(cls, channel.settings, f"{key}.settings"),
        enabled=enabled,
        locations=locations,
    )


def _adapter_settings(cls: type[Adapter], raw: dict[str, Any], key: str) -> AdapterSettings:
    values = dict(raw)
    for field_name, field in cls.Settings.model_fields.items():
        extra = field.json_schema_extra
        env = extra.get("env") if isinstance(extra, dict) else None
        if field_name not in values and isinstance(env, str) and env in os.environ:
            values[field_name] = os.environ[env]
    try:
        settings = cls.Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc, prefix=key) from None
    for field_name in cls.Settings.model_fields:
        value = getattr(settings, field_name)
        if isinstance(value, SecretStr):
            secrets.add(value.get_secret_value())
    return settings


_SELLING = frozenset({Capability.PULL_ORDERS, Capability.PUSH_STOCK, Capability.PULL_RETURNS})


def _check_locations(config: Config, channels: dict[str, ResolvedChannel]) -> None:
    if not config.locations:
        raise ConfigError(
            "define at least one location", key="locations", hint="e.g. [locations.warehouse]"
        )
    for resolved in channels.values():
        if not resolved.locations and resolved.enabled & _SELLING:
            raise ConfigError(
                "a channel that sells needs at least one location to sell from",
                key=f"channels.{resolved.name}.locations",
            )
    sources = {loc.source for loc in config.locations.values() if loc.source}
    for name, location in config.locations.items():
        source = location.source
        if source is None:
            continue
        channel = channels.get(source)
        if channel is None or not channel.can(Capability.PULL_STOCK):
            raise ConfigError(
                f"source {source!r} is not a channel that pulls stock",
                key=f"locations.{name}.source",
                hint="name a channel whose adapter can pull stock, or remove `source`",
            )
    for channel in channels.values():
        if channel.can(Capability.PULL_STOCK) and channel.name not in sources:
            raise ConfigError(
                "pulls stock, but no location names it as its source",
                key=f"channels.{channel.name}",
                hint=f'add source = "{channel.name}" to the [locations.NAME] it counts',
            )


def _check_bundles(config: Config) -> None:
    for bundle, components in config.bundles.items():
        key = f"bundles.{bundle}"
        if not components:
            raise ConfigError("a bundle needs at least one component", key=key)
        for component, quantity in components.items():
            if quantity < 1:
                raise ConfigError(
                    f"quantity must be at least 1 (got {quantity})", key=f"{key}.{component}"
                )
            if component in config.bundles:
                raise ConfigError(
                    f"component {component!r} is itself a bundle; list its components instead",
                    key=f"{key}.{component}",
                )
