#!/usr/bin/env bash
# Perplexity of every llama.cpp quantization preset with both engines, on the files llama.cpp's
# own llama-quantize writes: the shipped model with its FFN zero-padded from 688 to 704 values
# (the same function; 704 is a multiple of 32 but not of 256, so the K presets carry their
# fallback types), the first 24000 bytes of its held-out text, context 512. Prints a markdown
# table. Outside CI (needs a llama.cpp build); run it on an otherwise idle machine.
#
#   tools/presets-vs-llamacpp.sh LLAMA_CPP_BIN_DIR [WORK_DIR]
#   PRESETS="Q4_K_M Q2_K" tools/presets-vs-llamacpp.sh ...   (a subset)
set -euo pipefail
if [[ $# -lt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
bin=$1
work=${2:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/.." && pwd)
presets=${PRESETS:-Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS}
for tool in "$bin/llama-quantize" "$bin/llama-perplexity" "$root/build/tools/llama-quantize" \
    "$root/build/tools/llama-perplexity"; do
    [[ -x $tool ]] || { echo "error: $tool is not built" >&2; exit 1; }
done
mkdir -p "$work/padded"
/usr/bin/python3 "$root/tools/pad_ffn.py" "$root/model/kjv-tiny" "$work/padded" 704
"$root/build/tools/llama-quantize" --log-level warn "$work/padded" "$work/F32.gguf" F32
head -c 24000 "$root/model/kjv-tiny/heldout.txt" > "$work/text.txt"

# llama.cpp's final line sometimes misses its log at exit: read it from --log-file, retrying.
llamacpp_ppl() {
    for _ in 1 2 3; do
        rm -f "$work/llamacpp.log"
        "$bin/llama-perplexity" -m "$1" -f "$work/text.txt" -c 512 -t 2 \
            --log-file "$work/llamacpp.log" > /dev/null 2>&1 || true
        local ppl
        ppl=$(grep -a -o 'Final estimate: PPL = [0-9.]*' "$work/llamacpp.log" | grep -o '[0-9.]*$' || true)
        if [[ -n $ppl ]]; then echo "$ppl"; return; fi
    done
    echo "?"
}
ours_ppl() {
    "$root/build/tools/llama-perplexity" -m "$1" -f "$work/text.txt" -c 512 -t 2 2>/dev/null |
        tail -1 | grep -o '[0-9.]*$'
}

echo "| preset | llama.cpp | ours | difference | ours, on our llama-quantize's file |"
echo "|---|--:|--:|--:|--:|"
for preset in F32 $presets; do
    file=$work/F32.gguf
    own=""
    if [[ $preset != F32 ]]; then
        file=$work/llamacpp-$preset.gguf
        "$bin/llama-quantize" "$work/F32.gguf" "$file" "$preset" > /dev/null 2>&1
        "$root/build/tools/llama-quantize" --log-level warn "$work/F32.gguf" \
            "$work/ours-$preset.gguf" "$preset"
        own=$(ours_ppl "$work/ours-$preset.gguf")
    fi
    theirs=$(llamacpp_ppl "$file")
    ours=$(ours_ppl "$file")
    diff=$(awk -v a="$theirs" -v b="$ours" 'BEGIN { if (a + 0 > 0) printf "%+.3f%%", 100 * (b - a) / a; else print "?" }')
    echo "| $preset | $theirs | $ours | $diff | $own |"
done
