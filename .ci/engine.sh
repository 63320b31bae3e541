#!/usr/bin/env bash
# Trunk post-build step, the first of the hook (Trunk.toml): the site's second wasm module, the engine.
#
# trunk builds the page's own module (index.html's rust link: inference, the photo path, the charts'
# data; no autodiff, optimiser, WebGPU or classical fitting), which is all the first answer needs. This
# step builds the same crate with `--features engine,wgpu` (training, Grad-CAM, scoring, classical
# fitting, WebGPU), which the page's workers load after the first answer, and names its files in
# index.html (<meta name="fashionlab-engine">) for www/engine.js to find.
#
# It builds in its own target directory: two feature sets of one crate in one directory would overwrite
# each other's `fashionlab.wasm`, from which trunk takes the page's module.
# Run by trunk with TRUNK_STAGING_DIR and TRUNK_PROFILE set, or as: .ci/engine.sh DIR [release|debug]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${TRUNK_STAGING_DIR:-${1:-dist}}"
profile="${TRUNK_PROFILE:-${2:-release}}"
target_dir="${CARGO_TARGET_DIR:-target}/engine"
t0=$(date +%s)

flags=(--target wasm32-unknown-unknown --no-default-features --features engine,wgpu --lib
  --target-dir "$target_dir")
[ "$profile" = release ] && flags+=(--release)
cargo build "${flags[@]}"
built="$target_dir/wasm32-unknown-unknown/$([ "$profile" = release ] && echo release || echo debug)/fashionlab.wasm"

work="$target_dir/bindgen"
rm -rf "$work"; mkdir -p "$work"
wasm-bindgen --target web --no-typescript --out-dir "$work" --out-name engine "$built"
if [ "$profile" = release ]; then
  # As trunk runs wasm-opt on the page's module (index.html's data-wasm-opt and its parameters). It takes
  # minutes on the 2 cores, so its output is kept under the hash of its input and reused.
  opt_args=(-O3 --strip-debug --strip-producers)
  key=$( (echo "${opt_args[*]}"; cat "$work/engine_bg.wasm") | sha256sum | cut -c1-32)
  cache="$target_dir/wasm-opt/$key.wasm"
  if [ ! -f "$cache" ]; then
    mkdir -p "$target_dir/wasm-opt"
    find "$target_dir/wasm-opt" -name '*.wasm' -mtime +7 -delete
    wasm_opt="$(command -v wasm-opt || echo node_modules/.bin/wasm-opt)"
    "$wasm_opt" "${opt_args[@]}" -o "$cache.tmp" "$work/engine_bg.wasm"
    mv "$cache.tmp" "$cache"
  fi
  cp "$cache" "$work/engine_bg.wasm"
fi

hash=$(cat "$work/engine_bg.wasm" "$work/engine.js" | sha256sum | cut -c1-16)
glue="fashionlab-engine-$hash.js"
wasm="fashionlab-engine-${hash}_bg.wasm"
rm -f "$dir"/fashionlab-engine-*
cp "$work/engine.js" "$dir/$glue"
cp "$work/engine_bg.wasm" "$dir/$wasm"
# The page finds the engine's files here; nothing fetches them before the page asks.
sed -i -e '/<meta name="fashionlab-engine"/d' \
  -e "s|<head>|<head>\n  <meta name=\"fashionlab-engine\" content=\"$glue $wasm\">|" "$dir/index.html"
echo "engine: $wasm ($(stat -c %s "$dir/$wasm") bytes) and $glue in $dir ($(( $(date +%s) - t0 )) s)"
