"""rtai_stream - read and write rtai record streams from Python, no dependencies.

A filter in the middle of a pipeline, for a model's inference step:

    import rtai_stream as rs
    r, w = rs.Reader(), rs.Writer()
    for f in r:
        if f.kind == rs.DATA:
            rec = f.record()            # dict, from JSON or binary payloads
            rec["score"] = 0.5
            w.write_record(rec, like=f) # keeps ingest and event times
        elif f.kind == rs.MARKER:
            w.write_marker(f, "score")  # stamp latency markers (rtai-lat)
        else:
            w.write(f)                  # forward other frames unchanged
    w.close()                           # the end-of-stream frame: a finished stream

A writer still open when the program ends normally is closed then; one
whose program dies of an uncaught exception (or is killed) writes no
end-of-stream frame, so the stages downstream report a cut stream instead
of taking a partial stream for a whole one. The format is described in
rtai-record(5).
"""

import atexit
import json
import struct
import sys
import time

MAGIC = b"RTAI"
VERSION = 2                 # written; versions 1 and 2 are read
H_EOS = 0x01                # header flag: the stream ends with an EOS frame
HEADER = MAGIC + bytes([VERSION, H_EOS, 0, 0])

DATA, WATERMARK, BARRIER, MARKER, EOS, SCHEMA, REVOKE, ASSIGN, RESUME = 1, 2, 3, 4, 5, 6, 7, 8, 9
ENC_NONE, ENC_RAW, ENC_JSON, ENC_REC = 0, 1, 2, 3
F_EVENT = 0x0001
F_META = 0x0002             # the payload starts with source metadata
F_TOMBSTONE = 0x0004        # the value is null (a Kafka tombstone)
MAX_FRAME = 16 << 20

T_NULL, T_FALSE, T_TRUE, T_INT, T_FLOAT, T_STR, T_TIME, T_JSON, T_BYTES = range(9)

_FIXED = struct.Struct("<BBHqq")


class StreamError(Exception):
    pass


class Time(int):
    """A time value in nanoseconds since the epoch (binary type 'time')."""


class CutStream(StreamError):
    """The writer promised an end-of-stream frame and the input ended
    without it: a crashed or killed upstream stage."""


class Frame:
    __slots__ = ("kind", "enc", "flags", "ingest_ns", "event_ns", "payload", "meta")

    def __init__(self, kind, enc, flags, ingest_ns, event_ns, payload, meta=None):
        self.kind, self.enc, self.flags = kind, enc, flags
        self.ingest_ns, self.event_ns, self.payload = ingest_ns, event_ns, payload
        self.meta = meta    # bytes of a binary record (F_META), or None

    def metadata(self):
        """The source metadata as a dict (topic, partition, offset, key,
        timestamp, headers), or {} without any."""
        return decode_record(self.meta) if self.meta is not None else {}

    @property
    def tombstone(self):
        """True when the value is null (a Kafka tombstone), not empty."""
        return bool(self.flags & F_TOMBSTONE)

    def record(self):
        """The payload as a dict (binary records and JSON payloads); None
        for a tombstone."""
        if self.flags & F_TOMBSTONE:
            return None
        if self.enc == ENC_REC:
            return decode_record(self.payload)
        if self.enc in (ENC_JSON, ENC_RAW):
            return json.loads(self.payload)
        raise StreamError("payload encoding %d is not a record" % self.enc)


def decode_record(p):
    n = struct.unpack_from("<H", p, 0)[0]
    off, rec = 2, {}
    for _ in range(n):
        t, nl = p[off], p[off + 1]
        off += 2
        name = p[off:off + nl].decode("utf-8", "replace")
        off += nl
        if t == T_NULL:
            v = None
        elif t in (T_FALSE, T_TRUE):
            v = t == T_TRUE
        elif t == T_INT:
            v = struct.unpack_from("<q", p, off)[0]
            off += 8
        elif t == T_TIME:
            v = Time(struct.unpack_from("<q", p, off)[0])
            off += 8
        elif t == T_FLOAT:
            v = struct.unpack_from("<d", p, off)[0]
            off += 8
        elif t in (T_STR, T_JSON, T_BYTES):
            ln = struct.unpack_from("<I", p, off)[0]
            off += 4
            raw = bytes(p[off:off + ln])
            off += ln
            if t == T_BYTES:
                v = raw
            else:
                s = raw.decode("utf-8", "replace")
                v = json.loads(s) if t == T_JSON else s
        else:
            raise StreamError("unknown field type %d" % t)
        rec[name] = v
    return rec


