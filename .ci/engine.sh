#!/usr/bin/env bash
# Trunk post-build step, the first of the hook (Trunk.toml): the site's other wasm modules.
#
# trunk builds the page's own module (index.html's rust link: inference, the photo path, the charts'
# data; no autodiff, optimiser, WebGPU or classical fitting), which is all the first answer needs. This
# step builds the same crate twice more, for the page's workers, which load them after the first answer:
#  - the engine, `--features engine,wgpu`: training, Grad-CAM, scoring, classical fitting, WebGPU; one
#    thread on the CPU;
#  - the threaded engine, `--features threads` (CPU only: wgpu's browser backend does not build with
#    atomics): the same work on rayon's pool of Web Workers sharing the module's memory. It needs the
#    standard library rebuilt with atomics, so a nightly toolchain with rust-src and the wasm32 target
#    (.ci/setup adds both where nightly is installed). Without nightly it is skipped, with a message, and
#    the page trains on one thread.
# Each is named in index.html (<meta name="fashionlab-engine"> and <meta name="fashionlab-threads">) for
# www/lib/engine.js to find.
#
# Each builds in its own target directory: two feature sets of one crate in one directory would overwrite
# each other's `fashionlab.wasm`, from which trunk takes the page's module.
# Run by trunk with TRUNK_STAGING_DIR and TRUNK_PROFILE set, or as: .ci/engine.sh DIR [release|debug];
# `.ci/engine.sh --clippy` runs clippy on the threaded engine instead, `--prebuild-threads` and
# `--prebuild-engine` build one module ahead (.ci/test).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${TRUNK_STAGING_DIR:-${1:-dist}}"
profile="${TRUNK_PROFILE:-${2:-release}}"

# module NAME TARGET_DIR CARGO_ARGS...: builds, binds (wasm-bindgen --target web), optimises and copies
# one module into $dir as fashionlab-NAME-HASH.js and fashionlab-NAME-HASH_bg.wasm (plus the glue's
# snippets/), and names them in index.html's <meta name="fashionlab-NAME">.
module() {
  local name=$1 target_dir=$2; shift 2
  local t0 lock; t0=$(date +%s)
  # One build of a module at a time: a prebuild (below) may still be binding or optimising it when
  # trunk's hook asks for it. The hook then waits, and finds the optimised file in the cache.
  mkdir -p "$target_dir"
  exec {lock}> "$target_dir/$name.lock"
  flock "$lock"
  local flags=(--target wasm32-unknown-unknown --lib --target-dir "$target_dir")
  [ "$profile" = release ] && flags+=(--release)
  cargo "$@" "${flags[@]}"
  local built="$target_dir/wasm32-unknown-unknown/$([ "$profile" = release ] && echo release || echo debug)/fashionlab.wasm"
  # When nothing calls a module's static constructors, wasm-ld wraps every export in a function that runs
  # them all first (named EXPORT.command_export), and every call from JavaScript pays for them again
  # (src/web/mod.rs, run_static_constructors). The name section, still in cargo's output, shows it.
  if grep -q -a '\.command_export' "$built"; then
    echo "$name: wasm-ld wrapped the exports to run the static constructors on every call:" \
      "$(grep -a -o '[A-Za-z0-9_]*\.command_export' "$built" | head -3 | tr '\n' ' ')" >&2
    return 1
  fi

  local work="$target_dir/bindgen"
  rm -rf "$work"; mkdir -p "$work"
  wasm-bindgen --target web --no-typescript --out-dir "$work" --out-name "$name" "$built"
  if [ "$profile" = release ]; then
    # As trunk runs wasm-opt on the page's module (index.html's data-wasm-opt and its parameters). It takes
    # minutes on the 2 cores, so its output is kept under the hash of its input and reused.
    local opt_args=(-O3 --strip-debug --strip-producers)
    local key; key=$( (echo "${opt_args[*]}"; cat "$work/${name}_bg.wasm") | sha256sum | cut -c1-32)
    local cache="$target_dir/wasm-opt/$key.wasm"
    if [ ! -f "$cache" ]; then
      mkdir -p "$target_dir/wasm-opt"
      find "$target_dir/wasm-opt" -name '*.wasm' -mtime +7 -delete
      local wasm_opt; wasm_opt="$(command -v wasm-opt || echo node_modules/.bin/wasm-opt)"
      # Written under a temporary name and renamed when complete: an interrupted run leaves no part.
      "$wasm_opt" "${opt_args[@]}" -o "$cache.$$.tmp" "$work/${name}_bg.wasm"
      mv "$cache.$$.tmp" "$cache"
    fi
    cp "$cache" "$work/${name}_bg.wasm"
  fi

  local hash; hash=$(cat "$work/${name}_bg.wasm" "$work/$name.js" | sha256sum | cut -c1-16)
  local glue="fashionlab-$name-$hash.js" wasm="fashionlab-$name-${hash}_bg.wasm"
  rm -f "$dir"/fashionlab-"$name"-*
  cp "$work/$name.js" "$dir/$glue"
  cp "$work/${name}_bg.wasm" "$dir/$wasm"
  # The glue imports its snippets (wasm-bindgen-rayon's worker helper) relative to itself.
  [ -d "$work/snippets" ] && mkdir -p "$dir/snippets" && cp -r "$work/snippets/." "$dir/snippets/"
  # The page finds the module's files here; nothing fetches them before the page asks.
  sed -i -e "/<meta name=\"fashionlab-$name\"/d" \
    -e "s|<head>|<head>\n  <meta name=\"fashionlab-$name\" content=\"$glue $wasm\">|" "$dir/index.html"
  echo "$name: $wasm ($(stat -c %s "$dir/$wasm") bytes) and $glue in $dir ($(( $(date +%s) - t0 )) s)"
  exec {lock}>&-
}

