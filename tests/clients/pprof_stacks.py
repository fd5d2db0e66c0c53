"""An independent pprof decoder for the corpus tests.

Decodes a pprof file (gzip or not) with Google's protobuf runtime, from a descriptor built
here (not from Flamelet's .proto files or Rust code), and prints per sample type the total
of each stack of function names, root first, as JSON:

    {"time_nanos": 0, "types": [{"type": "cpu", "unit": "nanoseconds",
                                 "stacks": {"main;work": 123}}]}

Stacks are named as api.md describes and the reference server does: a location's lines
innermost first (so reversed), lines without a function name skipped, a location with no
named line is `unknown`, ids that point nowhere skipped; .NET profiles whose functions all
have id 0 get one function per location; stacks keep their 1000 root-most frames; zero
totals are left out.
"""

import gzip
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

MAX_STACK_DEPTH = 1000

F = descriptor_pb2.FieldDescriptorProto
MESSAGES = {
    "Profile": [
        ("sample_type", 1, "ValueType", True),
        ("sample", 2, "Sample", True),
        ("mapping", 3, "Mapping", True),
        ("location", 4, "Location", True),
        ("function", 5, "Function", True),
        ("string_table", 6, F.TYPE_STRING, True),
        ("drop_frames", 7, F.TYPE_INT64, False),
        ("keep_frames", 8, F.TYPE_INT64, False),
        ("time_nanos", 9, F.TYPE_INT64, False),
        ("duration_nanos", 10, F.TYPE_INT64, False),
        ("period_type", 11, "ValueType", False),
        ("period", 12, F.TYPE_INT64, False),
        ("comment", 13, F.TYPE_INT64, True),
        ("default_sample_type", 14, F.TYPE_INT64, False),
    ],
    "ValueType": [("type", 1, F.TYPE_INT64, False), ("unit", 2, F.TYPE_INT64, False)],
    "Sample": [
        ("location_id", 1, F.TYPE_UINT64, True),
        ("value", 2, F.TYPE_INT64, True),
        ("label", 3, "Label", True),
    ],
    "Label": [
        ("key", 1, F.TYPE_INT64, False),
        ("str", 2, F.TYPE_INT64, False),
        ("num", 3, F.TYPE_INT64, False),
        ("num_unit", 4, F.TYPE_INT64, False),
    ],
    "Mapping": [
        ("id", 1, F.TYPE_UINT64, False),
        ("memory_start", 2, F.TYPE_UINT64, False),
        ("memory_limit", 3, F.TYPE_UINT64, False),
        ("file_offset", 4, F.TYPE_UINT64, False),
        ("filename", 5, F.TYPE_INT64, False),
        ("build_id", 6, F.TYPE_INT64, False),
        ("has_functions", 7, F.TYPE_BOOL, False),
        ("has_filenames", 8, F.TYPE_BOOL, False),
        ("has_line_numbers", 9, F.TYPE_BOOL, False),
        ("has_inline_frames", 10, F.TYPE_BOOL, False),
    ],
    "Location": [
        ("id", 1, F.TYPE_UINT64, False),
        ("mapping_id", 2, F.TYPE_UINT64, False),
        ("address", 3, F.TYPE_UINT64, False),
        ("line", 4, "Line", True),
        ("is_folded", 5, F.TYPE_BOOL, False),
    ],
    "Line": [("function_id", 1, F.TYPE_UINT64, False), ("line", 2, F.TYPE_INT64, False)],
    "Function": [
        ("id", 1, F.TYPE_UINT64, False),
        ("name", 2, F.TYPE_INT64, False),
        ("system_name", 3, F.TYPE_INT64, False),
        ("filename", 4, F.TYPE_INT64, False),
        ("start_line", 5, F.TYPE_INT64, False),
    ],
}


def profile_class():
    file = descriptor_pb2.FileDescriptorProto(
        name="independent_profile.proto", package="independent", syntax="proto3"
    )
    for name, fields in MESSAGES.items():
        message = file.message_type.add(name=name)
        for field, number, kind, repeated in fields:
            f = message.field.add(name=field, number=number)
            f.label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
            if isinstance(kind, str):
                f.type = F.TYPE_MESSAGE
                f.type_name = ".independent." + kind
            else:
                f.type = kind
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("independent.Profile"))


def stacks(data):
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    p = profile_class()()
    p.ParseFromString(data)
    s = p.string_table
    functions = list(p.function)
    if functions and all(f.id == 0 for f in functions) and len(functions) == len(p.location):
        for f, loc in zip(functions, p.location):
            f.id = loc.id
    names = {f.id: s[f.name] for f in functions}
    locations = {}
    for loc in p.location:
        frames = [names.get(line.function_id, "") for line in loc.line]
        frames = [n for n in reversed(frames) if n]
        locations[loc.id] = frames or ["unknown"]
    types = []
    for i, t in enumerate(p.sample_type):
        totals = {}
        for sample in p.sample:
            frames = []
            for loc in reversed(sample.location_id):
                frames.extend(locations.get(loc, []))
            frames = frames[:MAX_STACK_DEPTH]
            if frames and sample.value[i]:
                key = ";".join(frames)
                totals[key] = totals.get(key, 0) + sample.value[i]
        totals = {k: v for k, v in totals.items() if v}
        types.append({"type": s[t.type], "unit": s[t.unit], "stacks": totals})
    return {"time_nanos": p.time_nanos, "types": types}


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        json.dump(stacks(f.read()), sys.stdout)
