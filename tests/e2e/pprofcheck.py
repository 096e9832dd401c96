#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Decode a gzipped pprof profile.proto by hand and check it the way pprof's
profile.go CheckValid and its decoder do: string_table[0] == "", non-zero unique
ids, every referenced id present, len(value) == len(sample_type), string
indices in range. `pprofcheck.py FILE` prints a JSON summary or exits 1."""
import gzip
import json
import sys


def varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7


def fields(buf):
    """[(field, wiretype, value)] of one message; value is int or bytes."""
    out, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v = bytes(buf[i:i + n])
            i += n
        elif wt == 1:
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 5:
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, v))
    if i != len(buf):
        raise ValueError("message overruns its length")
    return out


def ints(wt, v):
    """A repeated integer field, packed (bytes) or not."""
    if wt == 0:
        return [v]
    res, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        res.append(x)
    return res


def signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x


def msg(buf, repeated=()):
    d = {}
    for f, wt, v in fields(buf):
        if f in repeated:
            d.setdefault(f, []).append((wt, v))
        else:
            d[f] = v
    return d


def decode(data):
    if data[:2] != b"\x1f\x8b":
        raise ValueError("not gzip")
    raw = gzip.decompress(data)
    top = msg(raw, repeated=(1, 2, 3, 4, 5, 6, 13))
    strtab = [v.decode("utf-8") for _, v in top.get(6, [])]
    if not strtab or strtab[0] != "":
        raise ValueError("string_table[0] must be ''")

    def s(i):
        if not 0 <= i < len(strtab):
            raise ValueError("string index %d out of range" % i)
        return strtab[i]

    sample_type = []
    for _, v in top.get(1, []):
        m = msg(v)
        sample_type.append((s(m.get(1, 0)), s(m.get(2, 0))))
    mappings, locations, functions = {}, {}, {}
    for _, v in top.get(3, []):
        m = msg(v)
        mid = m.get(1, 0)
        if not mid or mid in mappings:
            raise ValueError("mapping id %d zero or repeated" % mid)
        mappings[mid] = dict(start=m.get(2, 0), limit=m.get(3, 0), offset=m.get(4, 0),
                             filename=s(m.get(5, 0)), build_id=s(m.get(6, 0)),
                             has_functions=bool(m.get(7, 0)), has_filenames=bool(m.get(8, 0)),
                             has_line_numbers=bool(m.get(9, 0)))
    for _, v in top.get(5, []):
        m = msg(v)
        fid = m.get(1, 0)
        if not fid or fid in functions:
            raise ValueError("function id %d zero or repeated" % fid)
        functions[fid] = dict(name=s(m.get(2, 0)), system_name=s(m.get(3, 0)),
                              filename=s(m.get(4, 0)), start_line=signed(m.get(5, 0)))
    for _, v in top.get(4, []):
        m = msg(v, repeated=(4,))
        lid = m.get(1, 0)
        if not lid or lid in locations:
            raise ValueError("location id %d zero or repeated" % lid)
        mid = m.get(2, 0)
        if mid and mid not in mappings:
            raise ValueError("location %d names missing mapping %d" % (lid, mid))
        lines = []
        for _, lv in m.get(4, []):
            ln = msg(lv)
            if ln.get(1, 0) not in functions:
                raise ValueError("location %d names missing function %d" % (lid, ln.get(1, 0)))
            lines.append((ln[1], signed(ln.get(2, 0))))
        locations[lid] = dict(mapping=mid, address=m.get(3, 0), lines=lines)
    samples = []
    for _, v in top.get(2, []):
        m = msg(v, repeated=(1, 2, 3))
        locs = [x for wt, val in m.get(1, []) for x in ints(wt, val)]
        vals = [signed(x) for wt, val in m.get(2, []) for x in ints(wt, val)]
        if len(vals) != len(sample_type):
            raise ValueError("sample has %d values for %d types" % (len(vals), len(sample_type)))
        for lid in locs:
            if lid not in locations:
                raise ValueError("sample names missing location %d" % lid)
        labels = {}
        for _, lv in m.get(3, []):
            lab = msg(lv)
            key = s(lab.get(1, 0))
            labels[key] = s(lab[2]) if lab.get(2) else signed(lab.get(3, 0))
        samples.append(dict(locations=locs, values=vals, labels=labels))
    period_type = msg(top[11]) if 11 in top else {}
    return dict(strtab=strtab, sample_type=sample_type, samples=samples, mappings=mappings,
                locations=locations, functions=functions,
                time_nanos=signed(top.get(9, 0)), duration_nanos=signed(top.get(10, 0)),
                period_type=(s(period_type.get(1, 0)), s(period_type.get(2, 0))),
                period=signed(top.get(12, 0)),
                comments=[s(x) for wt, v in top.get(13, []) for x in ints(wt, v)],
                default_sample_type=s(top.get(14, 0)),
                mapping_order=[msg(v).get(1, 0) for _, v in top.get(3, [])])


def summary(p):
    """flat/cum sample counts per function name, threads, total samples."""
    flat, cum, threads, total = {}, {}, {}, 0
    for smp in p["samples"]:
        n = smp["values"][0]
        total += n
        names = []
        for lid in smp["locations"]:
            for fid, _ in p["locations"][lid]["lines"]:
                names.append(p["functions"][fid]["name"])
        if names:
            flat[names[0]] = flat.get(names[0], 0) + n
        for name in set(names):
            cum[name] = cum.get(name, 0) + n
        tid = smp["labels"].get("thread id")
        threads[tid] = threads.get(tid, 0) + n
    return dict(flat=flat, cum=cum, threads=threads, total=total)


def main():
    with open(sys.argv[1], "rb") as f:
        p = decode(f.read())
    out = summary(p)
    out.update(sample_type=p["sample_type"], period_type=p["period_type"], period=p["period"],
               functions={f["name"]: [f["filename"], f["start_line"]]
                          for f in p["functions"].values()},
               mappings=list(p["mappings"].values()), comments=p["comments"],
               default_sample_type=p["default_sample_type"],
               time_nanos=p["time_nanos"], duration_nanos=p["duration_nanos"])
    out["threads"] = {str(k): v for k, v in out["threads"].items()}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError, IndexError, UnicodeDecodeError) as e:
        print("pprofcheck: invalid profile: %s" % e, file=sys.stderr)
        sys.exit(1)
