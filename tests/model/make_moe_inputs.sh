#!/usr/bin/env bash
# Makes the MoE inputs of the runtime_cli.moe_* tests in $2 with mesh-model ($1):
# a mixtral model (one tensor per expert, an index of several files), a gpt_oss
# model in the MXFP4 layout, and broken copies for the error tests.
set -euo pipefail
model=$1 out=$2
rm -rf "$out"
mkdir -p "$out"
make=("$model" make --layers 2 --vocab 256 --seq-len 64 --experts 4 --top-k 2 --seed 5)
"${make[@]}" --family mixtral --dim 64 --hidden-dim 128 --heads 4 --kv-heads 2 --window 6 \
  --shard-size 64KiB --out "$out/mixtral"
"${make[@]}" --family gpt_oss --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 --head-dim 16 \
  --window 4 --dtype bf16 --mxfp4 --out "$out/oss"
# 6 heads: a 1x3 mesh divides them, not the 4 experts.
"${make[@]}" --family mixtral --dim 96 --hidden-dim 128 --heads 6 --kv-heads 3 \
  --out "$out/mixtral_6_heads"
# I = 96: a 1x2 split of down_proj's input gives 48 columns, not whole blocks of 32.
"${make[@]}" --family gpt_oss --dim 64 --hidden-dim 96 --heads 8 --kv-heads 2 --head-dim 16 \
  --mxfp4 --out "$out/oss_i96"

# Pre-quantized int8 (meshlm-block32: the expert stacks as logical tensors).
"$model" quantize --model "$out/mixtral" --dtype int8 --out "$out/mixtral_int8"

# Expert 3's w1 of layer 1 renamed away (same length: the files stay valid).
cp -r "$out/mixtral" "$out/mixtral_missing_expert"
sed -i 's/layers\.1\.block_sparse_moe\.experts\.3\.w1\.weight/layers.1.block_sparse_moe.experts.3.w9.weight/' \
  "$out"/mixtral_missing_expert/model*
grep -aq 'experts.3.w9.weight' "$out"/mixtral_missing_expert/model.safetensors.index.json
# Top-5 of 4 experts.
cp -r "$out/mixtral" "$out/mixtral_top5"
sed -i -E 's/"num_experts_per_tok": *2/"num_experts_per_tok": 5/' "$out/mixtral_top5/config.json"
# An unknown quantization method.
cp -r "$out/oss" "$out/oss_mxfp5"
sed -i -E 's/"mxfp4"/"mxfp5"/' "$out/oss_mxfp5/config.json"
# Scales whose shape disagrees with the blocks (same bytes, so the file stays valid).
cp -r "$out/oss" "$out/oss_bad_scales"
sed -i -E '0,/(gate_up_proj_scales":\{"data_offsets":\[[0-9]+,[0-9]+\],"dtype":"U8","shape":\[)4,256,2\]/s//\18,128,2]/' \
  "$out/oss_bad_scales/model.safetensors"
grep -aq '"shape":\[8,128,2\]' "$out/oss_bad_scales/model.safetensors"
