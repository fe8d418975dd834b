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
# With MODE user: Vessel's --net user (passt, run as root in L1: it changes to nobody) against QEMU's -netdev user
# (libslirp), httpd on L1's loopback instead of the TAP; each guest takes its address and default route by DHCP
# (busybox udhcpc) and fetches through the gateway, which both map onto L1's loopback. passt copies its addresses
# from the interface with the default route, and L1 has none: an unattached TAP (vtapu) with one is its template.
# Neither passt (as nobody) nor slirp answers the guest's pings the same way, so a small file fetched first stands
# for the ping before the clock starts.
#   /netbench RUNS MIB [MODE]   MODE tap (default) or user; prints "NETBENCH-BLOB <md5>", then one "NETBENCH <vessel|qemu> <run> <seconds> <md5>"
#                          line per guest run, or "NETBENCH-FAILED <side> <run> ..."
runs="${1:-3}"
mib="${2:-64}"
mode="${3:-tap}"
mac=52:54:00:12:34:56
ip link set lo up
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=1M count="$mib" 2>/dev/null
echo small >/tmp/www/small
echo "NETBENCH-BLOB $(md5sum </tmp/www/blob)"
# The timed part, typed on the guest's shell once its address and route are set: the blob into the guest's RAM.
# A backslash splits the tag (the shell drops it), so the echoed line never matches.
timed="read t0 x </proc/uptime; wget -q -O /tmp/blob http://\$server:8080/blob; w=\$?; read t1 x </proc/uptime; echo NET\\RES \$w \$t0 \$t1 \$(md5sum </tmp/blob); reboot -f"
case "$mode" in
  tap)
    tunctl -t vtap0 >/dev/null && ip addr add 10.215.0.1/24 dev vtap0 && ip link set vtap0 up || { echo "NETBENCH-FAILED no TAP device"; exit 1; }
    httpd -f -p 10.215.0.1:8080 -h /tmp/www &
    bench_vessel="--net tap=vtap0,mac=$mac"
    bench_qemu="-netdev tap,id=n0,ifname=vtap0,script=no,downscript=no,vhost=off -device virtio-net-pci,netdev=n0,mac=$mac,romfile="
    bench_typed="server=10.215.0.1; ip addr add 10.215.0.2/24 dev eth0; ip link set eth0 up; n=0; until ping -c 1 -W 1 \$server >/dev/null || [ \$n -ge 20 ]; do n=\$((n+1)); done; $timed" ;;
  user)
    tunctl -t vtapu >/dev/null && ip addr add 10.216.0.1/24 dev vtapu && ip link set vtapu up \
      && ip route add default via 10.216.0.2 dev vtapu || { echo "NETBENCH-FAILED no template interface for passt"; exit 1; }
    httpd -f -p 127.0.0.1:8080 -h /tmp/www &
    bench_vessel="--net user,mac=$mac"
    bench_qemu="-netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=$mac,romfile="
    # udhcpc's script (the initramfs has none): on a lease, the address and the default route.
    bench_typed="printf '#!/bin/sh\\n[ \"\$1\" = bound ] || exit 0\\nip addr add \$ip/\$mask dev \$interface\\nip route add default via \$router\\n' >/s; chmod +x /s; ip link set eth0 up; udhcpc -i eth0 -s /s -q -n -t 10 >/dev/null 2>&1; server=\$(ip route | grep '^default' | cut -d' ' -f3); n=0; until wget -q -O /dev/null http://\$server:8080/small || [ \$n -ge 20 ]; do n=\$((n+1)); sleep 1; done; $timed" ;;
  *) echo "NETBENCH-FAILED unknown mode $mode"; exit 1 ;;
esac
httpd_pid=$!
. "$(dirname "$0")/kvm-bench-runner.sh"
bench_tag=NETBENCH

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
