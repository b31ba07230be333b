"""An MCP client (the official Python SDK, pinned) against the local run's /mcp.

For each revision a client may speak (2026-07-28 found by server/discover,
and the 2025-11-25 initialize handshake) it lists the tools and calls each
one, checking that every answer equals what the HTTP API says of the same
snapshot. Prints one line per check and a closing count; exits 1 on any
failure.

    python tests/mcp/client_check.py http://127.0.0.1:PORT
"""

import asyncio
import json
import sys
import urllib.parse
import urllib.request

from mcp import Client

BASE = sys.argv[1].rstrip("/")
results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    if condition:
        results["passed"] += 1
        print(f"ok - {name}")
    else:
        results["failed"] += 1
        print(f"not ok - {name} {detail}")


def get(path, **query):
    url = f"{BASE}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def contact_flow(parameters):
    event = {"Details": {"Parameters": parameters, "ContactData": {}}, "Name": "ContactFlowEvent"}
    request = urllib.request.Request(
        f"{BASE}/_invoke/contact-flow",
        data=json.dumps(event).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


async def same_snapshot(call):
    """Calls `call` between two reads of /v1/snapshot until both reads name
    one snapshot, so whatever `call` read in between read that snapshot too
    (the poller writes one per poll, and an interim one about every second
    while contact events flow)."""
    for _ in range(20):
        before = get("/v1/snapshot")
        answer = await call()
        after = get("/v1/snapshot")
        if before["snapshotId"] == after["snapshotId"]:
            return before, answer
    raise AssertionError("the snapshot changed under every attempt")


async def run(mode):
    async with Client(f"{BASE}/mcp", mode=mode) as client:
        label = f"[{mode}]"
        version = client.session.protocol_version
        check(f"{label} negotiated {version}", version == ("2026-07-28" if mode == "auto" else "2025-11-25"))
        tools = await client.list_tools()
        names = sorted(tool.name for tool in tools.tools)
        check(f"{label} lists five tools", names == sorted(
            ["list_queues", "get_queue", "queue_history", "best_queue", "source_health"]), names)
        check(f"{label} every tool is read-only", all(
            tool.annotations and tool.annotations.read_only_hint for tool in tools.tools))

        async def list_all():
            return await client.call_tool("list_queues", {"limit": 500})

        snapshot, listed = await same_snapshot(list_all)
        body = listed.structured_content
        check(f"{label} list_queues names the snapshot", body["snapshotId"] == snapshot["snapshotId"],
              (body["snapshotId"], snapshot["snapshotId"]))
        key = lambda q: (q["source"], q["queueId"])
        by_key = {key(q): q for q in snapshot["queues"]}
        check(f"{label} list_queues holds every queue of /v1/snapshot",
              body["total"] == len(snapshot["queues"]) and sorted(map(key, body["queues"])) == sorted(by_key))
        check(f"{label} list_queues' figures are the snapshot's",
              all(q == by_key[key(q)] for q in body["queues"]))
        order = {"critical": 0, "warning": 1, "normal": 2, "unknown": 3}
        levels = [order[q.get("level") or "unknown"] for q in body["queues"]]
        check(f"{label} list_queues puts the worst first", levels == sorted(levels))
        check(f"{label} list_queues answers a text line too", listed.content and listed.content[0].text)

        limited = (await client.call_tool("list_queues", {"limit": 3})).structured_content
        check(f"{label} list_queues cuts at its limit and says so",
              len(limited["queues"]) == 3 and limited["truncated"] is True)

        queue = snapshot["queues"][0]

        async def get_both():
            one = await client.call_tool("get_queue", {"queueId": queue["queueId"], "source": queue["source"]})
            return one.structured_content, get(f"/v1/queues/{urllib.parse.quote(queue['queueId'], safe='')}", source=queue["source"])

        # The local run writes an interim snapshot about every second when
        # contact events flow: the two reads must fall between two writes.
        _, (one, http) = await same_snapshot(get_both)
        check(f"{label} get_queue equals GET /v1/queues/{{id}}",
              one["queue"] == http["queue"] and one["snapshotId"] == http["snapshotId"])

        history = (await client.call_tool("queue_history", {"queueId": queue["queueId"], "source": queue["source"], "minutes": 5})).structured_content
        http = get(f"/v1/queues/{urllib.parse.quote(queue['queueId'], safe='')}/history", source=queue["source"], minutes=5)
        common = {p["snapshotId"] for p in history["points"]} & {p["snapshotId"] for p in http["points"]}
        check(f"{label} queue_history equals GET .../history",
              common and all(p in http["points"] for p in history["points"] if p["snapshotId"] in common))

        ids = [f"{q['source']}:{q['queueId']}" for q in snapshot["queues"][:5]]

        async def best_both():
            best = await client.call_tool("best_queue", {"queueIds": ids})
            return best.structured_content, contact_flow({"queueIds": ",".join(ids)})

        _, (best, flow) = await same_snapshot(best_both)
        check(f"{label} best_queue answers as the contact flow does",
              (best["bestQueueId"] or "") == flow["bestQueueId"], (best["bestQueueId"], flow["bestQueueId"]))

        health = (await client.call_tool("source_health", {})).structured_content
        http = get("/v1/health")
        check(f"{label} source_health names every source /v1/health does",
              [s["source"] for s in health["sources"]] == [s["source"] for s in http["sources"]])

        bad = await client.call_tool("list_queues", {"limit": 9999})
        check(f"{label} a bad argument is a tool error, not a protocol error", bad.is_error is True)


async def main():
    for mode in ("auto", "legacy"):
        try:
            await run(mode)
        except Exception as error:  # a failure to connect is a failed check too
            check(f"[{mode}] the client session ran", False, repr(error))
    print(f"mcp-client: {results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


asyncio.run(main())
