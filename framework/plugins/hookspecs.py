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
    :return: a list of A&AI ``hpa-capability`` dicts, an empty list when the
        flavor has none of the plugin's features, or ``None`` when the plugin
        does not apply to this VIM type. The plugin only formats data: it never
        writes A&AI itself.
    """


# -- Coordination (group ``nfvd.coordinate_scripts``) -----------------------------------------


@hookspec(firstresult=True)
def coordinate_vnfc(script: str, vnfc: dict[str, Any], context: dict[str, Any]) -> Any:
    """Run the CoordinateVNF step of a rolling update for one VNFC.

    Called once per VNFC, highest index first, by the rolling-update procedure.
    The first plugin that returns something other than ``None`` wins, so a
    script returns ``None`` for every ``script`` name that is not its own.

    :param script: the coordinate script named by the update request.
    :param vnfc: the VNFC's ``vdu_params`` entry (``old_vnfc_param``, ``new_vnfc_param``).
    :param context: the LCM operation (``vnfInstanceId``, ``vnfLcmOpOccId``, timeout, auth).
    :return: the final ``LcmCoord`` as a dict; only ``coordinationResult: CONTINUE``
        lets the update go on.
    """