def encode_record(rec):
    out = [struct.pack("<H", len(rec))]
    for k, v in rec.items():
        name = k.encode()
        if len(name) > 255:
            raise StreamError("field name longer than 255 bytes: %r" % k)
        if v is None:
            out.append(struct.pack("<BB", T_NULL, len(name)) + name)
        elif v is True or v is False:
            out.append(struct.pack("<BB", T_TRUE if v else T_FALSE, len(name)) + name)
        elif isinstance(v, Time):
            out.append(struct.pack("<BB", T_TIME, len(name)) + name + struct.pack("<q", v))
        elif isinstance(v, int):
            out.append(struct.pack("<BB", T_INT, len(name)) + name + struct.pack("<q", v))
        elif isinstance(v, float):
            out.append(struct.pack("<BB", T_FLOAT, len(name)) + name + struct.pack("<d", v))
        elif isinstance(v, str):
            b = v.encode()
            out.append(struct.pack("<BB", T_STR, len(name)) + name + struct.pack("<I", len(b)) + b)
        elif isinstance(v, (bytes, bytearray)):
            out.append(struct.pack("<BB", T_BYTES, len(name)) + name + struct.pack("<I", len(v)) + bytes(v))
        else:
            b = json.dumps(v, separators=(",", ":")).encode()
            out.append(struct.pack("<BB", T_JSON, len(name)) + name + struct.pack("<I", len(b)) + b)
    return b"".join(out)


class Reader:
    """Iterates over the frames of a stream (concatenated streams included).
    Raises CutStream when a version 2 stream ends without its end-of-stream
    frame, after every whole frame before the cut."""

    def __init__(self, f=None, max_frame=MAX_FRAME):
        self.f = f if f is not None else sys.stdin.buffer
        self.max_frame = max_frame
        self.started = False
        self.promised = False   # the current header had H_EOS
        self.at_eos = False     # the last frame was an EOS frame
        self.cut = False

    def _cut(self, what):
        self.cut = True
        raise CutStream("the stream was cut%s: its writer ended without an "
                        "end-of-stream frame (a crashed or killed upstream stage?)" % what)

    def _read(self, n):
        b = self.f.read(n)
        while b is not None and len(b) < n:
            more = self.f.read(n - len(b))
            if not more:
                break
            b += more
        return b or b""

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            head = self._read(4)
            if not head:
                if self.promised and not self.at_eos:
                    self._cut("")
                raise StopIteration
            if len(head) < 4:
                if self.promised:
                    self._cut(" inside a frame")
                raise StreamError("truncated frame header")
            if head == MAGIC:
                rest = self._read(4)
                if len(rest) < 4 or rest[0] not in (1, 2):
                    raise StreamError("unsupported rtai stream version")
                self.started = True
                self.promised = rest[0] >= 2 and bool(rest[1] & H_EOS)
                self.at_eos = False
                continue
            if not self.started:
                raise StreamError("input is not an rtai stream; pipe text through rtai-cat first")
            (n,) = struct.unpack("<I", head)
            if n < _FIXED.size or n > self.max_frame:
                raise StreamError("bad frame length %d" % n)
            body = self._read(n)
            if len(body) < n:
                if self.promised:
                    self._cut(" inside a frame")
                raise StreamError("truncated frame")
            kind, enc, flags, ingest, event = _FIXED.unpack_from(body)
            self.at_eos = kind == EOS
            if kind == EOS:
                continue
            payload, meta = body[_FIXED.size:], None
            if flags & F_META:
                if len(payload) < 4:
                    raise StreamError("frame flag META without a metadata length")
                (ml,) = struct.unpack_from("<I", payload)
                if ml > len(payload) - 4:
                    raise StreamError("frame flag META: metadata longer than the payload")
                meta, payload = payload[4:4 + ml], payload[4 + ml:]
            return Frame(kind, enc, flags, ingest,
                         event if flags & F_EVENT else None, payload, meta)


