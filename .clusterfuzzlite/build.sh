#!/bin/bash -eu
# Build the cargo-fuzz targets and hand them to ClusterFuzzLite with their seed corpora,
# dictionaries and options (run inside the image of .clusterfuzzlite/Dockerfile).
cd "$SRC/edgecheck"
cargo fuzz build -O
out_dir=fuzz/target/x86_64-unknown-linux-gnu/release
for target in server_request suite_response differential tassis_frame tassis_differential; do
  cp "$out_dir/$target" "$OUT/"
  (cd "fixtures/corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  if [ -f "fuzz/$target.dict" ]; then
    cp "fuzz/$target.dict" "$OUT/$target.dict"
  fi
  cp "fuzz/$target.options" "$OUT/$target.options"
done
