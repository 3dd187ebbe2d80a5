"""Minimal remote-write encoders for tests: protobuf wire format and snappy
block format (literal-only, which every snappy decoder accepts), so the tests
need nothing beyond the Python standard library."""
import struct


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_double(num, v):
    return varint(num << 3 | 1) + struct.pack("<d", v)


def label(name, value):
    return field_bytes(1, name.encode() if isinstance(name, str) else name) + \
        field_bytes(2, value.encode() if isinstance(value, str) else value)


def sample(value, ts):
    return field_double(1, value) + field_varint(2, ts)


def timeseries(labels, samples, exemplars=()):
    out = b"".join(field_bytes(1, label(n, v)) for n, v in labels)
    out += b"".join(field_bytes(2, sample(v, t)) for t, v in samples)
    for ex_labels, v, t in exemplars:
        ex = b"".join(field_bytes(1, label(n, lv)) for n, lv in ex_labels) + field_double(2, v) + field_varint(3, t)
        out += field_bytes(3, ex)
    return out


def metadata(mtype, family, help_, unit):
    return field_varint(1, mtype) + field_bytes(2, family.encode()) + field_bytes(4, help_.encode()) + \
        field_bytes(5, unit.encode())


def write_request(series, meta=()):
    """series: [(labels [(n, v)], samples [(t, v)], exemplars)]"""
    out = b""
    for s in series:
        out += field_bytes(1, timeseries(*s))
    for m in meta:
        out += field_bytes(3, metadata(*m))
    return out


def write_request_v2(symbols, series):
    """series: [(label_refs [int], samples [(t, v)])]"""
    out = b"".join(field_bytes(4, s.encode()) for s in symbols)
    for refs, samples in series:
        ts = b""
        if refs:
            ts += field_bytes(1, b"".join(varint(r) for r in refs))
        ts += b"".join(field_bytes(2, sample(v, t)) for t, v in samples)
        out += field_bytes(5, ts)
    return out


def snappy(data):
    out = bytearray(varint(len(data)))
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
        pos += len(chunk)
    return bytes(out)
