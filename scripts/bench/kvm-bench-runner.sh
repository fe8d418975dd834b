# The runner the nested lane's kvm benchmarks share (sourced by kvm-blk-bench.sh and kvm-net-bench.sh inside L1):
# boots Vessel (--backend kvm) or qemu-system-x86_64 -accel kvm on the same Debian kernel and initramfs with 256M
# and one vCPU, types one command on the guest's console once its shell answers, and alternates the sides.
#
# The sourcing script sets, before calling bench_alternate RUNS:
#   bench_tag       the prefix of its result lines (BLKBENCH, NETBENCH); "<tag>-FAILED side run EXIT=N" is printed
#                   when a VMM ends with a status other than 0
#   bench_vessel    Vessel's device options, bench_qemu QEMU's (split on spaces: no option may contain one)
#   bench_typed     the command line typed on the guest's shell (it should end with reboot -f)
#   bench_line      a function called as bench_line SIDE RUN LINE for every other console line
#
# Waiting for the shell: the command used to be typed 2 s after the guest's marker line, which init prints just
# before it starts the shell. When the shell came later (a loaded machine), the line reached the UART before the
# guest's tty was open and was lost: QEMU's 16550 holds 16 bytes until the driver opens the port, which clears its
# FIFO (Vessel's UART keeps more, so only QEMU lost it). Now a short probe is typed every second until the shell
# prints its answer, and only then the command: a probe that is lost or cut costs nothing but a retry.
bench_append="console=ttyS0 nokaslr acpi=off"
# Where vessel, qemu-system-x86_64 and l2/ (the guest's kernel and initramfs) are: L1's root, unless a run on a
# host with /dev/kvm points elsewhere.
bench_root="${BENCH_ROOT:-}"
bench_fifo="/tmp/bench-in.$$"

# Types the probe every second until the ready file exists (the shell answered) or 10 minutes have passed.
bench_probe() { # ready-file
  n=0
  while [ ! -e "$1" ] && [ "$n" -lt 600 ]; do
    # The backslash splits the answer's tag (the shell drops it), so the tty's echo of the probe never matches.
    printf 'echo BENCH\\SHELL\n' >&4
    sleep 1
    n=$((n + 1))
  done
}

bench_one() { # side run
  side="$1"; run="$2"
  ready="/tmp/bench-ready.$$-$side-$run"
  rm -f "$bench_fifo" "$ready"
  mkfifo "$bench_fifo"
  exec 4<>"$bench_fifo"
  if [ "$side" = vessel ]; then
    # shellcheck disable=SC2086 # the device options are split on purpose
    set -- "$bench_root/vessel" run --backend kvm --kernel "$bench_root/l2/vmlinuz" \
      --initrd "$bench_root/l2/initramfs.cpio.gz" --memory 256M \
      --append "$bench_append" $bench_vessel
  else
    # shellcheck disable=SC2086
    set -- "$bench_root/qemu-system-x86_64" -L /usr/share/qemu -accel kvm -cpu host -m 256 -smp 1 -nodefaults \
      -no-reboot -display none -serial stdio -kernel "$bench_root/l2/vmlinuz" \
      -initrd "$bench_root/l2/initramfs.cpio.gz" -append "$bench_append" $bench_qemu
  fi
  ( timeout 600 "$@" <"$bench_fifo" 2>&1; echo "$bench_tag-EXIT=$?" ) | {
    probe=""
    while IFS= read -r line; do
      case "$line" in
        *VESSEL-GUEST-READY*) [ -n "$probe" ] || { bench_probe "$ready" & probe=$!; } ;;
        *BENCHSHELL*)
          if [ ! -e "$ready" ]; then
            : >"$ready"
            printf '%s\n' "$bench_typed" >&4
          fi ;;
        "$bench_tag-EXIT=0") ;;
        "$bench_tag-EXIT="*) echo "$bench_tag-FAILED $side $run ${line#"$bench_tag"-}" ;;
        *) bench_line "$side" "$run" "$line" ;;
      esac
    done
    [ -z "$probe" ] || kill "$probe" 2>/dev/null
  }
  exec 4>&-
  rm -f "$ready" "$bench_fifo"
}

bench_alternate() { # runs: the first side swaps each run
  i=1
  while [ "$i" -le "$1" ]; do
    if [ $((i % 2)) = 1 ]; then bench_one vessel "$i"; bench_one qemu "$i"; else bench_one qemu "$i"; bench_one vessel "$i"; fi
    i=$((i + 1))
  done
}
