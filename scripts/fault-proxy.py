#!/usr/bin/env python3
"""A loopback HTTP proxy that injects the failures of a real network and a busy service.

Usage: fault-proxy.py UPSTREAM_PORT [--seed N] [--rate KIND=P ...] [--deny] [--slow-seconds S]
Prints "READY <port>" on stdout once it listens.

Every request to an EBS path (/snapshots...) draws one fault with the given probabilities:
  503    answer 503 ServiceUnavailable without asking upstream
  429    answer 429 ThrottlingException (account limit) without asking upstream
  reset  read half of the request body, then reset the connection (RST)
  slow   forward, but hold the response back for --slow-seconds
  --deny answers every EBS request with 403 AccessDeniedException
  --puts-only draws faults for block writes (PUT .../blocks/N) only
  --not-found-first N answers the first N block writes with 404 "snapshot does not exist"
    (what EBS may say right after StartSnapshot)
  --s3-puts also draws faults for S3 object writes (PUT with a body outside /snapshots)
  --deny-suffix S answers writes (PUT) whose path ends with S with S3's 403 AccessDenied
  --deny-action A answers EC2 requests for action A with 403 UnauthorizedOperation;
    A@REGION only those signed for REGION (the region of the Authorization header's scope)
  --slow-complete forwards the first CompleteSnapshot (POST /snapshots/completion/ID) and holds its
    answer back for --slow-seconds: the snapshot completes while the client times out
Everything else is forwarded unchanged. GET /_proxy/stats returns the fault counts.
"""

import argparse
import asyncio
import json
import random
import socket
import struct

COUNTS = {"requests": 0, "503": 0, "429": 0, "reset": 0, "slow": 0, "deny": 0, "not_found": 0, "slow_complete": 0}


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return head, lines[0], headers


async def read_body(reader, headers):
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += size_line + chunk
            if size == 0:
                return body
    return await reader.readexactly(int(headers.get("content-length", "0")))


def reply(status, reason, error_type, message):
    body = json.dumps({"__type": error_type, "message": message}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"x-amzn-ErrorType: {error_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def reset(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def forward(upstream_port, head, body):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    text = head.decode("latin-1").split("\r\n")
    kept = [l for l in text[1:] if l and not l.lower().startswith("connection:")]
    new_head = "\r\n".join([text[0]] + kept + ["Connection: close", "", ""]).encode("latin-1")
    up_writer.write(new_head + body)
    await up_writer.drain()
    response = await up_reader.read()
    up_writer.close()
    return response


def pick(rng, rates):
    x = rng.random()
    for kind, p in rates:
        if x < p:
            return kind
        x -= p
    return None


async def handle(reader, writer, args, rng):
    try:
        while True:
            try:
                head, request_line, headers = await read_head(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            path = request_line.split(" ")[1] if " " in request_line else ""
            if path == "/_proxy/stats":
                await read_body(reader, headers)
                body = json.dumps(COUNTS).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                return
            ebs = path.startswith("/snapshots")
            put = "/blocks/" in path and request_line.startswith("PUT")
            s3_put = request_line.startswith("PUT") and not ebs and int(headers.get("content-length", "0")) > 0
            drawn = (ebs and (put or not args.puts_only)) or (s3_put and args.s3_puts)
            fault = pick(rng, args.rates) if drawn else None
            if args.slow_complete and path.startswith("/snapshots/completion/") and COUNTS["slow_complete"] == 0:
                COUNTS["slow_complete"] += 1
                fault = "slow"
            COUNTS["requests"] += 1
            if args.deny_suffix and request_line.startswith("PUT") and path.split("?")[0].endswith(args.deny_suffix):
                await read_body(reader, headers)
                COUNTS["deny"] += 1
                body = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                writer.write(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                await writer.drain()
                continue
            if ebs and args.deny:
                await read_body(reader, headers)
                COUNTS["deny"] += 1
                writer.write(reply(403, "Forbidden", "AccessDeniedException", "User is not authorized to perform: ebs:StartSnapshot"))
                await writer.drain()
                continue
            if "/blocks/" in path and request_line.startswith("PUT") and COUNTS["not_found"] < args.not_found_first:
                await read_body(reader, headers)
                COUNTS["not_found"] += 1
                writer.write(reply(404, "Not Found", "ResourceNotFoundException", "The snapshot does not exist."))
                await writer.drain()
                continue
            if fault == "reset" and int(headers.get("content-length", "0")) > 1:
                await reader.readexactly(int(headers["content-length"]) // 2)
                COUNTS["reset"] += 1
                reset(writer)
                return
            body = await read_body(reader, headers)
            if denied_action(args.deny_action, body, headers):
                COUNTS["deny"] += 1
                xml = (
                    b"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>UnauthorizedOperation</Code>"
                    b"<Message>You are not authorized to perform this operation.</Message></Error></Errors></Response>"
                )
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(xml), xml))
                await writer.drain()
                continue
            if fault == "503":
                COUNTS["503"] += 1
                writer.write(reply(503, "Service Unavailable", "InternalServerException", "injected 503"))
            elif fault == "429":
                COUNTS["429"] += 1
                writer.write(reply(429, "Too Many Requests", "ThrottlingException", "injected: account limit"))
            else:
                response = await forward(args.upstream, head, body)
                if fault == "slow":
                    COUNTS["slow"] += 1
                    await asyncio.sleep(args.slow_seconds)
                writer.write(response)
                if b"\r\nconnection: close" in response.split(b"\r\n\r\n")[0].lower():
                    await writer.drain()
                    writer.close()
                    return
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        if not writer.is_closing():
            writer.close()


def denied_action(rule, body, headers):
    """Whether --deny-action `rule` (ACTION or ACTION@REGION) denies this EC2 request."""
    if not rule:
        return False
    action, _, region = rule.partition("@")
    if f"Action={action}&".encode() not in body + b"&":
        return False
    return not region or f"/{region}/ec2/" in headers.get("authorization", "")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("upstream", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", action="append", default=[])
    p.add_argument("--deny", action="store_true")
    p.add_argument("--slow-seconds", type=float, default=3.0)
    p.add_argument("--not-found-first", type=int, default=0)
    p.add_argument("--puts-only", action="store_true")
    p.add_argument("--s3-puts", action="store_true")
    p.add_argument("--deny-suffix")
    p.add_argument("--deny-action")
    p.add_argument("--slow-complete", action="store_true")
    args = p.parse_args()
    args.rates = [(k, float(v)) for k, v in (r.split("=") for r in args.rate)]
    rng = random.Random(args.seed)
    server = await asyncio.start_server(lambda r, w: handle(r, w, args, rng), "127.0.0.1", 0)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
