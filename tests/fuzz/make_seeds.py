#!/usr/bin/env python3
"""Writes the starting corpus of each fuzz target into tests/fuzz/corpus/<target>/seed-*: small valid
and near-valid inputs drawn from the project's fixtures (key names and configs of the tiny models),
so that the fuzzers start from realistic structure. scripts/fuzz.sh adds what the fuzzers find.
Inputs stay small (a few KiB) so that each execution is fast."""
import json, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "data", "golden")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
ITEM = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
        "I8": 1, "U8": 1, "BOOL": 1}


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape)] -> bytes of a valid file (zero data)."""
    header, off = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dt, shape in tensors:
        n = ITEM[dt]
        for d in shape:
            n *= d
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + bytes(off)


def header_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def shrunk(path, keep, cap=2):
    """The tensors of a real file with every dimension capped (structure kept, data tiny)."""
    h = header_of(path)
    out = []
    for k, v in h.items():
        if k == "__metadata__" or not keep(k):
            continue
        out.append((k, v["dtype"], [min(d, cap) for d in v["shape"]]))
    return out


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    comfy = os.path.join(GOLDEN, "wan21-tiny-comfy")
    # safetensors: generic files, then each component's key structure (first blocks only).
    write("safetensors", "dtypes", safetensors([(dt.lower(), dt, [2]) for dt in ITEM]))
    write("safetensors", "meta", safetensors([("a", "F32", [1, 2])], {"format": "pt", "wan_config": "{}"}))
    write("safetensors", "empty", safetensors([]))
    first_blocks = lambda k: not any(f"blocks.{i}." in k for i in range(1, 100))
    write("safetensors", "dit", safetensors(shrunk(os.path.join(comfy, "wan2.1_t2v_tiny_bf16.safetensors"), first_blocks)))
    write("safetensors", "vae", safetensors(shrunk(os.path.join(comfy, "wan_2.1_vae_tiny_bf16.safetensors"), lambda k: True)[:40]))
    write("safetensors", "umt5", safetensors(shrunk(os.path.join(comfy, "umt5_tiny_bf16.safetensors"),
                                                    lambda k: "spiece" not in k and first_blocks(k))))
    # index: weight maps over the fuzz target's two shards.
    write("index", "ok", json.dumps({"metadata": {"total_size": 40}, "weight_map": {"x": "a.safetensors",
                                                                                   "y": "a.safetensors", "z": "b.safetensors"}}))
    write("index", "missing", json.dumps({"weight_map": {"x": "c.safetensors"}}))
    write("index", "path", json.dumps({"weight_map": {"x": "../a.safetensors"}}))
    # config: every config.json of the fixtures.
    for dirpath, _, files in os.walk(GOLDEN):
        for f in files:
            if f.endswith("config.json") or f == "model_index.json":
                rel = os.path.relpath(os.path.join(dirpath, f), GOLDEN).replace(os.sep, "_")
                with open(os.path.join(dirpath, f), "rb") as src:
                    data = src.read()
                if len(data) < 8192:
                    write("config", rel, data)
    with open(os.path.join(ROOT, "models", "t2v-demo", "model_index.json"), "rb") as f:
        write("config", "demo_model_index.json", f.read())
    # batch: first byte (odd = .jsonl), optional template line, then the file.
    write("batch", "txt", "\x00{index:04}-{slug}-{seed}.mp4\n# comment\na red fox\n\n  a cat on a sofa  \r\n")
    write("batch", "jsonl", "\x01{line}-{slug}.webm\n" + "\n".join([
        json.dumps({"prompt": "a red fox", "seed": 3, "steps": 4}),
        json.dumps({"prompt": "snow", "width": 64, "height": 48, "frames": 5, "guidance": 4.5, "sampler": "euler"}),
        json.dumps({"prompt": "x", "output": "out.mp4", "negative_prompt": "blur", "fps": "24000/1001"}),
        "{\"prompt\": 1}", "[1, 2]", "{not json"]) + "\n")
    # prompt: text the cleaner handles specially.
    for i, p in enumerate(["a red fox running through snow", "caf\u00e9 &amp; &lt;b&gt; &#x1F98A; &copy",
                           "\u201cquoted\u201d \u2018x\u2019 \ufeff\u200b tab\there", "\u4e00\u53ea\u72d0\u72f8\u5728\u96ea\u5730\u91cc\u5954\u8dd1",
                           "   lots   of   space  \n\n new line", "&#0; &#xD800; &#1114112; &nbsp &amp"]):
        write("prompt", str(i), p)


if __name__ == "__main__":
    sys.exit(main())
