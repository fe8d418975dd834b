#!/bin/sh
# virtio-net over TAP on kvm, run inside the nested lane's L1 (scripts/kvm-nested-lane.sh with KVM_LANE_NETBENCH=1):
# Vessel (--net tap=vtap0) and qemu-system-x86_64 -accel kvm (-netdev tap,vhost=off and virtio-net-pci with no
# option ROM: L1 carries no iPXE, and the guest boots from -kernel) boot the
# same Debian kernel and initramfs with 256M and one vCPU, attached in turn to the same persistent TAP device at
# 10.215.0.1 in L1 (which has no NIC), where busybox httpd serves a random MIB MiB blob from L1's tmpfs. In each
# guest, once its marker is out, the console is told to take 10.215.0.2, ping L1 until it answers (the link is up
# and ARP resolved before the clock starts), then wget the blob into the guest's RAM, timed by the guest's
# /proc/uptime; the md5 is taken after the clock stops. Sides alternate (the first side swaps each run);
# kvm-bench-runner.sh boots them and types the command once the guest's shell answers.
#   /netbench RUNS MIB     prints "NETBENCH-BLOB <md5>", then one "NETBENCH <vessel|qemu> <run> <seconds> <md5>"
#                          line per guest run, or "NETBENCH-FAILED <side> <run> ..."
runs="${1:-3}"
mib="${2:-64}"
mac=52:54:00:12:34:56
ip link set lo up
tunctl -t vtap0 >/dev/null && ip addr add 10.215.0.1/24 dev vtap0 && ip link set vtap0 up || { echo "NETBENCH-FAILED no TAP device"; exit 1; }
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=1M count="$mib" 2>/dev/null
echo "NETBENCH-BLOB $(md5sum </tmp/www/blob)"
httpd -f -p 10.215.0.1:8080 -h /tmp/www &
httpd_pid=$!
. "$(dirname "$0")/kvm-bench-runner.sh"
bench_tag=NETBENCH
bench_vessel="--net tap=vtap0,mac=$mac"
bench_qemu="-netdev tap,id=n0,ifname=vtap0,script=no,downscript=no,vhost=off -device virtio-net-pci,netdev=n0,mac=$mac,romfile="
# Typed on the guest's shell; a backslash splits the tag (the shell drops it), so the echoed line never matches.
bench_typed="ip addr add 10.215.0.2/24 dev eth0; ip link set eth0 up; n=0; until ping -c 1 -W 1 10.215.0.1 >/dev/null || [ \$n -ge 20 ]; do n=\$((n+1)); done; read t0 x </proc/uptime; wget -q -O /tmp/blob http://10.215.0.1:8080/blob; w=\$?; read t1 x </proc/uptime; echo NET\\RES \$w \$t0 \$t1 \$(md5sum </tmp/blob); reboot -f"

bench_line() { # side run line
  case "$3" in
    *rror*|*arn*|*qemu-system*|vessel:*) echo "NETBENCH-LOG $1: $3" ;;
    *NETRES*)
      s="$1"; r="$2"
      set -- $(echo "${3#*NETRES}" | tr -d '\r')
      if [ "$1" = 0 ]; then
        echo "NETBENCH $s $r $(awk "BEGIN { printf \"%.3f\", $3 - $2 }") $4"
      else
        echo "NETBENCH-FAILED $s $r wget status $1"
      fi ;;
    *) [ -z "$NETBENCH_CONSOLE" ] || echo "NETBENCH-CONSOLE $1: $3" ;;
  esac
}

bench_alternate "$runs"
kill "$httpd_pid"
