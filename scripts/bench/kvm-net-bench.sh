#!/bin/sh
# virtio-net over TAP on kvm, run inside the nested lane's L1 (scripts/kvm-nested-lane.sh with KVM_LANE_NETBENCH=1):
# Vessel (--net tap=vtap0) and qemu-system-x86_64 -accel kvm (-netdev tap,vhost=off and virtio-net-pci with no
# option ROM: L1 carries no iPXE, and the guest boots from -kernel) boot the
# same Debian kernel and initramfs with 256M and one vCPU, attached in turn to the same persistent TAP device at
# 10.215.0.1 in L1 (which has no NIC), where busybox httpd serves a random MIB MiB blob from L1's tmpfs. In each
# guest, once its marker is out, the console is told to take 10.215.0.2, ping L1 until it answers (the link is up
# and ARP resolved before the clock starts), then wget the blob into the guest's RAM, timed by the guest's
# /proc/uptime; the md5 is taken after the clock stops. Sides alternate (the first side swaps each run).
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
append="console=ttyS0 nokaslr acpi=off"
# Typed on the guest's shell; a backslash splits the tag (the shell drops it), so the echoed line never matches.
typed="ip addr add 10.215.0.2/24 dev eth0; ip link set eth0 up; n=0; until ping -c 1 -W 1 10.215.0.1 >/dev/null || [ \$n -ge 20 ]; do n=\$((n+1)); done; read t0 x </proc/uptime; wget -q -O /tmp/blob http://10.215.0.1:8080/blob; w=\$?; read t1 x </proc/uptime; echo NET\\RES \$w \$t0 \$t1 \$(md5sum </tmp/blob); reboot -f"

one() { # side run
  rm -f /tmp/bench-in
  mkfifo /tmp/bench-in
  exec 4<>/tmp/bench-in
  if [ "$1" = vessel ]; then
    set -- "$1" "$2" /vessel run --backend kvm --kernel /l2/vmlinuz --initrd /l2/initramfs.cpio.gz --memory 256M \
      --append "$append" --net "tap=vtap0,mac=$mac"
  else
    set -- "$1" "$2" /qemu-system-x86_64 -L /usr/share/qemu -accel kvm -cpu host -m 256 -smp 1 -nodefaults -no-reboot \
      -display none -serial stdio -kernel /l2/vmlinuz -initrd /l2/initramfs.cpio.gz -append "$append" \
      -netdev tap,id=n0,ifname=vtap0,script=no,downscript=no,vhost=off -device "virtio-net-pci,netdev=n0,mac=$mac,romfile="
  fi
  side="$1"; run="$2"; shift 2
  ( timeout 600 "$@" </tmp/bench-in 2>&1; echo "NETBENCH-EXIT=$?" ) | while IFS= read -r line; do
    case "$line" in
      *VESSEL-GUEST-READY*) ( sleep 2; echo "$typed" >&4 ) & ;;
      *rror*|*arn*|*qemu-system*|vessel:*) echo "NETBENCH-LOG $side: $line" ;;
      *NETRES*)
        set -- $(echo "${line#*NETRES}" | tr -d '\r')
        if [ "$1" = 0 ]; then
          echo "NETBENCH $side $run $(awk "BEGIN { printf \"%.3f\", $3 - $2 }") $4"
        else
          echo "NETBENCH-FAILED $side $run wget status $1"
        fi ;;
      NETBENCH-EXIT=0) ;;
      NETBENCH-EXIT=*) echo "NETBENCH-FAILED $side $run ${line#NETBENCH-}" ;;
      *) [ -n "$NETBENCH_CONSOLE" ] && echo "NETBENCH-CONSOLE $side: $line" ;;
    esac
  done
  exec 4>&-
}

i=1
while [ "$i" -le "$runs" ]; do
  if [ $((i % 2)) = 1 ]; then one vessel "$i"; one qemu "$i"; else one qemu "$i"; one vessel "$i"; fi
  i=$((i + 1))
done
kill "$httpd_pid"
