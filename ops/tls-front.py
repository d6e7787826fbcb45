#!/usr/bin/env python3
"""TLS front for the local broker: Tansu 0.6 cannot serve TLS itself (see ops/broker start-tls).
usage: tls-front.py LISTEN_PORT UPSTREAM_PORT CERT_PEM KEY_PEM
Run tansu with --advertised-listener-url tcp://127.0.0.1:LISTEN_PORT so metadata points clients here."""
import asyncio, ssl, sys

listen_port, upstream_port, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(cert, key)


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=ctx)
    async with server:
        await server.serve_forever()

asyncio.run(main())