# The threaded engine's build: nightly, the standard library rebuilt with atomics, and link arguments that
# make the memory shared and imported (the glue creates it and hands it to every thread) and export what
# each thread needs to set up its own stack and thread-locals; without them initThreadPool fails with
# "#<Memory> could not be cloned". 4 GiB is wasm32's whole address space, as the single-threaded build
# may grow to; a shared memory must state its maximum.
nightly=yes
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || ! rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src' \
  || ! rustup +nightly target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  nightly=no
fi
link=(--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls
  --export=__tls_size --export=__tls_align --export=__tls_base)
threads_rustflags="--cfg=web_sys_unstable_apis -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 ${link[*]/#/-C link-arg=}"
threads_args=(-Z build-std=panic_abort,std --no-default-features --features threads)
threads_dir="${CARGO_TARGET_DIR:-target}/threads"
engine_args=(--no-default-features --features engine,wgpu)
engine_dir="${CARGO_TARGET_DIR:-target}/engine"

# `.ci/engine.sh --prebuild-threads` / `--prebuild-engine`: that module built, bound and optimised into
# the caches, and nothing else: .ci/test starts each where a core would otherwise idle, so that trunk's
# hook later finds it done (or waits for it to finish).
case "${1:-}" in
  --prebuild-threads | --prebuild-engine)
    dir=$(mktemp -d)
    printf '<head>\n</head>\n' > "$dir/index.html"
    if [ "$1" = --prebuild-engine ]; then
      module engine "$engine_dir" build "${engine_args[@]}"
    elif [ "$nightly" = no ]; then
      echo "threads: no nightly toolchain: nothing to prebuild"
    else
      RUSTFLAGS="$threads_rustflags" module threads "$threads_dir" +nightly build "${threads_args[@]}"
    fi
    rm -rf "$dir"
    exit 0
    ;;
esac

# `.ci/engine.sh --clippy`: clippy on the threaded engine only (.ci/test; the other builds have their own).
if [ "${1:-}" = --clippy ]; then
  if [ "$nightly" = no ]; then echo "threads: no nightly toolchain with rust-src and the wasm32 target: no clippy of the threaded engine"; exit 0; fi
  RUSTFLAGS="$threads_rustflags" cargo +nightly clippy "${threads_args[@]}" --target wasm32-unknown-unknown --lib \
    --release --target-dir "$threads_dir" -- -D warnings
  exit 0
fi

module engine "$engine_dir" build "${engine_args[@]}"

if [ "$nightly" = no ]; then
  rm -f "$dir"/fashionlab-threads-*
  sed -i '/<meta name="fashionlab-threads"/d' "$dir/index.html"
  echo "threads: no nightly toolchain with rust-src and the wasm32 target here: no threaded build (the page trains on one thread)"
  exit 0
fi
RUSTFLAGS="$threads_rustflags" module threads "$threads_dir" +nightly build "${threads_args[@]}"
