"""`moderation serve --workers N` with a balancing listener: the supervisor process owns the listening
socket and hands each accepted connection to the next worker in turn (round robin over live workers).

With uvicorn's own multi-process mode every worker accepts from one shared socket, and whichever worker
wakes first takes every connection waiting: a few keep-alive clients (a load balancer's pool, `wrk -c4`)
then often all talk to one worker while the others idle, so one core does the work of all. Handing
connections out in turn spreads N clients over N workers whatever their timing. The supervisor only
accepts and passes the socket (SCM_RIGHTS over a Unix socket pair); it never reads a request, so its
cost is one accept per connection. A worker that dies is started again (three in a row that exit before
they are ready stop the service with status 1); closing the supervisor's end of a worker's channel (on
SIGINT/SIGTERM) makes that worker finish its requests and exit."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import selectors
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

log = logging.getLogger("moderation.serve")

APP = "moderation.app:create_served_app"
# Seconds the supervisor waits for workers to finish their requests after a stop signal.
STOP_GRACE_SECONDS = 30.0


class _ChannelServer(uvicorn.Server):
    """A uvicorn server without a listening socket of its own: connections arrive as file descriptors
    on `channel` and are served by uvicorn's HTTP protocol like accepted ones."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        if self.should_exit:
            return
        loop = asyncio.get_running_loop()
        protocol = functools.partial(
            self.config.http_protocol_class,  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._receive, loop, protocol)
        self.channel.send(READY)  # the supervisor counts exits before this as failed starts

    def _receive(self, loop: asyncio.AbstractEventLoop, protocol: Any) -> None:
        try:
            message, fds, _flags, _address = socket.recv_fds(self.channel, 16, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message, fds = b"", []
        for fd in fds:
            connection = socket.socket(fileno=fd)
            connection.setblocking(False)
            loop.create_task(loop.connect_accepted_socket(protocol, connection))
        if not message and not fds:  # the supervisor closed the channel: finish and exit
            loop.remove_reader(self.channel.fileno())
            self.should_exit = True


def _worker_main(channel: socket.socket, log_level: str) -> None:
    config = uvicorn.Config(APP, factory=True, log_level=log_level, log_config=None, workers=1)
    _ChannelServer(config, channel).run()


# Workers that exit before they are ready this many times in a row stop the service (a worker that
# cannot start, say its policy is invalid, is not restarted forever).
MAX_FAILED_STARTS = 3
READY = b"r"


@dataclass
class _Worker:
    process: BaseProcess
    channel: socket.socket
    ready: bool = False


def _start_worker(context: Any, log_level: str) -> _Worker:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = context.Process(target=_worker_main, args=(theirs, log_level), name="moderation-worker")
    process.start()
    theirs.close()
    return _Worker(process=process, channel=ours)


def _reported_ready(worker: _Worker) -> bool:
    """Whether the worker has sent `READY` (read without blocking; it sends nothing else)."""
    if not worker.ready:
        with contextlib.suppress(OSError):
            worker.ready = READY in worker.channel.recv(64, socket.MSG_DONTWAIT)
    return worker.ready


def serve_balanced(*, host: str, port: int, workers: int, log_level: str) -> int:
    """Run `workers` uvicorn worker processes behind a round-robin listener on `host:port`. Returns the
    exit status: 0 after SIGINT/SIGTERM, 1 when workers kept exiting right after their start."""
    listener = socket.create_server((host, port), backlog=2048)
    listener.setblocking(False)
    context = multiprocessing.get_context("spawn")
    pool = [_start_worker(context, log_level) for _ in range(workers)]
    log.warning("serving on http://%s:%d with %d workers (balancing listener)", host, port, workers)
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    turn = 0
    failed_starts = 0
    status = 0
    try:
        while not stopping:
            for _key, _events in selector.select(timeout=0.5):
                while True:
                    try:
                        connection, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    with connection:
                        for _ in range(len(pool)):
                            worker = pool[turn % len(pool)]
                            turn += 1
                            if not worker.process.is_alive():
                                continue
                            try:
                                socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
                                break
                            except OSError:
                                continue
            for index, worker in enumerate(pool):
                if worker.process.is_alive() or stopping:
                    continue
                failed_starts = 0 if worker.ready or _reported_ready(worker) else failed_starts + 1
                worker.channel.close()
                if failed_starts >= MAX_FAILED_STARTS:
                    log.error(
                        "workers exit right after starting (exit code %s); stopping", worker.process.exitcode
                    )
                    stopping, status = True, 1
                    break
                log.warning(
                    "worker %s exited (%s); starting another", worker.process.pid, worker.process.exitcode
                )
                pool[index] = _start_worker(context, log_level)
    finally:
        selector.close()
        listener.close()
        for worker in pool:
            worker.channel.close()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for worker in pool:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status
