"""The MultiCloud registry: a cloud region's flavors, discovered and written to A&AI.

Registering a region is an operation of the lifecycle engine with two tasks: ``list``
asks the request's flavor source (a plugin of group ``nfvd.flavor_sources``) for the
region's flavors; ``write`` runs HPA discovery on each flavor whose name has the
configured prefix (ONAP's rule: ``onap.``) and writes every flavor, with its capabilities,
to A&AI, several at a time. Capability ids are stable, so registering again updates A&AI in
place; flavors nfvd wrote for the region before that the source no longer lists are
removed. Unregistering the region removes every flavor nfvd wrote for it.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from framework.aai import AaiClient, AaiError, AaiSettings, aai_flavor
from framework.discovery import Discovery
from framework.engine import Engine, OperationView, TaskContext, TaskSpec, TaskType
from framework.errors import BadRequest, Conflict, FrameworkError, NotFound
from framework.flavor_sources import FlavorSourceError
from framework.plugins.registry import PluginRegistry
from framework.store import Store
from framework.store.tables import mc_regions

#: The kind of the engine operations that register a region.
KIND = "multicloud.registry"
LIST, WRITE = "multicloud:list-flavors", "multicloud:write-aai"
RUNNING = ("PROCESSING", "PAUSED", "ROLLING_BACK")


class AaiUnavailable(FrameworkError):
    """A&AI did not do what was asked (unregistering a region waits for it)."""

    status = 502
    title = "A&AI Failed"
    type = "https://nfvd.dev/problems/aai-failed"


def each(call: Callable[..., Any], arguments: list[tuple[Any, ...]], concurrency: int) -> None:
    """``call(*args)`` for each, ``concurrency`` at a time (A&AI round trips dominate a
    registration); waits for all, then raises the first error."""
    if not arguments:
        return
    with concurrent.futures.ThreadPoolExecutor(max(1, concurrency),
                                               thread_name_prefix="nfvd-aai") as pool:
        futures = [pool.submit(call, *args) for args in arguments]
    for future in futures:
        future.result()


class RegionTable:
    """The ``mc_regions`` rows: a region's last registration and the flavors nfvd wrote."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(owner: str, region: str) -> Any:
        return and_(mc_regions.c.cloud_owner == owner, mc_regions.c.cloud_region_id == region)

    def get(self, owner: str, region: str) -> tuple[str, list[str]] | None:
        """(operation id, flavor ids) of the region, or None when it is not registered."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(mc_regions.c.operation_id, mc_regions.c.flavors)
                               .where(self._key(owner, region))).first()
        return None if row is None else (row.operation_id, json.loads(row.flavors))

    def flavors(self, owner: str, region: str) -> list[str]:
        """The ids of the flavors nfvd wrote for the region (none when not registered)."""
        found = self.get(owner, region)
        return found[1] if found else []

    def put(self, owner: str, region: str, operation_id: str | None = None,
            flavors: Iterable[str] | None = None) -> None:
        """Creates or updates the row; a field given as None is kept (created: empty)."""
        values: dict[str, Any] = {"updated_at": time.time()}
        if operation_id is not None:
            values["operation_id"] = operation_id
        if flavors is not None:
            values["flavors"] = json.dumps(sorted(set(flavors)))
        with self.store.engine.begin() as conn:
            done = conn.execute(update(mc_regions).where(self._key(owner, region))
                                .values(**values)).rowcount
            if not done:
                conn.execute(insert(mc_regions).values(
                    cloud_owner=owner, cloud_region_id=region,
                    **{"operation_id": "", "flavors": "[]", **values}))

    def remove(self, owner: str, region: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(delete(mc_regions).where(self._key(owner, region)))


class ListFlavors(TaskType):
    """Asks the flavor source for the region's flavors; the result holds them."""

    side_effects = False

    def __init__(self, plugins: PluginRegistry) -> None:
        self.plugins = plugins

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        params = ctx.params
        source = self.plugins.flavor_sources[params["source"]]
        try:
            flavors = source.list_flavors(params["owner"], params["region"], params["params"])
        except FlavorSourceError as exc:
            raise RuntimeError(f"flavor source {params['source']!r}: {exc}") from None
        return {"flavors": flavors}


