#!/usr/bin/env bash
# Builds Vessel's default guest from Debian's own packages: the stock kernel that linux-image-amd64
# depends on, and a busybox initramfs that loads the virtio and ext4 modules from the same package, prints a
# marker line and starts a shell on the console -- or, when the command line says root=/dev/vdX, mounts that
# ext4 disk and switches to it. It also builds rootfs.ext4, an ext4 root disk image holding the same busybox
# userland (made with mkfs.ext4 -d: no loop mount, no root). The result is cached and rebuilt only when its
# inputs (package versions, this script, fpcheck.c) change.
#
#   scripts/build-guest.sh [OUTPUT_DIR]      (default: ${XDG_CACHE_HOME:-~/.cache}/vessel/guest)
#
# Prints the output directory on its last line; it holds vmlinuz, initramfs.cpio.gz, rootfs.ext4 and
# inputs.txt. Boot from the root disk on a copy of it (the guest writes to it):
#   cp OUTPUT_DIR/rootfs.ext4 root.img
#   vessel run --disk root.img --append "console=ttyS0 nokaslr acpi=off root=/dev/vda"
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel/guest}"
marker="VESSEL-GUEST-READY"
say() { echo "build-guest: $*" >&2; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }

if [ -z "$(candidate busybox-static)" ] || [ "$(candidate busybox-static)" = "(none)" ]; then
  say "refreshing the package lists (apt-get update)"
  sudo_if_needed apt-get update -qq
fi
for tool in dpkg-deb cpio gzip; do
  command -v "$tool" >/dev/null || { say "installing $tool"; sudo_if_needed apt-get install -y -qq cpio gzip dpkg >/dev/null; }
done
if ! PATH="$PATH:/sbin:/usr/sbin" command -v mkfs.ext4 >/dev/null; then
  say "installing e2fsprogs (mkfs.ext4 builds the root disk)"
  sudo_if_needed apt-get install -y -qq e2fsprogs >/dev/null
fi
mkfs_ext4="$(PATH="$PATH:/sbin:/usr/sbin" command -v mkfs.ext4)"
# gcc and glibc's static libraries build /bin/fpcheck, the guest's floating-point check.
if ! command -v gcc >/dev/null || [ ! -f /usr/lib/x86_64-linux-gnu/libm.a ]; then
  say "installing gcc and libc6-dev (for the static fpcheck program)"
  sudo_if_needed apt-get install -y -qq gcc libc6-dev >/dev/null
fi

# The stock kernel is the one the distribution's kernel metapackage depends on: linux-image-amd64 on Debian,
# linux-image-generic on Ubuntu (whose kernel builds the virtio drivers in, so fewer modules are found below;
# its modules live in a separate linux-modules-* package, which is not needed for that reason).
kernel_pkg=""
for meta in linux-image-amd64 linux-image-generic; do
  kernel_pkg="$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
  [ -n "$kernel_pkg" ] && break
done
[ -n "$kernel_pkg" ] || { say "cannot find a kernel package: neither linux-image-amd64 (Debian) nor linux-image-generic (Ubuntu) is known to apt"; exit 1; }
kernel_ver="$(candidate "$kernel_pkg")"
busybox_ver="$(candidate busybox-static)"
inputs="$kernel_pkg $kernel_ver
busybox-static $busybox_ver
$(sha256sum "$0" | cut -d' ' -f1) build-guest.sh
$(sha256sum "$here/guest/fpcheck.c" | cut -d' ' -f1) fpcheck.c
$(sha256sum "$here/guest/vsock.c" | cut -d' ' -f1) vsock.c"

if [ -f "$out/inputs.txt" ] && [ "$(cat "$out/inputs.txt")" = "$inputs" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] && [ -f "$out/rootfs.ext4" ]; then
  say "up to date: $kernel_pkg $kernel_ver, busybox-static $busybox_ver"
  echo "$out"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
say "[1/5] downloading $kernel_pkg ($kernel_ver) and busybox-static ($busybox_ver)"
apt-get download -qq "$kernel_pkg" busybox-static >/dev/null
say "[2/5] unpacking"
dpkg-deb -x ./"$kernel_pkg"_*.deb kernel
dpkg-deb -x ./busybox-static_*.deb busybox

release="${kernel_pkg#linux-image-}"
moddir="kernel/lib/modules/$release/kernel"
root="$work/root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules,root}
cp busybox/bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

gcc -static -O2 -o "$root/bin/fpcheck" "$here/guest/fpcheck.c" -lm
gcc -static -O2 -o "$root/bin/vsock" "$here/guest/vsock.c"

