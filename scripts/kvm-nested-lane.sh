#!/usr/bin/env bash
# The nested-KVM lane: runs `vessel run --backend kvm` for real on a machine without (hardware) /dev/kvm.
# QEMU under software emulation (TCG) with AMD SVM exposed boots Debian's kernel (L1); its initramfs inserts
# irqbypass, ccp, kvm and kvm-amd from the same kernel package, so /dev/kvm appears inside, and carries
# Vessel published as a NativeAOT binary with the glibc libraries it links. Inside, Vessel runs (L2):
#   - a boot sector that prints a line with REP OUTSB (a string I/O exit with a count), then isa-debug-exit 3;
#   - every image in $KVM_LANE_GUESTS (the tests' tiny guests), each reported as one line
#     "LANE-GUEST <name> exit=<status> out=<base64 of stdout> err=<base64 of stderr>";
#   - tests/Vessel.Kvm.LifecycleProbe (NativeAOT too): the foundation's lifecycle/leak check on this KVM, its
#     "lifecycle: ..." lines echoed, then one "LANE-REFUSED ..." line for a RAM size KVM refuses;
#   - the default Debian guest (scripts/build-guest.sh) with 256M, two virtio disks and virtio-rng: vda is a copy
#     of build-guest.sh's rootfs.ext4 (made with mkfs.ext4 -d) into which this script wrote host-file.txt with
#     debugfs, booted with root=/dev/vda (the initramfs switches root to it); vdb is a raw 8 MiB image in L1's
#     tmpfs. Up to the root's marker line, then typed on its console: `uname -a`; host-file.txt printed
#     ("L2HOST-FILE"); l2-file.txt written on the root and `sync`ed ("L2SYNC="); a 4 MiB random pattern written to
#     /dev/vdb with dd oflag=direct, synced, read back with iflag=direct (both md5s printed,
#     "L2DISK-WROTE/-READ"); 16 bytes from /dev/hwrng ("L2RNG-BYTES="); the virtio lines of /proc/interrupts
#     (MSI-X vectors, which on kvm are GSIs with irqfds); then on its virtio-net (`--net tap=vtap0`, a TAP device
#     busybox tunctl made in L1 at 10.215.0.1; L1's QEMU has no NIC, so nothing leaves L1) eth0's MAC, three pings
#     to L1 and an 8 MiB random blob fetched with wget from busybox httpd in L1 ("L2NET-..."), then on its second
#     virtio-net (`--net user,hostfwd=tcp:127.0.0.1:8082-:8080`: passt, carried into L1 with its libraries and an
#     /etc/passwd naming nobody, whom passt changes to when started as root; an unattached TAP, vtapu, with L1's
#     default route is the interface passt copies its addresses from) eth1's MAC, a DHCP lease from passt (busybox
#     udhcpc), a 4 MiB random blob from busybox httpd on L1's loopback fetched through the gateway address, and
#     busybox httpd in the guest serving a token and a 4 MiB random blob that L1 fetches through the hostfwd port
#     ("L2USER-...", "LANE-USER-..."; after vessel exits, "LANE-USER-PASST-LEFT=" counts passt processes left in
#     L1, which must be 0), and over its virtio-vsock (`--vsock cid=42,uds=/tmp/v.sock`) 4 MiB each way on the
#     guest's connection to L1's listener at PATH_5000 and on L1's CONNECT 6000 through PATH to a guest listener
#     (scripts/guest/vsock.c in the guest, scripts/guest/uds.c in L1; "L2VSOCK-...", "LANE-VSOCK-..."); `reboot -f`.
#     Its console lines are echoed prefixed "L2| "; after vessel exits, L1 prints the md5 of vdb's first 4 MiB
#     ("LANE-DISK-IMAGE"), runs e2fsck -fy on the root image (it replays the journal; "LANE-ROOT-FSCK=") and prints
#     l2-file.txt as debugfs reads it from the image ("LANE-ROOT-FILE");
#   - `vessel --api-sock` and Firecracker's getting-started requests as scripts/api-getting-started.sh sends them
#     (scripts/api-getting-started.requests: logger, boot-source, drives/rootfs, machine-config, InstanceStart; sent
#     by scripts/guest/uds.c), booting the Debian guest from the first boot's root image on kvm; at its marker the
#     guest ticks every half second while L1 sends GET /vm/config, PATCH /vm Paused, GET /, counts the ticks of 4 s
#     (none may arrive), PATCH /vm Resumed (ticks again), then types `reboot -f` ("LANE-API...", "API| ");
#   - scripts/bench/kvm-exit-bench.c: the port-I/O exit round trip, Vessel against raw ioctls (figures only);
#   - with KVM_LANE_BLKBENCH=1, nothing of the above but scripts/bench/kvm-blk-bench.sh: sequential dd through
#     virtio-blk, Vessel against qemu-system-x86_64 -accel kvm (carried into L1 with its libraries and firmware)
#     on the same image, alternating, KVM_LANE_BLKBENCH_RUNS runs (default 3) of KVM_LANE_BLKBENCH_MIB MiB
#     (default 64); prints the runs and the medians (figures only);
#   - with KVM_LANE_NETBENCH=1 (alone or with KVM_LANE_BLKBENCH=1), nothing of the above but
#     scripts/bench/kvm-net-bench.sh: a guest-timed HTTP download of KVM_LANE_NETBENCH_MIB MiB (default 64) over a
#     TAP device in L1, Vessel against qemu-system-x86_64 -accel kvm (-netdev tap,vhost=off, virtio-net-pci),
#     alternating, KVM_LANE_NETBENCH_RUNS runs (default 3); prints the runs, the medians and the ratio (figures only;
#     KVM_LANE_NETBENCH_CONSOLE=1 echoes the guests' consoles); KVM_LANE_NETBENCH_MODE=user downloads through user
#     mode instead of the TAP, Vessel's --net user (passt) against QEMU's -netdev user (libslirp), from L1's loopback;
#   - with KVM_LANE_PAGES=1, the same round trip counted instead of timed: valgrind lackey traces the raw peer and
#     vessel, scripts/bench/exit-pages.c counts the instructions and pages of user space per exit (figures only;
#     adds a few minutes).
#
#   scripts/kvm-nested-lane.sh            exit 0 when the REP OUTSB guest, the lifecycle check and the Debian guests passed
#
# Prints the lane's result lines (LANE..., L2| ..., exit-bench: ...) on stdout, progress on stderr.
# Env: VESSEL_GUEST_DIR (build-guest.sh cache dir), KVM_LANE_VESSEL and KVM_LANE_LIFECYCLE (already published
# binaries), KVM_LANE_LIFECYCLE_MACHINES (machines the lifecycle check runs, default 30),
# KVM_LANE_GUESTS (a directory of extra guest images), KVM_LANE_TIMEOUT (seconds QEMU may run, default 540),
# KVM_LANE_SLOW (a whole factor for the deadlines inside L1, default 1: on a host loaded far beyond its cores the
# Debian guest took more than 240 s to reach its shell; KVM_LANE_TIMEOUT's default grows with it),
# KVM_LANE_PAGES=1 adds the counted round trip, KVM_LANE_KEEP=1 keeps the work directory.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
blkbench="${KVM_LANE_BLKBENCH:-0}"
netbench="${KVM_LANE_NETBENCH:-0}"
slow="${KVM_LANE_SLOW:-1}"
case "$slow" in ''|*[!0-9]*|0) say "KVM_LANE_SLOW must be a whole number from 1"; exit 2 ;; esac
if [ "$blkbench" = 1 ] || [ "$netbench" = 1 ]; then timeout_s="${KVM_LANE_TIMEOUT:-2400}"; else timeout_s="${KVM_LANE_TIMEOUT:-$((540 * slow))}"; fi
lifecycle_machines="${KVM_LANE_LIFECYCLE_MACHINES:-30}"
net_mib=8   # the blob L2 downloads over TAP
user_mib=4  # the blob L2 downloads through passt (--net user), and the one L1 fetches from L2 through hostfwd
vsock_mib=4 # each way, in each of the two vsock connections
say() { echo "kvm-lane: $*" >&2; }
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

