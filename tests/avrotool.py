"""avrotool.py - Avro test data written by python3-avro, not by rtai.

    avrotool.py schemas DIR            write the test schemas as DIR/ID.avsc
    avrotool.py frames OUT [plain]     an rtai stream of raw frames, each an
                                       Avro value in the Confluent wire format
                                       (or plain Avro binary with "plain")
    avrotool.py msgfiles DIR           the same values in the Confluent wire
                                       format, one file each (DIR/0, DIR/1...),
                                       for kcat -P to produce as messages
    avrotool.py expect                 the values as JSON lines, as rtai-parse
                                       must print them (the independent answer)
    avrotool.py bad OUT                frames with faults, one per frame
    avrotool.py keyed OUT              frames with Kafka metadata whose key is
                                       Avro in the Confluent wire format: a
                                       string (schema 3), then a record (schema
                                       4), then a key that is not framed
    avrotool.py container OUT CODEC [v2]
                                       an Avro object container file written by
                                       DataFileWriter (codec null or deflate),
                                       the values of V1 (or V2, country "FR")
    avrotool.py read FILE...           container files read by DataFileReader,
                                       each datum as expect() prints it
    avrotool.py registry DIR PORTFILE [USER:PASS]
                                       serve DIR/ID.avsc as a schema registry
                                       (GET /schemas/ids/ID) on a free loopback
                                       port, written to PORTFILE; counts
                                       requests in DIR/requests

Runs under /usr/bin/python3 (Debian's python3-avro).
"""
import base64
import io
import json
import os
import struct
import sys
from decimal import Decimal
from datetime import date, datetime, timedelta, timezone

import avro.datafile
import avro.io
import avro.schema

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "contrib", "python"))
import rtai_stream  # noqa: E402

V1 = {
    "type": "record", "name": "Click", "namespace": "rtai.test",
    "fields": [
        {"name": "user_id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "count", "type": "long"},
        {"name": "small", "type": "int"},
        {"name": "ratio", "type": "float"},
        {"name": "ok", "type": "boolean"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["VIEW", "CLICK"]}},
        {"name": "raw", "type": "bytes"},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "geo", "type": {"type": "record", "name": "Geo",
                                 "fields": [{"name": "lat", "type": "double"},
                                            {"name": "lon", "type": "double"}]}},
    ],
}
# Kafka message keys: a plain string, and a record.
KEY_STR = "string"
KEY_REC = {"type": "record", "name": "Key", "namespace": "rtai.test",
           "fields": [{"name": "user_id", "type": "string"}, {"name": "n", "type": "long"}]}
# A newer schema: adds a field with a default (reader-schema projection).
V2 = json.loads(json.dumps(V1))
V2["fields"].append({"name": "country", "type": "string", "default": "ZZ"})

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)


def values():
    for i in range(6):
        yield {
            "user_id": "u%d" % i if i != 3 else "ünïcödé ✓",
            "amount": 1.5 * i - 2.25,
            "count": [0, 1, -1, 2**63 - 1, -(2**63), 42][i],
            "small": [0, 2**31 - 1, -(2**31), 7, 8, 9][i],
            "ratio": 0.5 * i,
            "ok": i % 2 == 0,
            "note": None if i % 3 == 0 else "n%d" % i,
            "kind": ["VIEW", "CLICK"][i % 2],
            "raw": bytes([0, 1, 0, 255, i]),
            "digest": bytes([i, 0, 10, 13]),
            "ts": T0 + timedelta(milliseconds=i * 1001),
            "ts_us": T0 + timedelta(microseconds=i * 123457),
            "day": date(2026, 11, 24) + timedelta(days=i),
            "price": Decimal("-12.34") + i,
            "tags": ["a", "b\"c"][: i % 3],
            "attrs": {"x": i, "y": -i} if i % 2 else {},
            "geo": {"lat": 48.85 + i, "lon": 2.35},
        }