say "[3/5] collecting the virtio and ext4 modules"
# Dependency order (see DESIGN.md): the ring and core first, the PCI transport, then the drivers; then ext4
# after what its .modinfo names (depends=jbd2,mbcache,crc16; softdep pre: crypto-crc32c, which the package
# does not resolve without modules.dep, hence crc32c_generic by name).
modules="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko
drivers/virtio/virtio_mmio.ko
net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko
drivers/block/virtio_blk.ko drivers/char/virtio_console.ko drivers/char/hw_random/virtio-rng.ko
net/vmw_vsock/vsock.ko net/vmw_vsock/vmw_vsock_virtio_transport_common.ko net/vmw_vsock/vmw_vsock_virtio_transport.ko
lib/crc16.ko fs/mbcache.ko crypto/crc32c_generic.ko fs/jbd2/jbd2.ko fs/ext4/ext4.ko"
load_order=""
for m in $modules; do
  src="$moddir/$m"
  name="$(basename "$m")"
  if [ -f "$src" ]; then cp "$src" "$root/lib/modules/"
  elif [ -f "$src.xz" ]; then xz -dc "$src.xz" > "$root/lib/modules/$name"
  else say "note: $m is not in $kernel_pkg (built in or absent)"; continue; fi
  # Every module this one depends on must already be in the load order (a newer kernel may add one).
  for dep in $(tr '\0' '\n' < "$root/lib/modules/$name" | sed -n 's/^depends=//p' | tr ',' ' '); do
    case " $load_order " in *" $dep.ko "*|*" ${dep//_/-}.ko "*) ;; *) say "warning: $name needs $dep, which loads after it or not at all";; esac
  done
  load_order="$load_order $name"
done

say "[4/5] building the root disk (rootfs.ext4)"
# The root disk: the same busybox userland and fpcheck, no modules (the initramfs loaded them), and an init
# that prints its own marker.
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,etc,root,mnt}
cp -a "$root/bin/." "$rootfs/bin/"
cat > "$rootfs/sbin/init" <<'ROOTINIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "VESSEL-ROOT-READY $(sed -n 's/^\(\/dev\/[^ ]*\) \/ .*/\1/p' /proc/mounts | tail -n 1)"
exec setsid cttyhack /bin/sh
ROOTINIT
chmod +x "$rootfs/sbin/init"
echo "vessel" > "$rootfs/etc/hostname"
rm -f "$work/rootfs.ext4"
"$mkfs_ext4" -q -F -L vessel-root -d "$rootfs" "$work/rootfs.ext4" 64M >&2

cat > "$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in $load_order; do insmod /lib/modules/\$m 2>/dev/null; done
# With console=hvc0 the console only exists once virtio_console is loaded: reopen it now.
(: </dev/console) 2>/dev/null && exec </dev/console >/dev/console 2>&1
# root=/dev/vdX on the command line: mount that ext4 disk (ro if the command line says ro) and switch to it.
rootdev=""; rootopt="rw"
for arg in \$(cat /proc/cmdline); do
  case "\$arg" in root=/dev/vd*) rootdev="\${arg#root=}";; ro) rootopt="ro";; esac
done
if [ -n "\$rootdev" ]; then
  n=0; while [ ! -b "\$rootdev" ] && [ \$n -lt 50 ]; do sleep 0.1; n=\$((n+1)); done
  mkdir -p /newroot
  if mount -t ext4 -o "\$rootopt" "\$rootdev" /newroot; then
    umount /proc /sys /dev 2>/dev/null
    exec switch_root /newroot /sbin/init
  fi
  echo "init: cannot mount \$rootdev as ext4; staying in the initramfs"
fi
echo "$marker"
exec setsid cttyhack /bin/sh
INIT
chmod +x "$root/init"

say "[5/5] packing the initramfs"
mkdir -p "$out"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initramfs.cpio.gz.tmp"
cp "kernel/boot/vmlinuz-$release" "$out/vmlinuz.tmp"
cp "$root/bin/fpcheck" "$out/fpcheck"
cp "$work/rootfs.ext4" "$out/rootfs.ext4.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
mv "$out/rootfs.ext4.tmp" "$out/rootfs.ext4"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
printf '%s\n' "$inputs" > "$out/inputs.txt"
say "done: $out ($(du -h "$out/vmlinuz" | cut -f1) kernel, $(du -h "$out/initramfs.cpio.gz" | cut -f1) initramfs)"
echo "$out"
