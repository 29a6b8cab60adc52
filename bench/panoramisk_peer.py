"""panoramisk 1.4's FastAGI server with the bench's ``screen``, ``post_call`` and ``flag``.

The handlers are ``bench/bench_handlers.py`` line for line, written the panoramisk way: ``async``
functions that ``await request.send_command(...)`` with every argument quoted and escaped as our
server does (so Asterisk reads the same argv, and both servers pay for escaping).

Served as panoramisk's documentation shows (``asyncio.start_server(app.handler, ...)``), with one
change in its favour: a listen backlog of 4096 like ours (asyncio's default of 100 would drop
connections in the c=1000 burst, and that is a deployment setting, not panoramisk's code).

``python -m bench.panoramisk_peer --listen 127.0.0.1:0`` prints ``listening on HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk.fast_agi import Application, Request

from bench.bench_handlers import (CAMPAIGN, FLAG_READS, QUEUES, RECORDINGS, WARNINGS, dialplan_args, language_of,
                                  sound)
from agi_scripts.server.limits import lift_open_file_limit

_compliment_ids = itertools.count(1)
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\r": " ", "\n": " ", "\x00": " "})


def command(verb: str, *args: object) -> str:
    """``verb`` with each argument in double quotes, escaped for Asterisk's ``parse_args``."""
    return " ".join([verb, *('"' + str(a).translate(_ESCAPES) + '"' for a in args)])


async def get_variable(request: Request, name: str) -> str:
    result: Mapping[str, Any] = await request.send_command(command("GET VARIABLE", name))
    value: str = result.get("result", ("", ""))[1]
    return value


async def set_variable(request: Request, name: str, value: str) -> None:
    await request.send_command(command("SET VARIABLE", name, value))


async def stream_file(request: Request, file: str, escape_digits: str = "") -> str:
    result: Mapping[str, Any] = await request.send_command(command("STREAM FILE", file, escape_digits, 0))
    code = result.get("result", ("0", ""))[0]
    return chr(int(code)) if code not in ("0", "", "-1") else ""


async def exec_app(request: Request, application: str, data: str) -> None:
    await request.send_command(command("EXEC", application, data))


async def screen(request: Request) -> None:
    env = request.headers
    args = dialplan_args(env)
    queue = args[0] if args else ""
    if queue not in QUEUES:
        return
    language = language_of(env.get("agi_language", ""))
    await set_variable(request, "RL_LANGUAGE", language)
    await set_variable(request, "RL_ROUTE", queue)
    await set_variable(request, "RL_NOTICE", "")
    await set_variable(request, "RL_MUSICCLASS", f"rl-{CAMPAIGN}-{language}")
    await set_variable(request, "RL_CAMPAIGN", CAMPAIGN)
    await set_variable(request, "RL_OFFER_COMPLIMENT", "1")


async def post_call(request: Request) -> None:
    env = request.headers
    agent = await get_variable(request, "MEMBERINTERFACE")  # unnamed in the bench's config: the device is the name
    if not agent:
        return
    language = language_of(await get_variable(request, "RL_LANGUAGE") or env.get("agi_language", ""))
    queue = await get_variable(request, "RL_ROUTE")
    campaign = await get_variable(request, "RL_CAMPAIGN")
    if await stream_file(request, sound(language, "compliment_offer"), "1") != "1":
        await stream_file(request, sound(language, "compliment_goodbye"))
        return
    rating = await stream_file(request, sound(language, "compliment_rate"), "12345")
    if rating:
        await stream_file(request, sound(language, "compliment_record_offer"), "12")
    details = [f"Agent: {agent}", f"Queue: {queue}", f"Campaign: {campaign}", f"Rating: {rating}",
               "Recording: no", f"ComplimentId: {next(_compliment_ids)}"]
    await exec_app(request, "UserEvent", ",".join(["RespectlineCompliment", *details]))
    await stream_file(request, sound(language, "compliment_thanks"))


async def flag(request: Request) -> None:
    env = request.headers
    args = dialplan_args(env)
    category = args[0] if args else ""
    uniqueid = env.get("agi_uniqueid", "")
    if category not in WARNINGS or not uniqueid:
        return
    started = time.time()
    result: Mapping[str, Any] = await request.send_command(
        command("GET FULL VARIABLE", "|~|".join("${%s}" % name for name in FLAG_READS)))
    read = dict(zip(FLAG_READS, result.get("result", ("", ""))[1].split("|~|")))
    evidence = read.get("RL_EVIDENCE", "")
    language = language_of(read.get("RL_LANGUAGE", "") or env.get("agi_language", ""))
    if not evidence:
        now = time.gmtime()
        evidence = f"{RECORDINGS}/evidence/{now.tm_year:04d}/{now.tm_mon:02d}/{uniqueid}.wav"
        await stream_file(request, sound(language, "recording_notice"))
        await exec_app(request, "MixMonitor", evidence)
        await set_variable(request, "RL_EVIDENCE", evidence)
    await stream_file(request, sound(language, WARNINGS[category]))
    await set_variable(request, "RL_FLAGS", f"{category}:1:{started:.3f}:{time.time():.3f}")
    await set_variable(request, "RL_OFFER_COMPLIMENT", "0")


ROUTES: dict[str, Callable[[Request], Awaitable[None]]] = {
    "screen": screen, "post_call": post_call, "flag": flag}


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    app = Application(loop=loop)
    for path, endpoint in ROUTES.items():
        app.add_route(path, endpoint)
    server = await asyncio.start_server(app.handler, host, port, backlog=4096)
    address = server.sockets[0].getsockname()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"listening on {address[0]}:{address[1]}", flush=True)
    async with server:
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.panoramisk_peer")
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    lift_open_file_limit()
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
