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


def snappy_runs(data):
    """Snappy block format that encodes runs of a repeated byte as copies, so
    that a large uncompressed body can travel in a small compressed one."""
    out = bytearray(varint(len(data)))
    lit = bytearray()
    i = 0

    def flush():
        pos = 0
        while pos < len(lit):
            chunk = lit[pos:pos + 60]
            out.append((len(chunk) - 1) << 2)
            out.extend(chunk)
            pos += len(chunk)
        lit.clear()

    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        run = j - i
        if run >= 16:
            lit.append(data[i])
            flush()
            rest = run - 1
            while rest > 0:
                n = min(64, rest)
                if n < 4:
                    lit.extend(data[j - rest:j - rest + n])
                    flush()
                else:
                    out.append(((n - 1) << 2) | 2)
                    out.extend((1).to_bytes(2, "little"))
                rest -= n
            i = j
        else:
            lit.extend(data[i:j])
            i = j
    flush()
    return bytes(out)


def histogram(count, ts):
    """A native histogram (only its wire form matters to the tests)."""
    return field_varint(1, count) + field_double(3, 1.5) + field_varint(15, ts)


def timeseries_with_histogram(labels, ts):
    out = b"".join(field_bytes(1, label(n, v)) for n, v in labels)
    return out + field_bytes(4, histogram(3, ts))


def write_request_v2_meta(symbols, series):
    """series: [(label_refs, samples [(t, v)], (type, help_ref, unit_ref) or None)]"""
    out = b"".join(field_bytes(4, s.encode()) for s in symbols)
    for refs, samples, md in series:
        ts = b""
        if refs:
            ts += field_bytes(1, b"".join(varint(r) for r in refs))
        ts += b"".join(field_bytes(2, sample(v, t)) for t, v in samples)
        if md:
            ts += field_bytes(5, field_varint(1, md[0]) + field_varint(3, md[1]) + field_varint(4, md[2]))
        out += field_bytes(5, ts)
    return out