class WriteFlavors(TaskType):
    """Discovers each listed flavor and writes it to A&AI as soon as it is discovered
    (``concurrency`` writes at a time).

    Side effect recorded first: the ids of flavors new to the region, which a rollback
    removes from A&AI again; flavors that were there before are left as they are.
    """

    def __init__(self, discovery: Callable[[], Discovery], aai: Callable[[], AaiClient],
                 regions: RegionTable, concurrency: int) -> None:
        self.discovery = discovery
        self.aai = aai
        self.regions = regions
        self.concurrency = max(1, concurrency)

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        params = ctx.params
        owner, region = params["owner"], params["region"]
        listed = ctx.results[params["list"]]["flavors"]
        before = set(self.regions.flavors(owner, region))
        ids = [str(item["flavor"]["id"]) for item in listed]
        ctx.record_side_effect({"created": sorted(set(ids) - before)})
        reports: list[dict[str, Any]] = []
        client = self.aai()
        try:
            records = self._write(client, params, listed, reports)
            stale = sorted(before - set(ids))
            each(client.delete_flavor, [(owner, region, flavor) for flavor in stale],
                 self.concurrency)
        finally:
            client.close()
        self.regions.put(owner, region, flavors=ids)
        capabilities = sum(len(r["hpa-capabilities"]["hpa-capability"]) for r in records)
        return {"flavors": len(ids), "capabilities": capabilities, "removed": stale,
                "dropped": reports}

    def _write(self, client: AaiClient, params: Mapping[str, Any],
               listed: list[Mapping[str, Any]], dropped: list[dict[str, Any]]
               ) -> list[dict[str, Any]]:
        """The A&AI flavor of each listed flavor, each PUT as soon as it is discovered, so
        that the writes (A&AI round trips) overlap the discovery of the next flavors; waits
        for every write, then raises the first error."""
        owner, region = params["owner"], params["region"]
        chosen = [str(item["flavor"].get("name", "")).startswith(params["prefix"])
                  for item in listed]
        found = self.discovery().discover_all(
            self._data(params, item) for item, discover in zip(listed, chosen, strict=True)
            if discover)
        records = []
        with concurrent.futures.ThreadPoolExecutor(self.concurrency,
                                                   thread_name_prefix="nfvd-aai") as pool:
            futures = []
            for item, discover in zip(listed, chosen, strict=True):
                flavor = item["flavor"]
                capabilities: list[dict[str, Any]] = []
                if discover:
                    result = next(found)
                    capabilities = result["hpa-capability"]
                    dropped += [{"flavor": flavor.get("id"), **entry}
                                for entry in result["plugins"] if entry["status"] == "dropped"]
                records.append(aai_flavor(flavor, capabilities))
                futures.append(pool.submit(client.put_flavor, owner, region, records[-1]))
        for future in futures:
            future.result()
        return records

    @staticmethod
    def _data(params: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        """The input of HPA discovery for one listed flavor, in ONAP's shape."""
        return {"flavor": item["flavor"], "extra_specs": item.get("extra_specs") or {},
                "vimtype": params["vimType"],
                "viminfo": {"cloud_owner": params["owner"], "cloud_region_id": params["region"],
                            "cloud_extra_info": params.get("cloudExtraInfo")}}

    def rollback(self, ctx: TaskContext) -> None:
        created = [flavor for effect in ctx.side_effects for flavor in effect.get("created", [])]
        if not created:
            return
        owner, region = ctx.params["owner"], ctx.params["region"]
        client = self.aai()
        try:
            each(client.delete_flavor, [(owner, region, flavor) for flavor in created],
                 self.concurrency)
        finally:
            client.close()
        known = self.regions.flavors(owner, region)
        self.regions.put(owner, region, flavors=set(known) - set(created))


class RegionRegistry:
    """Registers, shows and unregisters regions (the handlers of ``specs/multicloud.yaml``)."""

    def __init__(self, engine: Engine, plugins: PluginRegistry, regions: RegionTable,
                 aai: AaiSettings | None, *, prefix: str = "onap.",
                 concurrency: int = 8) -> None:
        self.engine = engine
        self.plugins = plugins
        self.regions = regions
        self.aai = aai
        self.prefix = prefix
        self.concurrency = concurrency

    def client(self) -> AaiClient:
        if self.aai is None:
            raise BadRequest("A&AI is not configured: set NFVD_AAI_URL")
        return AaiClient(self.aai)

    def register(self, owner: str, region: str, body: Mapping[str, Any]) -> OperationView:
        """Starts a registration of the region (202); 409 while one is running."""
        client = self.client()
        try:
            if not client.region_exists(owner, region):
                raise NotFound(f"cloud region {owner}/{region} is not in A&AI: register it "
                               "there first")
        except AaiError as exc:
            raise AaiUnavailable(str(exc)) from None
        finally:
            client.close()
        source = body.get("flavorSource", "inline")
        if source not in self.plugins.flavor_sources:
            loaded = ", ".join(sorted(self.plugins.flavor_sources)) or "none"
            raise BadRequest(f"flavorSource: no flavor source named {source!r} "
                             f"(loaded: {loaded})")
        self._not_running(owner, region)
        common = {"owner": owner, "region": region}
        tasks = [
            TaskSpec("list", LIST, {**common, "source": source,
                                    "params": {k: v for k, v in body.items()
                                               if k not in ("flavorSource",)}}),
            TaskSpec("write", WRITE, {**common, "list": "list",
                                      "prefix": body.get("flavorNamePrefix", self.prefix),
                                      "vimType": body.get("vimType", "openstack"),
                                      "cloudExtraInfo": body.get("cloudExtraInfo")},
                     depends_on=("list",)),
        ]
        operation, _ = self.engine.submit(KIND, tasks, request={**common,
                                                               "flavorSource": source})
        self.regions.put(owner, region, operation_id=operation.id)
        return operation

    def _not_running(self, owner: str, region: str) -> None:
        found = self.regions.get(owner, region)
        if found and found[0]:
            state = self.engine.get(found[0]).state
            if state in RUNNING:
                raise Conflict(f"region {owner}/{region} has a registration {state} "
                               f"(operation {found[0]}): wait for it or cancel it")

    def status(self, owner: str, region: str) -> dict[str, Any]:
        """The region's last registration: its operation's state and what it wrote."""
        found = self.regions.get(owner, region)
        if found is None:
            raise NotFound(f"region {owner}/{region} is not registered")
        operation = self.engine.get(found[0])
        write = operation.task("write")
        failed = [task.error for task in operation.tasks if task.error]
        return {"cloudOwner": owner, "cloudRegionId": region, "operationId": operation.id,
                "state": operation.state.value, "solState": operation.sol_state,
                "error": operation.error or (failed[0] if failed else None),
                "flavors": found[1], "result": write.result}

    def unregister(self, owner: str, region: str) -> None:
        """Removes from A&AI every flavor nfvd wrote for the region, then forgets it."""
        found = self.regions.get(owner, region)
        if found is None:
            raise NotFound(f"region {owner}/{region} is not registered")
        self._not_running(owner, region)
        client = self.client()
        try:
            each(client.delete_flavor, [(owner, region, flavor) for flavor in found[1]],
                 self.concurrency)
        except AaiError as exc:
            raise AaiUnavailable(f"A&AI: {exc}") from None
        finally:
            client.close()
        self.regions.remove(owner, region)
