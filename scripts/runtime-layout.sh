#!/bin/sh
# Copies what the image runs from a built tree (after `npm run build`) to DEST: the package
# file (workspaces, "type": "module"), each program's dist/ (no declarations, no build info) and the `portcullis` wrapper.
# node_modules is not copied: the Dockerfile and scripts/build-images.sh each bring the
# production dependencies themselves. Used by both, so online and offline images are alike.
# usage: runtime-layout.sh SRC DEST
set -eu
src=$1 dest=$2
mkdir -p "$dest/cli"
cp "$src/package.json" "$dest/"
for ws in wire kit pki authserver configserver gateway cli; do
  [ -d "$src/$ws/dist" ] || { echo "runtime-layout: $src/$ws/dist missing (run npm run build)" >&2; exit 1; }
  mkdir -p "$dest/$ws"
  [ "$ws" = cli ] || cp "$src/$ws/package.json" "$dest/$ws/"
  # Only the output of a source that still exists: tsc -b leaves a deleted file's output behind.
  [ "$ws" = cli ] && srcdir=. || srcdir=src
  (cd "$src/$ws" && find dist -type f -name '*.js' | while read -r f; do
    rel=${f#dist/}
    [ -f "$srcdir/${rel%.js}.ts" ] || continue
    mkdir -p "$dest/$ws/${f%/*}" && cp "$f" "$dest/$ws/$f"
  done)
done
cp "$src/cli/portcullis" "$dest/cli/portcullis"
