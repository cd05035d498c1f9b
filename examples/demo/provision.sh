#!/bin/sh
# The demo's stand-in for the kubelet and a model downloader.
set -eu
root=target/demo/run
secrets=$root/secrets/hf
models=$root/models/llama

mount_secret() { # generation value
    mkdir -p "$secrets/..$1"
    printf '%s' "$2" > "$secrets/..$1/token"
    ln -s "..$1" "$secrets/..data_tmp"
    mv -T "$secrets/..data_tmp" "$secrets/..data"
    [ -L "$secrets/token" ] || ln -s ..data/token "$secrets/token"
}

sleep 0.3
mount_secret 2026_11_23_01_00_00.1 changeme
echo "provision: Secret volume mounted, still holding a placeholder"
sleep 0.4
mount_secret 2026_11_23_01_00_01.2 hf_demo_value_not_a_real_token
echo "provision: Secret updated through a ..data swap"

mkdir -p "$models"
for _ in 1 2 3 4; do
    head -c 262144 /dev/zero >> "$models/model.safetensors"
    sleep 0.1
done
echo '{"version": "1.0"}' > "$models/tokenizer.json"
echo "provision: weights and tokenizer written"