class Writer:
    """Writes a stream (version 2); call flush() when a record must leave at
    once, and close() at the end: it writes the end-of-stream frame that
    tells readers the stream is finished, not cut."""

    def __init__(self, f=None):
        self.f = f if f is not None else sys.stdout.buffer
        self.closed = False
        self.f.write(HEADER)
        _open_writers.add(self)

    def put(self, kind, enc, payload=b"", ingest_ns=0, event_ns=None, flags=0, meta=None):
        """Writes a frame; meta (bytes of a binary record, see
        encode_record) is the source metadata that goes before the value."""
        if event_ns is None:
            flags &= ~F_EVENT
            event_ns = 0
        else:
            flags |= F_EVENT
        if meta is not None:
            flags |= F_META
            payload = struct.pack("<I", len(meta)) + meta + payload
        else:
            flags &= ~F_META
        body = _FIXED.pack(kind, enc, flags, ingest_ns, event_ns) + payload
        try:
            self.f.write(struct.pack("<I", len(body)) + body)
        except BrokenPipeError:
            # The reader went away (| head): end quietly, as the rtai tools do.
            _quiet_exit()

    def write(self, frame):
        self.put(frame.kind, frame.enc, frame.payload, frame.ingest_ns,
                 frame.event_ns, frame.flags, frame.meta)

    def write_record(self, rec, like=None, ingest_ns=0, event_ns=None, binary=True):
        """Writes a dict as a data frame, binary by default or JSON text;
        like= keeps a frame's times and source metadata."""
        meta = None
        if like is not None:
            ingest_ns, event_ns, meta = like.ingest_ns, like.event_ns, like.meta
        if binary:
            self.put(DATA, ENC_REC, encode_record(rec), ingest_ns, event_ns, meta=meta)
        else:
            self.put(DATA, ENC_JSON, json.dumps(rec, separators=(",", ":")).encode(),
                     ingest_ns, event_ns, meta=meta)

    def write_marker(self, frame, stage):
        """Forwards a latency marker with a stamp of this stage (its name and
        the time now) appended, at once, as every rtai tool does: rtai-lat(1)
        then shows the time spent up to this stage in the stage's own row."""
        name = stage.encode()[:255]
        payload = frame.payload + bytes([len(name)]) + name + struct.pack("<q", time.time_ns())
        self.put(frame.kind, frame.enc, payload, frame.ingest_ns, frame.event_ns, frame.flags)
        self.flush()

    def flush(self):
        try:
            self.f.flush()
        except BrokenPipeError:
            _quiet_exit()

    def close(self):
        """Ends the stream as finished: the end-of-stream frame, then flush.
        A second call does nothing."""
        if self.closed:
            return
        self.closed = True
        _open_writers.discard(self)
        self.put(EOS, ENC_NONE, b"", time.time_ns(), None)
        self.flush()


def _quiet_exit():
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass
    sys.exit(0)


# Writers still open at a normal exit are closed; after an uncaught
# exception they are left cut on purpose.
_open_writers = set()
_crashed = False
_previous_excepthook = sys.excepthook


def _excepthook(kind, value, tb):
    global _crashed
    _crashed = True
    _previous_excepthook(kind, value, tb)


def _close_at_exit():
    if _crashed:
        return
    for w in list(_open_writers):
        try:
            w.close()
        except (SystemExit, Exception):  # a closed file, a gone reader
            pass


sys.excepthook = _excepthook
atexit.register(_close_at_exit)
