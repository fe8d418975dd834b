#!/usr/bin/env bash
# Firecracker's getting-started sequence against `vessel --api-sock`, with curl --unix-socket only:
# logger, boot-source, drives/rootfs, machine-config, InstanceStart; then GET /vm/config, pause 5 s, resume, and
# SendCtrlAltDel-free shutdown (SIGTERM). Every PUT/PATCH must answer 204; the guest must reach its marker line.
#
# Usage: scripts/api-getting-started.sh
# Env: VESSEL (command to run vessel; default: dotnet on the Release build of src/Vessel.Cli),
#      VESSEL_GUEST_DIR (vmlinuz, initramfs.cpio.gz and, if present, rootfs.ext4 booted as the root drive;
#      default ~/.cache/vessel/guest), VESSEL_BACKEND (default auto), TIMEOUT (seconds to the marker, default 180).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
guest=${VESSEL_GUEST_DIR:-$HOME/.cache/vessel/guest}
vessel=${VESSEL:-dotnet $repo/src/Vessel.Cli/bin/Release/net10.0/vessel.dll}
timeout=${TIMEOUT:-180}
work=$(mktemp -d /tmp/vessel-api-XXXXXX)
sock=$work/api.sock
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
say() { printf 'api-getting-started: %s\n' "$*" >&2; }

for f in vmlinuz initramfs.cpio.gz; do [[ -f $guest/$f ]] || { say "$guest/$f missing (scripts/build-guest.sh)"; exit 1; }; done
if [[ -f $guest/rootfs.ext4 ]]; then
  cp "$guest/rootfs.ext4" "$work/rootfs.ext4"; root=true; marker=VESSEL-ROOT-READY
else
  truncate -s 16M "$work/rootfs.ext4"; root=false; marker=VESSEL-GUEST-READY
fi

$vessel --api-sock "$sock" --backend "${VESSEL_BACKEND:-auto}" </dev/null >"$work/console" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
[[ -S $sock ]] || { say "no socket"; cat "$work/stderr" >&2; exit 1; }

api() { # method path [json] -> prints the status; the body goes to $work/body
  local args=(-s -o "$work/body" -w '%{http_code}' --unix-socket "$sock" -X "$1" "http://localhost$2")
  [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' -d "$3")
  curl "${args[@]}"
}
expect() { # status method path [json]
  local want=$1; shift
  local got; got=$(api "$@")
  [[ $got == "$want" ]] || { say "$1 $2: HTTP $got, expected $want: $(cat "$work/body")"; exit 1; }
  say "$1 $2: $got"
}

# The sequence's bodies are shared with the nested lane (scripts/kvm-nested-lane.sh): one request a line,
# "METHOD PATH JSON", with @NAME@ placeholders for this run's paths.
while read -r method path body; do
  body=${body//@LOG@/$work/vessel.log}; body=${body//@KERNEL@/$guest/vmlinuz}; body=${body//@INITRD@/$guest/initramfs.cpio.gz}
  body=${body//@ROOTFS@/$work/rootfs.ext4}; body=${body//@IS_ROOT@/$root}
  expect 204 "$method" "$path" "$body"
done <"$repo/scripts/api-getting-started.requests"

start=$(date +%s)
until grep -q "$marker" "$work/console"; do
  (( $(date +%s) - start < timeout )) || { say "no $marker in ${timeout}s"; tail -n 20 "$work/console" >&2; exit 1; }
  kill -0 "$pid" 2>/dev/null || { say "vessel ended"; cat "$work/stderr" >&2; exit 1; }
  sleep 1
done
say "$marker after $(( $(date +%s) - start ))s"
expect 200 GET /vm/config
cat "$work/body"; echo
expect 400 PUT /boot-source "{\"kernel_image_path\": \"$guest/vmlinuz\"}"
expect 204 PATCH /vm '{"state": "Paused"}'
expect 200 GET /
grep -q '"state":"Paused"' "$work/body" || { say "GET / does not say Paused: $(cat "$work/body")"; exit 1; }
sleep 5
expect 204 PATCH /vm '{"state": "Resumed"}'
kill -TERM "$pid"; wait "$pid" || true; pid=
say "ok; log: $(wc -l <"$work/vessel.log") lines"
