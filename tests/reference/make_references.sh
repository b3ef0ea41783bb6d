#!/usr/bin/env bash
# Regenerates the end-to-end test data: the tiny random checkpoints and every reference logits
# file in tests/data/. Needs /usr/bin/python3 with numpy (and sentencepiece for kjv-tiny).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data="$repo/tests/data"
python=/usr/bin/python3

# The same ids for every tiny model: BOS, then ids spread over the 256-entry vocabulary.
tiny_tokens=1,17,42,255,3,100,7,200,63,128,5,99

"$python" "$here/make_tiny_model.py" "$data"
for model in tiny-gqa-f32 tiny-gqa-bf16-sharded tiny-mha-f16; do
    "$python" "$here/llama_ref.py" "$data/$model" --tokens "$tiny_tokens" \
        --out "$data/$model.ref.json"
done

kjv="$repo/model/kjv-tiny"
if [[ -f "$kjv/config.json" && -f "$kjv/tokenizer.model" ]]; then
    "$python" "$here/llama_ref.py" "$kjv" \
        --prompt "In the beginning God created the heaven and the earth." \
        --out "$data/kjv-tiny.ref.json"
else
    echo "make_references.sh: $kjv not found; kjv-tiny.ref.json left as it is" >&2
fi
