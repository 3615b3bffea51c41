"""Every pluggy hook nfvd calls, grouped by phase; plugins implement them with ``@hookimpl``."""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "nfvd"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- HPA discovery (group ``nfvd.hpa_discovery``) ---------------------------------------------


@hookspec
def hpa_discover(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Format the HPA capabilities of one flavor.

    Called once per flavor for every installed HPA discovery plugin; every
    plugin's result is kept (not first-result-wins) and validated on its own.

    :param data: ONAP's input shape, one flavor:
        ``{"flavor": {...}, "extra_specs": {...}, "viminfo": {...}, "vimtype": "openstack"}``.
        Read-only and shared by the plugins of the flavor; a plugin that changes it is
        called again with a copy of its own.
    :return: a list of A&AI ``hpa-capability`` dicts, an empty list when the
        flavor has none of the plugin's features, or ``None`` when the plugin
        does not apply to this VIM type. The plugin only formats data: it never
        writes A&AI itself.
    """


# -- Coordination (group ``nfvd.coordinate_scripts``) -----------------------------------------


@hookspec(firstresult=True)
def coordinate_vnfc(script: str, vnfc: dict[str, Any], context: dict[str, Any]) -> Any:
    """Run the CoordinateVNF step of a rolling update for one VNFC.

    Called for each VNFC, highest ``vnfcResourceInfo`` index first: before its update with
    the old VNF's script, after it with the new VNF's script, and with the old VNF's
    script again when a rollback has restored it. The first plugin that returns something
    other than ``None`` wins, so a script returns ``None`` for every ``script`` name that
    is not its own. What it raises fails the step, with the error it gave.

    :param script: the coordinate script named by the update request.
    :param vnfc: the VNFC's ``vdu_params`` entry (``vdu_id``, ``old_vnfc_param``,
        ``new_vnfc_param``: ``endpoint``, ``authentication``, ``timeout``, ``inputParams``).
    :param context: the step: ``vnfInstanceId``, ``vnfLcmOpOccId``, ``vduId``,
        ``vnfcInstanceId``, ``side`` (``"old"`` or ``"new"``: which parameters apply),
        ``rollback`` (true for a restored VNFC), ``LcmCoordRequest`` (the request to send
        to a SOL002 coordination server), ``timeout`` (seconds the step may take) and
        ``tls`` (``caFile``, ``clientCerts``: nfvd's coordination TLS settings).
    :return: the final ``LcmCoord`` as a dict; only ``coordinationResult: CONTINUE``
        lets the update go on.
    """
