#!/usr/bin/env python3
"""Holds connections to a gateway the way an unfriendly client does, and reports what happened.

    hold.py HOST PORT COUNT MODE SECONDS

MODE `byte`: each connection sends one byte of a request and then nothing.
MODE `slowloris`: each connection sends a request line, then one header byte every 2 s.
A connection the gateway closes is counted and opened again (a persistent attacker). Prints
one JSON line: opened, closed_by_gateway, connect_errors, open_at_end.
"""
import asyncio
import json
import sys


async def one(host, port, mode, stop, stats):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats["connect_errors"] += 1
            await asyncio.sleep(0.2)
            continue
        stats["opened"] += 1
        stats["open"] += 1
        try:
            if mode == "byte":
                writer.write(b"P")
            else:
                writer.write(b"POST /v1/chat/completions HTTP/1.1\r\n")
            await writer.drain()
            while not stop.is_set():
                if mode == "slowloris":
                    writer.write(b"x")
                    await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), timeout=2.0)
                except asyncio.TimeoutError:
                    continue
                if not data:
                    break
                # A response (a 503 or 408) before the close: keep reading to the close.
            else:
                writer.close()
                return
            stats["closed_by_gateway"] += 1
        except OSError:
            stats["closed_by_gateway"] += 1
        finally:
            stats["open"] -= 1
            writer.close()


async def main():
    host, port, count, mode, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    stats = {"opened": 0, "closed_by_gateway": 0, "connect_errors": 0, "open": 0}
    stop = asyncio.Event()
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(host, port, mode, stop, stats)))
        if i % 500 == 499:
            await asyncio.sleep(0.05)
    await asyncio.sleep(seconds)
    open_at_end = stats["open"]
    stop.set()
    await asyncio.wait(tasks, timeout=5)
    print(json.dumps({"mode": mode, "count": count, "opened": stats["opened"], "closed_by_gateway": stats["closed_by_gateway"],
                      "connect_errors": stats["connect_errors"], "open_at_end": open_at_end}), flush=True)


asyncio.run(main())