for tool in qemu-system-x86_64 clang gcc cpio gzip dpkg-deb passt; do
  command -v "$tool" >/dev/null || { say "missing $tool (Debian: qemu-system-x86 clang zlib1g-dev gcc libc6-dev cpio passt)"; exit 2; }
done

work="$(mktemp -d)"
qemu_pid=""
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  if [ "${KVM_LANE_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

say "[1/6] guest kernel (scripts/build-guest.sh)"
guest="$("$repo/scripts/build-guest.sh" ${VESSEL_GUEST_DIR:+"$VESSEL_GUEST_DIR"} | tail -n 1)"
# debugfs and e2fsck (e2fsprogs, which build-guest.sh installs for mkfs.ext4) put a file on L2's root disk and
# read back what L2 wrote.
export PATH="$PATH:/sbin:/usr/sbin"
for tool in debugfs e2fsck; do command -v "$tool" >/dev/null || { say "missing $tool (Debian: e2fsprogs)"; exit 2; }; done

say "[2/6] kvm modules and busybox from Debian's packages"
kernel_pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
release="${kernel_pkg#linux-image-}"
# A mirror's hiccup is retried (CI must not fail by chance); a third failure ends the lane.
(cd "$work" && for try in 1 2 3; do apt-get download -qq "$kernel_pkg" busybox-static >/dev/null && break; [ "$try" -lt 3 ] || exit 1; sleep $((try * 20)); done)
dpkg-deb -x "$work/${kernel_pkg}"_*.deb "$work/kernel"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
moddir="$work/kernel/lib/modules/$release"
root="$work/root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,lib/modules}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"; done
# Dependency order (the package has no modules.dep; each module's "depends" field says it):
# kvm-amd needs kvm and ccp, kvm needs irqbypass; tun (L2's TAP device) needs nothing.
order=""
for m in virt/lib/irqbypass.ko drivers/crypto/ccp/ccp.ko arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-amd.ko drivers/net/tun.ko; do
  src="$moddir/kernel/$m"
  if [ -f "$src" ]; then cp "$src" "$root/lib/modules/"
  elif [ -f "$src.xz" ]; then xz -dc "$src.xz" > "$root/lib/modules/$(basename "$m")"
  else say "$m is not in $kernel_pkg"; exit 1; fi
  order="$order $(basename "$m")"
  say "  $(basename "$m") depends on: $("$root/bin/busybox" modinfo -F depends "$root/lib/modules/$(basename "$m")" 2>/dev/null || echo "?")"
done

say "[3/6] vessel and vessel-kvm-lifecycle as NativeAOT binaries"
publish() { # project, binary name, prebuilt binary or ""
  if [ -n "$3" ]; then cp "$3" "$root/$2"; return; fi
  dotnet publish "$repo/$1" -c Release -r linux-x64 -p:PublishAot=true -p:InvariantGlobalization=true \
    -o "$work/publish-$2" >"$work/publish-$2.log" 2>&1 || { tail -n 30 "$work/publish-$2.log" >&2; say "publish of $1 failed"; exit 1; }
  cp "$work/publish-$2/$2" "$root/$2"
}
publish src/Vessel.Cli vessel "${KVM_LANE_VESSEL:-}"
publish tests/Vessel.Kvm.LifecycleProbe vessel-kvm-lifecycle "${KVM_LANE_LIFECYCLE:-}"
# The libraries they link, at the paths the dynamic loader looks for them.
for lib in $(for bin in vessel vessel-kvm-lifecycle; do ldd "$root/$bin"; done | grep -oE '/[^ ]+' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || { mkdir -p "$root/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"; }
# passt for `--net user` (vessel finds it in PATH), with its libraries; passt.avx2 is what passt execs on a CPU with
# AVX2 (L1's qemu64 has none, but a -cpu change must not lose it). Started as root, passt changes to nobody, whom
# it looks up in /etc/passwd.
passt_bin="$(command -v passt)"
for f in "$passt_bin" "$passt_bin.avx2"; do if [ -e "$f" ]; then cp "$f" "$root/bin/"; fi; done
for lib in $(ldd "$passt_bin" | grep -oE '/[^ ]+'); do mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; done
mkdir -p "$root/etc"
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

say "[4/6] the L2 guests and the exit benchmark"
mkdir -p "$root/guests" "$root/l2"
# The boot sector: REP OUTSB of "vessel-kvm-ok\n" to COM1 (a string I/O exit with a count), then status 3.
printf '\xbe\x15\x7c\xb9\x0e\x00\xba\xf8\x03\xfc\xf3\x6e\xba\xf4\x00\xb0\x01\xee\xf4\xeb\xfdvessel-kvm-ok\n' > "$root/guests/rep-outsb.bin"
truncate -s 510 "$root/guests/rep-outsb.bin"
printf '\x55\xaa' >> "$root/guests/rep-outsb.bin"
if [ -n "${KVM_LANE_GUESTS:-}" ]; then cp "$KVM_LANE_GUESTS"/* "$root/guests/"; fi
cp "$guest/vmlinuz" "$guest/initramfs.cpio.gz" "$root/l2/"
# L2's root disk: the rootfs with a file from this host (fresh tokens each run, so nothing stale can match), and
# e2fsck and debugfs (with their libraries) for L1 to check the image and read back what L2 wrote.
host_token="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
l2_token="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
hvc_token="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
fwd_token="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
cp "$guest/rootfs.ext4" "$root/l2/root.img"
echo "host-put-$host_token" > "$work/host-file.txt"
debugfs -w -R "write $work/host-file.txt host-file.txt" "$root/l2/root.img" >/dev/null 2>&1
[ "$(debugfs -R 'cat /host-file.txt' "$root/l2/root.img" 2>/dev/null)" = "host-put-$host_token" ] || { say "debugfs could not write host-file.txt"; exit 1; }
# udhcpc's script for L2's user-mode NIC: on a lease, the address and the default route through passt.
cat > "$work/udhcpc.script" <<'DHCP'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/$mask" dev "$interface"
ip route add default via "$router" dev "$interface"
DHCP
debugfs -w -R "write $work/udhcpc.script udhcpc.script" "$root/l2/root.img" >/dev/null 2>&1
debugfs -w -R "sif /udhcpc.script mode 0100755" "$root/l2/root.img" >/dev/null 2>&1
debugfs -R 'stat /udhcpc.script' "$root/l2/root.img" 2>/dev/null | grep -q 'Mode:  0755' || { say "debugfs could not write udhcpc.script"; exit 1; }
for tool in debugfs e2fsck; do
  cp "$(command -v "$tool")" "$root/$tool"
  for lib in $(ldd "$root/$tool" | grep -oE '/[^ ]+'); do mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; done
done
gcc -static -O2 -o "$root/kvm-exit-bench" "$repo/scripts/bench/kvm-exit-bench.c"
# L1's Unix-socket client (busybox has no curl and its nc no AF_UNIX): the API's requests and vsock's host side.
gcc -static -O2 -o "$root/uds" "$repo/scripts/guest/uds.c"
# Firecracker's getting-started requests, the same as scripts/api-getting-started.sh sends, with L1's paths.
sed -e 's|@LOG@|/tmp/api-vessel.log|; s|@KERNEL@|/l2/vmlinuz|; s|@INITRD@|/l2/initramfs.cpio.gz|' \
  -e 's|@ROOTFS@|/l2/root.img|; s|@IS_ROOT@|true|' "$repo/scripts/api-getting-started.requests" > "$root/api-requests"
echo '{"state": "Paused"}' > "$root/api-paused"
echo '{"state": "Resumed"}' > "$root/api-resumed"
pages_step=""
if [ "${KVM_LANE_PAGES:-0}" = 1 ]; then
  command -v valgrind >/dev/null && command -v objdump >/dev/null || { say "KVM_LANE_PAGES needs valgrind and binutils"; exit 2; }
  gcc -static -O2 -o "$root/exit-pages" "$repo/scripts/bench/exit-pages.c"
  mkdir -p "$root/usr/libexec/valgrind"
  cp "$(command -v valgrind).bin" "$root/valgrind" 2>/dev/null || cp "$(command -v valgrind)" "$root/valgrind"
  cp /usr/libexec/valgrind/{lackey-amd64-linux,vgpreload_core-amd64-linux.so,default.supp} "$root/usr/libexec/valgrind/"
  for lib in $(ldd "$root/valgrind" | grep -oE '/[^ ]+'); do mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; done
  # The address of the syscall instruction in each side's ioctl: the raw peer is static, vessel uses libc's.
  syscall_in_ioctl() { objdump -d --no-show-raw-insn "$1" | awk '/^[0-9a-f]+ <(__)?ioctl(@@GLIBC_2\.2\.5)?>:/ {f=1; next}
    f && /^$/ {f=0} f && /\tsyscall/ && !found {sub(":", "", $1); print $1; found=1}'; }
  raw_mark="$(syscall_in_ioctl "$root/kvm-exit-bench")"
  libc_mark="$(syscall_in_ioctl "$(ldd "$root/vessel" | grep -oE '/[^ ]*libc\.so\.6')")"
  [ -n "$raw_mark" ] && [ -n "$libc_mark" ] || { say "cannot find the syscall in ioctl (raw '$raw_mark', libc '$libc_mark')"; exit 1; }
  # A boot sector: 1000 x `out 0x80, al`, then isa-debug-exit.
  printf '\xb9\xe8\x03\xe6\x80\xe2\xfc\xb0\x00\xe6\xf4\xf4\xeb\xfd' > "$root/guests-pages.bin"
  truncate -s 510 "$root/guests-pages.bin"
  printf '\x55\xaa' >> "$root/guests-pages.bin"
  # The raw peer's vessel side is /bin/false: it fails after the traced raw run, which is all that is wanted.
  pages_step="echo 'exit-pages: the raw-ioctl peer (C)'
/valgrind --tool=lackey --trace-mem=yes --log-fd=9 /kvm-exit-bench /bin/false 1 1000 1 9>&1 >/dev/null 2>/dev/null | /exit-pages $raw_mark
echo 'exit-pages: vessel'
/valgrind --tool=lackey --trace-mem=yes --log-fd=9 /vessel run --backend kvm --kernel /guests-pages.bin --memory 16M 9>&1 >/dev/null 2>/dev/null </dev/null | /exit-pages $libc_mark"
fi

bench_step=""
l1_memory=1024
carry_qemu() { # the benchmarks' peer, with its libraries and firmware
  [ -e "$root/qemu-system-x86_64" ] && return
  qemu="$(command -v qemu-system-x86_64)"
  cp "$qemu" "$root/qemu-system-x86_64"
  for lib in $(ldd "$qemu" | grep -oE '/[^ ]+'); do mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; done
  mkdir -p "$root/usr/share/qemu"
  for f in bios-256k.bin linuxboot_dma.bin kvmvapic.bin; do # Debian keeps SeaBIOS in /usr/share/seabios
    found=""; for d in /usr/share/qemu /usr/share/seabios; do [ -e "$d/$f" ] && { found="$d/$f"; break; }; done
    [ -n "$found" ] || { say "cannot find QEMU's $f"; exit 2; }
    cp -L "$found" "$root/usr/share/qemu/"
  done
}
# Both benchmarks source the runner they share from the directory they run in.
[ "$blkbench" != 1 ] && [ "$netbench" != 1 ] || cp "$repo/scripts/bench/kvm-bench-runner.sh" "$root/kvm-bench-runner.sh"
if [ "$blkbench" = 1 ]; then
  carry_qemu
  cp "$repo/scripts/bench/kvm-blk-bench.sh" "$root/blkbench"
  bench_step="/blkbench ${KVM_LANE_BLKBENCH_RUNS:-3} ${KVM_LANE_BLKBENCH_MIB:-64};"
  l1_memory=1536
fi
if [ "$netbench" = 1 ]; then
  carry_qemu
  cp "$repo/scripts/bench/kvm-net-bench.sh" "$root/netbench"
  bench_step="$bench_step NETBENCH_CONSOLE=${KVM_LANE_NETBENCH_CONSOLE:-} /netbench ${KVM_LANE_NETBENCH_RUNS:-3} ${KVM_LANE_NETBENCH_MIB:-64} ${KVM_LANE_NETBENCH_MODE:-tap};"
  l1_memory=1536
fi
[ -z "$bench_step" ] || bench_step="$bench_step reboot -f"

cat > "$root/init" <<INIT
#!/bin/sh
# passt (--net user) sandboxes itself with pivot_root, which the kernel refuses on the initramfs's rootfs ("pivot_root:
# Invalid argument"; a chroot does not do either: no user namespace may be made inside one), so L1 first moves to a
# tmpfs: the files copied, then busybox switch_root (it frees the rootfs's copies and runs this again).
if [ -z "\$LANE_SWITCHED" ]; then
  mkdir -p /newroot && mount -t tmpfs -o size=90% root /newroot
  cd / && for f in *; do [ "\$f" = newroot ] || cp -a "\$f" /newroot/; done
  LANE_SWITCHED=1 exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in$order; do insmod /lib/modules/\$m || echo "LANE: insmod \$m failed"; done
if [ -e /dev/kvm ]; then echo "LANE: /dev/kvm present"; else echo "LANE: /dev/kvm missing"; fi
$bench_step
uptime_s() { cut -d' ' -f1 /proc/uptime; }

/vessel run --backend kvm --kernel /guests/rep-outsb.bin --memory 16M --serial stdio --log-level info </dev/null
echo "LANE-VESSEL-EXIT=\$?"

for g in /guests/*; do
  timeout $((60 * slow)) /vessel run --backend kvm --kernel "\$g" --memory 16M </dev/null >/tmp/out 2>/tmp/err
  code=\$?
  echo "LANE-GUEST \$(basename "\$g") exit=\$code out=\$(base64 /tmp/out | tr -d '\n') err=\$(base64 /tmp/err | tr -d '\n')"
done

# The foundation's lifecycle/leak check on this KVM (tests/Vessel.Kvm.LifecycleProbe; it also has KVM refuse a
# 9 TiB slot), then the same size through the CLI, which refuses it before KVM: a clear usage error, status 2.
timeout $((300 * slow)) /vessel-kvm-lifecycle $lifecycle_machines
echo "LANE-LIFECYCLE-EXIT=\$?"
/vessel run --backend kvm --kernel /guests/rep-outsb.bin --memory 9T </dev/null >/tmp/out 2>/tmp/err
echo "LANE-REFUSED memory=9T exit=\$? err=\$(base64 /tmp/err | tr -d '\n')"

# The Debian guest's network and vsock peers in L1 (L1 has no NIC: nothing leaves it): a TAP device at 10.215.0.1
# (busybox tunctl makes it persistent; vessel attaches with IFF_VNET_HDR), busybox httpd serving a random blob on
# it, and the host ends of two vsock connections: a listener at the Unix socket PATH_5000 for the guest's connect,
# and below, once the guest listens on port 6000, a CONNECT through PATH. Each side's bytes are random, md5s printed.
ip link set lo up
tunctl -t vtap0 >/dev/null && ip addr add 10.215.0.1/24 dev vtap0 && ip link set vtap0 up || echo "LANE: no TAP device"
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=64k count=$((net_mib * 16)) 2>/dev/null
echo "LANE-NET-BLOB \$(md5sum </tmp/www/blob)"
httpd -f -p 10.215.0.1:8080 -h /tmp/www &
httpd_pid=\$!
# User mode (passt, the Debian guest's second NIC): passt copies its addresses from the host interface that has
# the default route, and L1 has none, so a TAP nothing attaches to (vtapu, 10.216.0.1/24, default route via
# 10.216.0.2) is its template: passt hands L2 10.216.0.1 by DHCP and is itself the gateway 10.216.0.2, whose
# connections it maps onto L1's loopback, where a second httpd serves another random blob. L1 reaches the guest
# through the hostfwd port 127.0.0.1:8082 (passt listens there).
tunctl -t vtapu >/dev/null && ip addr add 10.216.0.1/24 dev vtapu && ip link set vtapu up \
  && ip route add default via 10.216.0.2 dev vtapu || echo "LANE: no template interface for passt"
mkdir -p /tmp/wwwu
dd if=/dev/urandom of=/tmp/wwwu/ublob bs=64k count=$((user_mib * 16)) 2>/dev/null
echo "LANE-USER-BLOB \$(md5sum </tmp/wwwu/ublob)"
httpd -f -p 127.0.0.1:8081 -h /tmp/wwwu &
httpd_user_pid=\$!
dd if=/dev/urandom of=/tmp/vs-down bs=64k count=$((vsock_mib * 16)) 2>/dev/null
dd if=/dev/urandom of=/tmp/vs-down2 bs=64k count=$((vsock_mib * 16)) 2>/dev/null
echo "LANE-VSOCK-SENT \$(md5sum </tmp/vs-down)"
echo "LANE-VSOCK-SENT2 \$(md5sum </tmp/vs-down2)"
/uds listen /tmp/v.sock_5000 </tmp/vs-down >/tmp/vs-got 2>/tmp/vs-err &
vs_listener=\$!

# The Debian guest: fd 3 keeps a writer on the FIFO, so vessel's stdin opens at once and stays open.
mkfifo /tmp/l2in
exec 3<>/tmp/l2in
dd if=/dev/zero of=/tmp/l2disk.img bs=1M count=8 2>/dev/null
t0=\$(uptime_s)
echo "LANE-L2-START=\$t0"
echo "LANE-ROOT-TOKENS host=$host_token l2=$l2_token"
echo "LANE-USER-TOKEN $fwd_token"
( timeout $((240 * slow)) /vessel run --backend kvm --kernel /l2/vmlinuz --initrd /l2/initramfs.cpio.gz --memory 256M \
    --append "console=ttyS0 nokaslr acpi=off root=/dev/vda" --log-level info --disk /l2/root.img \
    --disk /tmp/l2disk.img --rng --net tap=vtap0,mac=52:54:00:12:34:56 \
    --net user,hostfwd=tcp:127.0.0.1:8082-:8080,mac=52:54:00:12:34:57 --vsock cid=42,uds=/tmp/v.sock </tmp/l2in 2>&1
  echo "LANE-L2-EXIT=\$?" ) |
while IFS= read -r line; do
  case "\$line" in
    LANE-L2-EXIT=*) echo "\$line" ;;
    *VESSEL-ROOT-READY*)
      echo "LANE-L2-MARKER-AT=\$(uptime_s)"
      echo "L2| \$line"
      # The shell starts right after the marker; the tty keeps what is typed before it reads. A backslash splits
      # each tag (the shell drops it before a plain letter), so the echo of the typed line never matches them.
      ( sleep 2; echo 'uname -a' >&3; sleep 2
        echo 'echo L2H\OST-FILE \$(cat /host-file.txt); echo l2-wrote-$l2_token >/l2-file.txt; sync; echo L2S\YNC=\$?' >&3; sleep 1
        echo 'n=0; while [ ! -b /dev/vdb ] && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n+1)); done; dd if=/dev/urandom of=/pattern bs=64k count=64 2>/dev/null; echo L2D\ISK-WROTE \$(md5sum </pattern); dd if=/pattern of=/dev/vdb bs=64k oflag=direct 2>/dev/null; echo L2D\ISK-DD=\$?; sync; echo L2D\ISK-READ \$(dd if=/dev/vdb bs=64k count=64 iflag=direct 2>/dev/null | md5sum); echo L2R\NG-BYTES=\$(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c); grep virtio /proc/interrupts; echo L2D\ISK-DONE' >&3 ) & ;;
    *L2DISK-DONE*)
      echo "L2| \$line"
      # Typed at once while the shell is idle, so their echo precedes what they print: the TAP (the MAC given on
      # the command line, ping, an HTTP download), then user mode on eth1 (its MAC, DHCP from passt, a download from
      # L1's loopback through the gateway address, then busybox httpd serving a token and a random blob for L1 to
      # fetch through hostfwd), then (typed once L1 has fetched them) vsock both ways, then the end.
      ( echo 'mount -t tmpfs t /tmp; echo L2N\ET-MAC \$(cat /sys/class/net/eth0/address); ip addr add 10.215.0.2/24 dev eth0; ip link set eth0 up; echo L2N\ET-PING=\$(ping -c 3 -W 5 10.215.0.1 | grep -c "bytes from"); wget -q -O /tmp/b http://10.215.0.1:8080/blob; echo L2N\ET-WGET=\$? \$(md5sum </tmp/b)'
        echo 'echo L2U\SER-MAC \$(cat /sys/class/net/eth1/address); ip link set eth1 up; echo L2U\SER-DHCP \$(udhcpc -i eth1 -s /udhcpc.script -q -n -t 10 2>&1 | grep -o "lease of [0-9.]* obtained"); gw=\$(ip route | grep "^default" | cut -d" " -f3); echo L2U\SER-GW=\$gw; wget -q -O /tmp/u http://\$gw:8081/ublob; echo L2U\SER-WGET=\$? \$(md5sum </tmp/u); rm /tmp/u; mkdir -p /tmp/w; echo hostfwd-$fwd_token >/tmp/w/t; dd if=/dev/urandom of=/tmp/w/b bs=64k count=$((user_mib * 16)) 2>/dev/null; echo L2U\SER-SERVE \$(md5sum </tmp/w/b); httpd -p 8080 -h /tmp/w; echo L2U\SER-HTTPD' ) >&3 ;;
    *L2USER-HTTPD*)
      echo "L2| \$line"
      # L1 into the guest through passt's hostfwd port on L1's loopback: the token, then the blob.
      ( echo "LANE-USER-HOSTFWD \$(wget -q -O - http://127.0.0.1:8082/t)"
        wget -q -O /tmp/fwd-b http://127.0.0.1:8082/b; echo "LANE-USER-HOSTFWD-BLOB=\$? \$(md5sum </tmp/fwd-b)"
        { echo 'dd if=/dev/urandom of=/tmp/up bs=64k count=$((vsock_mib * 16)) 2>/dev/null; echo L2V\SOCK-UP \$(md5sum </tmp/up); vsock connect 2 5000 </tmp/up >/tmp/down; echo L2V\SOCK-CONNECT=\$? \$(md5sum </tmp/down)'
        echo '(vsock listen 6000 </tmp/up >/tmp/d2; echo \$? >/tmp/lrc) & echo L2V\SOCK-LISTENING; wait; sleep 1; echo L2V\SOCK-LISTEN=\$(cat /tmp/lrc) \$(md5sum </tmp/d2); reboot -f'; } >&3 ) & ;;
    *L2VSOCK-LISTENING*)
      echo "L2| \$line"
      # Firecracker's host-side convention; the guest may not listen yet: "CONNECT" is refused, tried again.
      ( n=1; until /uds connect /tmp/v.sock 6000 </tmp/vs-down2 >/tmp/vs-got2 2>/tmp/vs-err2 || [ \$n -ge 20 ]; do n=\$((n+1)); sleep 1; done
        echo "LANE-VSOCK-HOSTCONN tries=\$n answer=\$(head -n 1 /tmp/vs-err2 | tr ' ' _) \$(md5sum </tmp/vs-got2)" ) & ;;
    *) echo "L2| \$line" ;;
  esac
done
echo "LANE-L2-END=\$(uptime_s)"
kill \$httpd_pid \$httpd_user_pid \$vs_listener 2>/dev/null
# passt ends with vessel (vessel waits for it): none may be left once vessel has exited.
echo "LANE-USER-PASST-LEFT=\$(ps | grep -c '[/]bin/passt')"
echo "LANE-VSOCK-HOST-GOT \$(md5sum </tmp/vs-got)"
echo "LANE-DISK-IMAGE \$(dd if=/tmp/l2disk.img bs=64k count=64 2>/dev/null | md5sum)"
/e2fsck -fy /l2/root.img >/tmp/fsck 2>&1
echo "LANE-ROOT-FSCK=\$?"
echo "LANE-ROOT-FILE \$(/debugfs -R 'cat /l2-file.txt' /l2/root.img 2>/dev/null)"
exec 3>&-

# The Debian guest again, its shell on hvc0 (virtio-console; vessel's stdin reaches only hvc0), a read-only disk
# (vda, 1 MiB of random bytes whose md5 L1 takes first) and a data disk (vdb). L2 tries a direct write to vda
# (must fail), writes a token to vdb with O_DIRECT and syncs, then prints a marker, on which L1 kill -9s vessel:
# what sync returned for must be in the image without vessel's shutdown path; the read-only image is untouched.
mkfifo /tmp/hvcin
exec 4<>/tmp/hvcin
dd if=/dev/urandom of=/tmp/hvc-ro.img bs=64k count=16 2>/dev/null
dd if=/dev/zero of=/tmp/hvc-data.img bs=64k count=16 2>/dev/null
echo "LANE-HVC-RO-BEFORE \$(md5sum </tmp/hvc-ro.img)"
echo "LANE-HVC-TOKEN $hvc_token"
echo "LANE-HVC-START=\$(uptime_s)"
( /vessel run --backend kvm --kernel /l2/vmlinuz --initrd /l2/initramfs.cpio.gz --memory 256M \
    --append "console=hvc0 nokaslr acpi=off" --console hvc0 --disk /tmp/hvc-ro.img,readonly \
    --disk /tmp/hvc-data.img </tmp/hvcin 2>&1 &
  vp=\$!
  echo \$vp >/tmp/hvc-pid
  ( sleep $((90 * slow)); kill -9 \$vp ) >/dev/null 2>&1 </dev/null &
  wd=\$!
  wait \$vp
  code=\$? # the guest's prompt is still open (no newline) when vessel is killed: the status starts its own line
  kill \$wd 2>/dev/null
  printf '\\nLANE-HVC-EXIT=%s\\n' \$code ) |
while IFS= read -r line; do
  case "\$line" in
    LANE-HVC-EXIT=*) echo "\$line" ;;
    *VESSEL-GUEST-READY*)
      echo "HVC| \$line"
      ( sleep 2; echo 'echo H\VC-CONSOLE=\$(cat /sys/class/tty/console/active)' >&4; sleep 1
        echo 'n=0; while [ ! -b /dev/vdb ] && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n+1)); done; dd if=/dev/zero of=/dev/vda bs=64k count=1 oflag=direct 2>/dev/null; echo H\VC-RO-DD=\$?' >&4; sleep 1
        echo 'echo data-$hvc_token >/tok; dd if=/tok of=/dev/vdb bs=64k conv=sync oflag=direct 2>/dev/null; echo H\VC-DATA-DD=\$?; sync; echo H\VC-SYNCED' >&4 ) & ;;
    *HVC-SYNCED*)
      echo "HVC| \$line"
      kill -9 \$(cat /tmp/hvc-pid) ;;
    *) echo "HVC| \$line" ;;
  esac
done
echo "LANE-HVC-END=\$(uptime_s)"
echo "LANE-HVC-RO-AFTER \$(md5sum </tmp/hvc-ro.img)"
echo "LANE-HVC-DATA \$(dd if=/tmp/hvc-data.img bs=64 count=1 2>/dev/null | tr -d '\\000' | head -n 1)"
exec 4>&-

# Firecracker's getting-started sequence on kvm: vessel --api-sock, then the requests scripts/api-getting-started.sh
# sends (logger, boot-source, drives/rootfs, machine-config, InstanceStart; sent by /uds), booting the Debian guest
# from the root image of the first boot (e2fsck'd above). At its marker the guest prints a tick every half second;
# GET /vm/config, PATCH /vm Paused, GET /, 4 s in which no tick may arrive, PATCH /vm Resumed, ticks again, reboot -f.
mkfifo /tmp/apiin
exec 5<>/tmp/apiin
: >/tmp/ticks
echo "LANE-API-START=\$(uptime_s)"
( n=0; while [ ! -S /tmp/api.sock ] && [ \$n -lt 300 ]; do sleep 0.1; n=\$((n+1)); done
  while read -r method path body; do
    echo "\$body" >/tmp/api-body
    echo "LANE-API \$method \$path \$(/uds http /tmp/api.sock \$method \$path /tmp/api-body | head -n 1)"
  done </api-requests ) &
( timeout $((240 * slow)) /vessel --api-sock /tmp/api.sock --backend kvm </tmp/apiin 2>&1; echo "LANE-API-EXIT=\$?" ) |
while IFS= read -r line; do
  case "\$line" in
    LANE-API-EXIT=*) echo "\$line" ;;
    *TICK*) echo "\$line" >>/tmp/ticks ;;
    *VESSEL-ROOT-READY*)
      echo "API| \$line"
      ( sleep 2; echo 'while :; do echo T\ICK; sleep 0.5; done &' >&5; sleep 3
        echo "LANE-API-CONFIG \$(/uds http /tmp/api.sock GET /vm/config | tr -d '\n')"
        echo "LANE-API-PAUSE \$(/uds http /tmp/api.sock PATCH /vm /api-paused | head -n 1)"
        echo "LANE-API-STATE \$(/uds http /tmp/api.sock GET / | tr -d '\n')"
        sleep 1; a=\$(wc -l </tmp/ticks); sleep 4; b=\$(wc -l </tmp/ticks)
        echo "LANE-API-RESUME \$(/uds http /tmp/api.sock PATCH /vm /api-resumed | head -n 1)"
        sleep 3; c=\$(wc -l </tmp/ticks)
        echo "LANE-API-TICKS before=\$a paused=\$((b - a)) resumed=\$((c - b))"
        echo 'reboot -f' >&5 ) & ;;
    *) echo "API| \$line" ;;
  esac
done
echo "LANE-API-END=\$(uptime_s)"
echo "LANE-API-LOG started=\$(grep -c 'Successfully started microvm' /tmp/api-vessel.log)"
exec 5>&-

# Bounded: once (load ~45, after the steps above) L1 sat idle in it with every process blocked; LANE-PS lines
# (pid, state, parent, wait channel, command) say who waits.
timeout $((300 * slow)) /kvm-exit-bench /vessel 20 2000 3 || { echo "LANE: kvm-exit-bench failed"
  for d in /proc/[0-9]*; do c=\$(tr '\\0' ' ' <\$d/cmdline); [ -z "\$c" ] || echo "LANE-PS \${d#/proc/} \$(cut -d' ' -f3,4 \$d/stat) \$(cat \$d/wchan) \$c"; done; }
$pages_step
reboot -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/lane.cpio.gz"

say "[5/6] booting QEMU (TCG, -cpu qemu64,+svm,+npt), at most ${timeout_s}s"
# no_timer_check: on a loaded host L1's kernel once judged its IO-APIC timer broken and panicked at boot.
log="$work/serial.log"
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt -m $l1_memory -smp 1 \
  -display none -monitor none -nic none -no-reboot -serial "file:$log" \
  -kernel "$guest/vmlinuz" -initrd "$work/lane.cpio.gz" -append "console=ttyS0 panic=-1 quiet no_timer_check" &
qemu_pid=$!
qemu_start=$SECONDS
wait "$qemu_pid" || say "qemu ended with status $? (124 = timed out)"
qemu_pid=""
qemu_seconds=$((SECONDS - qemu_start))

say "[6/6] checking the serial log (QEMU ran ${qemu_seconds}s)"
grep -aE '^(LANE|L2\| |HVC\| |API\| |exit-bench:|exit-pages:|vessel|lifecycle:|BLKBENCH|NETBENCH)' "$log" | tr -d '\r' || true
bench_ok=1
if [ "$blkbench" = 1 ]; then
  # Medians per side of MB/s (MiB moved / guest seconds), and Vessel's ratio to QEMU.
  grep -a '^BLKBENCH ' "$log" | tr -d '\r' | awk -v mib="${KVM_LANE_BLKBENCH_MIB:-64}" '
    function median(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
    { s = $2; nw[s]++; w[s, nw[s]] = mib * 1.048576 / $4; r[s, nw[s]] = mib * 1.048576 / $5 }
    END {
      for (s in nw) { n = nw[s]; delete a; for (i = 1; i <= n; i++) a[i] = w[s, i]; mw[s] = median(a, n)
        delete a; for (i = 1; i <= n; i++) a[i] = r[s, i]; mr[s] = median(a, n)
        printf "blkbench: %s write %.1f MB/s read %.1f MB/s (median of %d)\n", s, mw[s], mr[s], n }
      if (mw["qemu"] > 0 && mr["qemu"] > 0) printf "blkbench: vessel/qemu write %.2fx read %.2fx\n", mw["vessel"] / mw["qemu"], mr["vessel"] / mr["qemu"]
    }'
  grep -aq '^BLKBENCH vessel' "$log" && grep -aq '^BLKBENCH qemu' "$log" && ! grep -aq '^BLKBENCH-FAILED' "$log" || bench_ok=0
fi
if [ "$netbench" = 1 ]; then
  # Per side, the median MB/s (MiB downloaded / guest seconds); per run, Vessel's speed over QEMU's (the two ran back
  # to back) and the median of those. A run whose blob differs, or a run without both sides, fails the benchmark.
  grep -a '^NETBENCH' "$log" | tr -d '\r' | awk -v mib="${KVM_LANE_NETBENCH_MIB:-64}" -v runs="${KVM_LANE_NETBENCH_RUNS:-3}" -v mode="${KVM_LANE_NETBENCH_MODE:-tap}" '
    function median(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
    $1 == "NETBENCH-BLOB" { blob = $2 }
    $1 == "NETBENCH" && $5 != blob { print "NETBENCH-FAILED " $2 " " $3 " the blob arrived as " $5; next }
    $1 == "NETBENCH" { s = $2; n[s]++; v[s, n[s]] = mib * 1.048576 / $4; secs[s, $3] = $4 }
    END {
      for (s in n) { delete a; for (i = 1; i <= n[s]; i++) a[i] = v[s, i]
        printf "netbench: %s %s download %.1f MB/s (median of %d)\n", s, mode, median(a, n[s]), n[s] }
      for (r = 1; r <= runs; r++)
        if ((("vessel", r) in secs) && (("qemu", r) in secs)) { p[++pairs] = secs["qemu", r] / secs["vessel", r]; printf "netbench: run %d vessel/qemu %.2fx\n", r, p[pairs] }
        else print "NETBENCH-FAILED run " r " lacks a side"
      if (pairs) printf "netbench: vessel/qemu %.2fx (median of %d runs)\n", median(p, pairs), pairs
    }' | tee "$work/netbench.txt"
  grep -aq '^NETBENCH vessel' "$log" && grep -aq '^NETBENCH qemu' "$log" && ! grep -aq '^NETBENCH-FAILED' "$log" \
    && ! grep -q '^NETBENCH-FAILED' "$work/netbench.txt" || bench_ok=0
fi
if [ "$blkbench" = 1 ] || [ "$netbench" = 1 ]; then
  [ "$bench_ok" = 1 ] && exit 0
  say "a benchmark did not complete; last lines of the serial log:"
  tail -n 40 "$log" >&2
  exit 1
fi
l2_ok=1
grep -aq 'L2| VESSEL-ROOT-READY /dev/vda' "$log" || { say "the Debian guest never printed its root disk's marker"; l2_ok=0; }
# The root disk: L2 read the host's file; L1 finds the image consistent (0: clean, 1: fixed, e.g. the journal
# replayed) and reads back the file L2 wrote and synced.
grep -aq "L2| L2HOST-FILE host-put-$host_token" "$log" || { say "L2 did not read host-file.txt from its root disk"; l2_ok=0; }
grep -aq 'L2| L2SYNC=0' "$log" || { say "L2's sync of its root disk failed"; l2_ok=0; }
grep -aqE '^LANE-ROOT-FSCK=[01]' "$log" || { say "e2fsck found the root image damaged"; l2_ok=0; }
grep -aq "^LANE-ROOT-FILE l2-wrote-$l2_token" "$log" || { say "L1 did not read l2-file.txt back from the root image"; l2_ok=0; }
grep -aqE 'L2\| Linux .* 6\.1\.0-' "$log" || { say "the Debian guest's uname -a was not seen"; l2_ok=0; }
grep -aq 'LANE-L2-EXIT=0' "$log" || { say "vessel did not end the Debian guest with status 0 (reboot -f)"; l2_ok=0; }
# The disk: what L2 wrote, what it read back with O_DIRECT and what L1 finds in the image are the same bytes.
md5_of() { grep -a "$1" "$log" | tr -d '\r' | tail -n 1 | awk '{print ($NF == "-" ? $(NF-1) : $NF)}'; }
wrote="$(md5_of 'L2DISK-WROTE ')"; read_back="$(md5_of 'L2DISK-READ ')"; image="$(md5_of '^LANE-DISK-IMAGE ')"
if [ -z "$wrote" ] || [ "$wrote" != "$read_back" ] || [ "$wrote" != "$image" ]; then
  say "the virtio disk did not carry the pattern (wrote '$wrote', read back '$read_back', image '$image')"; l2_ok=0
fi
grep -aq 'L2RNG-BYTES=16' "$log" || { say "/dev/hwrng did not give 16 bytes"; l2_ok=0; }
# hvc0, a read-only disk and SIGKILL after sync: the shell answered on hvc0, the direct write to the read-only disk
# failed and left its image as it was, and the token L2 synced is in the data image although vessel was killed.
grep -aq 'HVC| HVC-CONSOLE=hvc0' "$log" || { say "the shell on hvc0 did not answer"; l2_ok=0; }
grep -aqE 'HVC\| HVC-RO-DD=[1-9]' "$log" || { say "a direct write to the read-only disk did not fail"; l2_ok=0; }
grep -aq 'HVC| HVC-DATA-DD=0' "$log" || { say "the direct write to the data disk failed"; l2_ok=0; }
grep -aq '^LANE-HVC-EXIT=137' "$log" || { say "vessel (hvc0 guest) did not end by kill -9 after the guest's sync"; l2_ok=0; }
ro_before="$(md5_of '^LANE-HVC-RO-BEFORE ')"; ro_after="$(md5_of '^LANE-HVC-RO-AFTER ')"
[ -n "$ro_before" ] && [ "$ro_before" = "$ro_after" ] || { say "the read-only image changed ('$ro_before' -> '$ro_after')"; l2_ok=0; }
grep -aq "^LANE-HVC-DATA data-$hvc_token" "$log" || { say "the token synced before kill -9 is not in the data image"; l2_ok=0; }
# virtio-net on the TAP: the MAC from the command line, three ping answers, and the blob L1's httpd served arrived
# whole. vsock: what each side sent is what the other received, on the guest's connection (to PATH_5000) and on
# the host's (CONNECT 6000 through PATH, answered "OK <port>").
grep -aq 'L2| L2NET-MAC 52:54:00:12:34:56' "$log" || { say "eth0 does not have the MAC given to --net"; l2_ok=0; }
grep -aq 'L2| L2NET-PING=3' "$log" || { say "L2 did not get three ping answers from L1 over the TAP"; l2_ok=0; }
blob="$(md5_of '^LANE-NET-BLOB ')"; fetched="$(md5_of 'L2| L2NET-WGET=0 ')"
[ -n "$blob" ] && [ "$blob" = "$fetched" ] || { say "the HTTP download over the TAP failed or differs ('$blob' -> '$fetched')"; l2_ok=0; }
vs_up="$(md5_of 'L2| L2VSOCK-UP ')"
for pair in "$vs_up:$(md5_of '^LANE-VSOCK-HOST-GOT '):guest to host, guest's connection" \
    "$(md5_of '^LANE-VSOCK-SENT '):$(md5_of 'L2| L2VSOCK-CONNECT=0 '):host to guest, guest's connection" \
    "$vs_up:$(md5_of '^LANE-VSOCK-HOSTCONN tries=[0-9]* answer=OK_'):guest to host, host's connection" \
    "$(md5_of '^LANE-VSOCK-SENT2 '):$(md5_of 'L2| L2VSOCK-LISTEN=0 '):host to guest, host's connection"; do
  sent="${pair%%:*}"; rest="${pair#*:}"; got="${rest%%:*}"
  [ -n "$sent" ] && [ "$sent" = "$got" ] || { say "vsock ${rest#*:}: sent '$sent', received '$got'"; l2_ok=0; }
done
# User mode (passt) on the second NIC: its MAC, a DHCP lease from passt, L1's loopback blob through the gateway
# address byte for byte, the guest's token and blob through the hostfwd port, and no passt left once vessel exited.
grep -aq 'L2| L2USER-MAC 52:54:00:12:34:57' "$log" || { say "eth1 does not have the MAC given to --net user"; l2_ok=0; }
grep -aqE 'L2\| L2USER-DHCP lease of [0-9.]+ obtained' "$log" || { say "passt gave L2 no DHCP lease"; l2_ok=0; }
ublob="$(md5_of '^LANE-USER-BLOB ')"; ufetched="$(md5_of 'L2| L2USER-WGET=0 ')"
[ -n "$ublob" ] && [ "$ublob" = "$ufetched" ] || { say "the download through passt's gateway failed or differs ('$ublob' -> '$ufetched')"; l2_ok=0; }
grep -aq "^LANE-USER-HOSTFWD hostfwd-$fwd_token" "$log" || { say "L1 did not read the guest's token through hostfwd"; l2_ok=0; }
served="$(md5_of 'L2| L2USER-SERVE ')"; forwarded="$(md5_of '^LANE-USER-HOSTFWD-BLOB=0 ')"
[ -n "$served" ] && [ "$served" = "$forwarded" ] || { say "the blob through hostfwd failed or differs ('$served' -> '$forwarded')"; l2_ok=0; }
grep -aq '^LANE-USER-PASST-LEFT=0' "$log" || { say "passt outlived vessel in L1"; l2_ok=0; }
# The API's getting-started sequence: every request 204, the root's marker, GET /vm/config, PATCH /vm Paused (GET /
# says so, no tick in 4 s) and Resumed (ticks again), reboot -f ends vessel with 0, the logger's file was written.
[ "$(grep -ac '^LANE-API PUT /[a-z/-]* HTTP/1.1 204' "$log")" = 5 ] || { say "not every getting-started request answered 204"; l2_ok=0; }
grep -aq 'API| VESSEL-ROOT-READY /dev/vda' "$log" || { say "the API-started guest never printed its root disk's marker"; l2_ok=0; }
grep -a '^LANE-API-CONFIG HTTP/1.1 200' "$log" | grep -q '"path_on_host":"/l2/root.img"' || { say "GET /vm/config did not answer the drive"; l2_ok=0; }
grep -aq '^LANE-API-PAUSE HTTP/1.1 204' "$log" && grep -aq '^LANE-API-RESUME HTTP/1.1 204' "$log" || { say "PATCH /vm Paused/Resumed was refused"; l2_ok=0; }
grep -a '^LANE-API-STATE HTTP/1.1 200' "$log" | grep -q '"state":"Paused"' || { say "GET / did not say Paused"; l2_ok=0; }
grep -aqE '^LANE-API-TICKS before=[1-9][0-9]* paused=0 resumed=[1-9]' "$log" || { say "the guest ticked while paused or not at all"; l2_ok=0; }
grep -aq '^LANE-API-EXIT=0' "$log" || { say "vessel --api-sock did not end with status 0 on reboot -f"; l2_ok=0; }
grep -aqE '^LANE-API-LOG started=[1-9]' "$log" || { say "the logger's file does not say the microVM started"; l2_ok=0; }
lifecycle_ok=1
grep -aq 'LANE-LIFECYCLE-EXIT=0' "$log" && grep -aq '^lifecycle: PASS' "$log" || { say "the lifecycle check did not pass"; lifecycle_ok=0; }
if grep -aq 'vessel-kvm-ok' "$log" && grep -aq 'LANE-VESSEL-EXIT=3' "$log" && [ "$l2_ok" = 1 ] && [ "$lifecycle_ok" = 1 ]; then
  echo "kvm-lane: PASS (vessel ran the boot sector and the Debian guest with its root and a second disk on virtio, virtio-rng, virtio-net on a TAP and through passt, and vsock on nested KVM; the lifecycle check passed)"
  exit 0
fi
say "FAIL; last lines of the serial log:"
tail -n 40 "$log" >&2
exit 1
