"""The cost of one access-log line, as ``nfvd serve`` writes it for every request.

The handler, formatter and secret masker of :func:`framework.logs.configure_logging`, writing
to /dev/null, and the record the access-log middleware makes for a 202 of the resource
driver API; with the served process's lean records (:func:`framework.logs.lean_records`)
unless ``--full-records``.

    python benchmarks/access_log.py [--format json] [--full-records]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from framework.logs import configure_logging, lean_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--full-records", action="store_true",
                        help="records with caller, thread and process, as Python makes them")
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    with open(os.devnull, "w") as sink:
        configure_logging("INFO", args.format, ["a-secret-of-the-settings"], stream=sink)
        if not args.full_records:
            lean_records()
        access = logging.getLogger("framework.access")
        path = "/api/driver/lifecycle/execute"
        best = float("inf")
        for _round in range(5):
            started = time.perf_counter()
            for n in range(args.lines // 5):
                access.info("%s %s %s %s %.1fms", "127.0.0.1", "POST", path, "202", 1.234,
                            extra={"request_id": f"9f3b1c2d4e5f6a7b{n:016x}", "status": 202,
                                   "method": "POST", "path": path, "duration_ms": 1.234,
                                   "bytes": 98, "route": "framework.api.driver.execute"})
            best = min(best, (time.perf_counter() - started) / (args.lines // 5))
    records = "full records" if args.full_records else "lean records"
    print(f"access line, {args.format}, {records}: {best * 1e6:.1f} µs (best of 5 rounds of "
          f"{args.lines // 5})")


if __name__ == "__main__":
    main()
