"""Loopback relay between the root network namespace and a compute host's.

The control plane (RabbitMQ, Keystone, Glance, Placement, Nova API, Neutron
API) listens on 127.0.0.1 of the root namespace only.  A compute host is its
own network namespace with its own loopback, so its nova-compute and
neutron-openvswitch-agent cannot reach 127.0.0.1:5672 directly.  Instead of
making any service listen on a non-loopback address, the stack relays through
UNIX sockets (the filesystem is shared across network namespaces):

    root ns:  fwd.py serve DIR PORT...   UNIX DIR/PORT.sock -> TCP 127.0.0.1:PORT
    host ns:  fwd.py relay DIR PORT...   TCP 127.0.0.1:PORT (host's lo) -> UNIX DIR/PORT.sock

So inside a compute host, "127.0.0.1:5672" is RabbitMQ, exactly as the
endpoint catalog says.  Standard library only; one process per side.
"""

import asyncio
import os
import signal
import sys

BUF = 65536


async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(BUF)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


def _handler(connect):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await connect()
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    return handle


async def main(mode, sockdir, ports):
    servers = []
    for port in ports:
        path = os.path.join(sockdir, f"{port}.sock")
        if mode == "serve":
            if os.path.exists(path):
                os.unlink(path)
            handle = _handler(lambda p=port: asyncio.open_connection("127.0.0.1", p))
            servers.append(await asyncio.start_unix_server(handle, path=path))
        else:
            handle = _handler(lambda s=path: asyncio.open_unix_connection(s))
            servers.append(await asyncio.start_server(
                handle, host="127.0.0.1", port=port, reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("fwd {} ready: {}".format(mode, " ".join(map(str, ports))), flush=True)
    await stop.wait()
    for srv in servers:
        srv.close()


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("serve", "relay"):
        sys.exit("usage: fwd.py serve|relay SOCKDIR PORT...")
    asyncio.run(main(sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]))
