#!/usr/bin/env python3
"""smtp_sink.py - a minimal SMTP responder (RFC 5321 replies only, mail is
discarded) for the detect scenario: one asyncio server on HOST:PORT, which
with an AnyIP route answers for every address of the route.

    smtp_sink.py HOST PORT
"""
import asyncio
import sys


async def session(reader, writer):
    try:
        writer.write(b"220 sink ESMTP\r\n")
        await writer.drain()
        data = False
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                break
            if data:
                if line.rstrip(b"\r\n") == b".":
                    data = False
                    writer.write(b"250 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250 sink\r\n")
            elif verb == b"DATA":
                data = True
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host, port):
    server = await asyncio.start_server(session, host, port, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