def encode(schema, value):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(value, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def confluent(sid, body):
    return b"\x00" + struct.pack(">I", sid) + body


def ns(t):
    d = t - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (d.days * 86400 + d.seconds) * 10**9 + d.microseconds * 1000


def iso(ns):
    s, frac = divmod(ns, 10**9)
    # rtai-cat -p's form: milliseconds, or as many digits as the time needs.
    digits = "%03d" % (frac // 10**6) if frac % 10**6 == 0 else \
        "%06d" % (frac // 1000) if frac % 1000 == 0 else "%09d" % frac
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + "." + digits + "Z"


def expect(v, country=None):
    """The value as rtai-parse prints it: rtai-cat -p's JSON."""
    b64 = lambda b: base64.b64encode(b).decode()
    out = {
        "user_id": v["user_id"], "amount": v["amount"], "count": v["count"],
        "small": v["small"], "ratio": v["ratio"], "ok": v["ok"], "note": v["note"],
        "kind": v["kind"], "raw": b64(v["raw"]), "digest": b64(v["digest"]),
        "ts": iso(ns(v["ts"])), "ts_us": iso(ns(v["ts_us"])),
        "day": iso(ns(datetime(v["day"].year, v["day"].month, v["day"].day, tzinfo=timezone.utc))),
        "price": str(v["price"]),
        "tags": v["tags"], "attrs": v["attrs"], "geo": v["geo"],
    }
    if country is not None:
        out["country"] = country
    return out


def main():
    cmd = sys.argv[1]
    s1 = avro.schema.parse(json.dumps(V1))
    if cmd == "schemas":
        d = sys.argv[2]
        with open(os.path.join(d, "1.avsc"), "w") as f:
            json.dump(V1, f)
        with open(os.path.join(d, "2.avsc"), "w") as f:
            json.dump(V2, f)
        with open(os.path.join(d, "3.avsc"), "w") as f:
            json.dump(KEY_STR, f)
        with open(os.path.join(d, "4.avsc"), "w") as f:
            json.dump(KEY_REC, f)
        with open(os.path.join(d, "bad.avsc"), "w") as f:
            f.write('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}')
    elif cmd == "frames":
        plain = len(sys.argv) > 3 and sys.argv[3] == "plain"
        with open(sys.argv[2], "wb") as f:
            w = rtai_stream.Writer(f)
            for i, v in enumerate(values()):
                body = encode(s1, v)
                w.put(rtai_stream.DATA, rtai_stream.ENC_RAW, body if plain else confluent(1, body), ingest_ns=i + 1)
            w.close()
    elif cmd == "msgfiles":
        os.makedirs(sys.argv[2], exist_ok=True)
        for i, v in enumerate(values()):
            with open(os.path.join(sys.argv[2], str(i)), "wb") as f:
                f.write(confluent(1, encode(s1, v)))
    elif cmd == "expect":
        reader = len(sys.argv) > 2 and sys.argv[2] == "v2"
        for v in values():
            print(json.dumps(expect(v, "ZZ" if reader else None), ensure_ascii=False, separators=(",", ":")))
    elif cmd == "bad":
        v = next(values())
        good = encode(s1, v)
        with open(sys.argv[2], "wb") as f:
            w = rtai_stream.Writer(f)
            for p in [b"\x01" + good, b"\x00\x00", confluent(99, good), confluent(1, good[:-3]),
                      confluent(1, good + b"\x00\x00"), confluent(1, good)]:
                w.put(rtai_stream.DATA, rtai_stream.ENC_RAW, p)
            w.close()
    elif cmd == "keyed":
        ks = avro.schema.parse(json.dumps(KEY_STR))
        kr = avro.schema.parse(json.dumps(KEY_REC))
        with open(sys.argv[2], "wb") as f:
            w = rtai_stream.Writer(f)
            for i, v in enumerate(values()):
                if i == 0:
                    key = confluent(3, encode(ks, v["user_id"]))
                elif i == 1:
                    key = confluent(4, encode(kr, {"user_id": v["user_id"], "n": i}))
                else:
                    key = v["user_id"].encode()
                meta = rtai_stream.encode_record({"topic": "clicks", "partition": 0, "offset": i, "key": key})
                w.put(rtai_stream.DATA, rtai_stream.ENC_RAW, confluent(1, encode(s1, v)),
                      ingest_ns=i + 1, meta=meta)
            w.close()
    elif cmd == "container":
        v2 = len(sys.argv) > 4 and sys.argv[4] == "v2"
        schema = avro.schema.parse(json.dumps(V2 if v2 else V1))
        with open(sys.argv[2], "wb") as f:
            w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), schema, codec=sys.argv[3])
            for i, v in enumerate(values()):
                if v2:
                    v["country"] = "FR"
                w.append(v)
                if i == 2:
                    w.flush()  # a second block
            w.close()
    elif cmd == "read":
        for path in sys.argv[2:]:
            with open(path, "rb") as f:
                for v in avro.datafile.DataFileReader(f, avro.io.DatumReader()):
                    print(json.dumps(expect(v, v.get("country")), ensure_ascii=False,
                                     separators=(",", ":")))
    elif cmd == "registry":
        serve(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)


def serve(d, portfile, auth):
    from http.server import BaseHTTPRequestHandler, HTTPServer

    want = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with open(os.path.join(d, "requests"), "a") as f:
                f.write(self.path + "\n")
            if want and self.headers.get("Authorization") != want:
                return self.answer(401, {"error_code": 401, "message": "Unauthorized"})
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                p = os.path.join(d, parts[2] + ".avsc")
                if os.path.exists(p):
                    with open(p) as f:
                        return self.answer(200, {"schema": f.read()})
                return self.answer(404, {"error_code": 40403, "message": "Schema %s not found" % parts[2]})
            self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    srv = HTTPServer(("127.0.0.1", 0), H)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.timeout = 0.5
    # Stops by itself after 120 s, or when its directory goes away.
    import time
    end = time.time() + 120
    while time.time() < end and os.path.isdir(d):
        srv.handle_request()


if __name__ == "__main__":
    main()
