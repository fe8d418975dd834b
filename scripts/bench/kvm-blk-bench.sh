#!/bin/sh
# virtio-blk on kvm, run inside the nested lane's L1 (scripts/kvm-nested-lane.sh with KVM_LANE_BLKBENCH=1):
# Vessel and qemu-system-x86_64 -accel kvm boot the same Debian kernel and initramfs with 256M and one vCPU, on
# the same raw image in L1's tmpfs (written in full first, so neither side reads holes). Vessel does buffered
# pread/pwrite on the image (fdatasync on flush), so QEMU gets the nearest mode: cache=writeback, aio=threads
# (cache=none is O_DIRECT, which tmpfs refuses). In each guest, once its marker is out, the console is told to
# dd MIB MiB of zeros to /dev/vda with oflag=direct, then read them back with iflag=direct, each timed by the
# guest's /proc/uptime. Sides alternate (the first side swaps each run); kvm-bench-runner.sh boots them and
# types the command once the guest's shell answers.
#   /blkbench RUNS MIB     prints one "BLKBENCH <vessel|qemu> <run> <write s> <read s> reads=N read-ms=N writes=N
#                          write-ms=N" line per guest run (the counts from the guest's /sys/block/vda/stat)
runs="${1:-3}"
mib="${2:-64}"
img=/tmp/blkbench.img
dd if=/dev/zero of="$img" bs=1M count=$((mib + 8)) 2>/dev/null
. "$(dirname "$0")/kvm-bench-runner.sh"
bench_tag=BLKBENCH
bench_vessel="--disk $img"
bench_qemu="-drive file=$img,if=none,id=d0,format=raw,cache=writeback,aio=threads -device virtio-blk-pci,drive=d0"
# Typed on the guest's shell; a backslash splits the tag (the shell drops it), so the echoed line never matches.
bench_typed="n=0; while [ ! -b /dev/vda ] && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n+1)); done; read t0 x </proc/uptime; dd if=/dev/zero of=/dev/vda bs=1M count=$mib oflag=direct 2>/dev/null; w=\$?; read t1 x </proc/uptime; dd if=/dev/vda of=/dev/null bs=1M count=$mib iflag=direct 2>/dev/null; r=\$?; read t2 x </proc/uptime; echo BLK\\RES \$w \$r \$t0 \$t1 \$t2 \$(cat /sys/block/vda/stat); reboot -f"

bench_line() { # side run line
  case "$3" in
    *BLKRES*)
      s="$1"; r="$2"
      set -- $(echo "${3#*BLKRES}" | tr -d '\r')
      if [ "$1" = 0 ] && [ "$2" = 0 ]; then
        # With the guest's /sys/block/vda/stat after both: requests and ms in flight, each way.
        echo "BLKBENCH $s $r $(awk "BEGIN { printf \"%.3f %.3f\", $4 - $3, $5 - $4 }") reads=$6 read-ms=$9 writes=${10} write-ms=${13}"
      else
        echo "BLKBENCH-FAILED $s $r dd status write=$1 read=$2"
      fi ;;
    *rror*|*arn*) echo "BLKBENCH-LOG $1: $3" ;;
  esac
}

bench_alternate "$runs"
