#!/usr/bin/env python3
"""Copies a Hugging Face LLaMA directory with its FFN zero-padded to a wider size.

The padded model computes the same function (the new gate/up rows give silu(0) * 0 = 0, and the new
ffn_down columns are zero), so its perplexity is the original's while its FFN width can be made a
multiple of 32 that is not one of 256: tools/presets-vs-llamacpp.sh uses it to run every llama.cpp
quantization preset, K-quant fallbacks included, on the shipped model (FFN 688 is not a multiple of
32, which llama.cpp's Q4_1/Q5_x/IQ4_NL presets refuse).

usage: pad_ffn.py SRC_DIR DST_DIR NEW_FFN_SIZE   (safetensors in F16/BF16/F32, one file)
"""
import json
import shutil
import struct
import sys


def main():
    src, dst, width = sys.argv[1], sys.argv[2], int(sys.argv[3])
    raw = open(f"{src}/model.safetensors", "rb").read()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_size])
    data = raw[8 + header_size:]
    config = json.load(open(f"{src}/config.json"))
    old = config["intermediate_size"]
    if width < old:
        sys.exit(f"error: {width} is narrower than the FFN ({old})")
    pad = width - old
    out_header, chunks, offset = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        begin, end = info["data_offsets"]
        blob = data[begin:end]
        shape = list(info["shape"])
        size = {"F16": 2, "BF16": 2, "F32": 4}[info["dtype"]]
        if "gate_proj" in name or "up_proj" in name:  # [ffn, hidden]: zero rows
            blob += bytes(pad * shape[1] * size)
            shape[0] += pad
        elif "down_proj" in name:  # [hidden, ffn]: zero columns
            row = old * size
            blob = b"".join(blob[r * row:(r + 1) * row] + bytes(pad * size) for r in range(shape[0]))
            shape[1] += pad
        out_header[name] = {"dtype": info["dtype"], "shape": shape,
                            "data_offsets": [offset, offset + len(blob)]}
        chunks.append(blob)
        offset += len(blob)
    encoded = json.dumps(out_header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(f"{dst}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for chunk in chunks:
            f.write(chunk)
    config["intermediate_size"] = width
    json.dump(config, open(f"{dst}/config.json", "w"), indent=2)
    shutil.copy(f"{src}/tokenizer.model", f"{dst}/tokenizer.model")


if __name__ == "__main__":
    main()
