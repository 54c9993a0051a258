#!/usr/bin/env bash
# Builds the e2e test images without any registry: a busybox rootfs (from
# Debian's busybox-static) as one uncompressed layer, written to OUT as an
# archive that is both an OCI image layout (index.json, blobs/sha256/...),
# which `ctr images import` and `podman load` read, and a docker-archive
# (manifest.json), which `docker load` reads. Two images share the layer:
#   gorae-e2e/busybox:latest  Cmd ["sh"]
#   gorae-e2e/broken:latest   Entrypoint ["/no/such/program"] (create must fail)
set -euo pipefail
out=$(realpath -m "$1")
work=$(mktemp -d "${TMPDIR:-/tmp}/gorae-e2e-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,root,home/user,var,run,data}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
mkdir -p "$rootfs/usr"; ln -s ../bin "$rootfs/usr/bin"; ln -s ../bin "$rootfs/sbin"
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"

blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"
# Add a blob from stdin; prints its digest (hex).
blob() {
  local tmp=$work/blob.tmp hex
  cat > "$tmp"
  hex=$(sha256sum "$tmp" | cut -d' ' -f1)
  mv "$tmp" "$blobs/$hex"
  echo "$hex"
}
size() { stat -c %s "$blobs/$1"; }

layer=$(tar -C "$rootfs" --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime=@0 -cf - . | blob)

# image NAME EXTRA_CONFIG_JSON: writes config + manifest, prints "name manifest config".
image() {
  local name=$1 extra=$2 config manifest
  config=$(printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"gorae make-image.sh"}]}' \
    "$extra" "$layer" | blob)
  manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$(size "$config")" "$layer" "$(size "$layer")" | blob)
  echo "$name $manifest $config"
}

images=("$(image gorae-e2e/busybox:latest '"Cmd":["sh"]')"
        "$(image gorae-e2e/broken:latest '"Entrypoint":["/no/such/program"]')")

index="" docker=""
for entry in "${images[@]}"; do
  read -r name manifest config <<<"$entry"
  index+="${index:+,}$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"docker.io/%s","org.opencontainers.image.ref.name":"%s"}}' \
    "$manifest" "$(size "$manifest")" "$name" "${name##*:}")"
  docker+="${docker:+,}$(printf '{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":["blobs/sha256/%s"]}' \
    "$config" "$name" "$layer")"
done
printf '{"schemaVersion":2,"manifests":[%s]}' "$index" > "$work/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
printf '[%s]' "$docker" > "$work/layout/manifest.json"
tar -C "$work/layout" --sort=name --owner=0 --group=0 --numeric-owner -cf "$out" .
