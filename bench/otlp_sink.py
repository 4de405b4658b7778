"""An OTLP/HTTP trace receiver that keeps nothing: it answers every export at once and counts what came.

The pipeline bench's ``--tracing`` sends the services' spans here, so that "tracing on" costs the services
what it would with a real backend (spans made, batched, serialised and sent over HTTP) without a backend's
own CPU on the same machine. ``GET /stats`` answers the counts as JSON.

    python bench/otlp_sink.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

counts = {"exports": 0, "spans": 0, "bytes": 0}
EMPTY = ExportTraceServiceResponse().SerializeToString()


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if request_line.startswith("GET /stats"):
                answer, kind = json.dumps(counts).encode(), b"application/json"
            else:
                if headers.get("content-encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                counts["exports"] += 1
                counts["bytes"] += len(body)
                counts["spans"] += sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)
                answer, kind = EMPTY, b"application/x-protobuf"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Length: "
                         + str(len(answer)).encode() + b"\r\n\r\n" + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
