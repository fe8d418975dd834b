/* Cost of one port-I/O exit round trip: the same real-mode loop of `out 0x80, al` run by a raw-ioctl KVM
 * program (raw_run below, the ~30-line peer) and by `vessel run --backend kvm`. Each side is timed whole for
 * two loop counts and the difference divided by the extra exits, so start-up costs cancel out. Prints figures.
 *
 *   kvm-exit-bench VESSEL [N_SMALL N_LARGE REPEATS]      (defaults 1000 100000 3)
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void die(const char *what) { perror(what); exit(2); }

/* mov ecx, n; l: out 0x80, al; dec ecx; jnz l; mov al, 0; out 0xf4, al; hlt; jmp $-1 -- at 0000:7C00. */
static void make_sector(unsigned char *s, unsigned n) {
  static const unsigned char code[] = { 0x66, 0xB9, 0, 0, 0, 0, 0xE6, 0x80, 0x66, 0x49, 0x75, 0xFA,
                                        0xB0, 0x00, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD };
  memset(s, 0, 512); memcpy(s, code, sizeof code); memcpy(s + 2, &n, 4); s[510] = 0x55; s[511] = 0xAA;
}

/* The peer: one VM, one real-mode vCPU, KVM_RUN until the write to port 0xf4. Returns the exits seen. */
static long raw_run(const unsigned char *sector) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (kvm < 0 || vm < 0) die("/dev/kvm");
  ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
  ioctl(vm, KVM_CREATE_IRQCHIP, 0);
  unsigned char *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memcpy(mem + 0x7c00, sector, 512);
  struct kvm_userspace_memory_region region = { .slot = 0, .memory_size = 1 << 20, .userspace_addr = (unsigned long)mem };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int cpu = ioctl(vm, KVM_CREATE_VCPU, 0), size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
  struct kvm_sregs sregs;
  ioctl(cpu, KVM_GET_SREGS, &sregs);
  sregs.cs.base = 0; sregs.cs.selector = 0;
  ioctl(cpu, KVM_SET_SREGS, &sregs);
  struct kvm_regs regs = { .rip = 0x7c00, .rflags = 2 };
  ioctl(cpu, KVM_SET_REGS, &regs);
  long exits = 0;
  for (;;) {
    if (ioctl(cpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason != KVM_EXIT_IO) { fprintf(stderr, "unexpected exit %u\n", run->exit_reason); exit(2); }
    if (run->io.port == 0xf4) break;
    exits++;
  }
  munmap(run, size); munmap(mem, 1 << 20); close(cpu); close(vm); close(kvm);
  return exits;
}

static double time_raw(unsigned n) {
  unsigned char s[512]; make_sector(s, n);
  double t = now();
  long exits = raw_run(s);
  t = now() - t;
  if (exits != n) { fprintf(stderr, "raw: %ld exits, expected %u\n", exits, n); exit(2); }
  return t;
}

static double time_vessel(const char *vessel, unsigned n) {
  unsigned char s[512]; make_sector(s, n);
  char path[] = "/tmp/kvm-exit-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, s, 512) != 512) die("temporary sector");
  close(fd);
  double t = now();
  pid_t pid = fork();
  if (pid == 0) {
    execl(vessel, vessel, "run", "--backend", "kvm", "--kernel", path, "--memory", "16M", "--serial", "none", (char *)NULL);
    die(vessel);
  }
  int status;
  waitpid(pid, &status, 0);
  t = now() - t;
  unlink(path);
  /* isa-debug-exit with 0: status (0 << 1) | 1. */
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) { fprintf(stderr, "vessel ended with status 0x%x\n", status); exit(2); }
  return t;
}

static double best(double (*f)(const char *, unsigned), const char *vessel, unsigned n, int repeats) {
  double min = 1e9;
  for (int i = 0; i < repeats; i++) { double t = f(vessel, n); if (t < min) min = t; }
  return min;
}

static double raw_adapter(const char *unused, unsigned n) { (void)unused; return time_raw(n); }

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s VESSEL [N_SMALL N_LARGE REPEATS]\n", argv[0]); return 2; }
  unsigned small = argc > 2 ? atoi(argv[2]) : 1000, large = argc > 3 ? atoi(argv[3]) : 100000;
  int repeats = argc > 4 ? atoi(argv[4]) : 3;
  double rs = best(raw_adapter, NULL, small, repeats), rl = best(raw_adapter, NULL, large, repeats);
  double vs = best(time_vessel, argv[1], small, repeats), vl = best(time_vessel, argv[1], large, repeats);
  double raw = (rl - rs) / (large - small) * 1e6, ves = (vl - vs) / (large - small) * 1e6;
  printf("exit-bench: loop of %u vs %u `out 0x80` exits, best of %d runs each\n", small, large, repeats);
  printf("exit-bench: raw ioctls (C): %.3f s / %.3f s, %.2f us per exit\n", rs, rl, raw);
  printf("exit-bench: vessel:         %.3f s / %.3f s, %.2f us per exit (start-up %.3f s)\n", vs, vl, ves, vs - small * ves * 1e-6);
  printf("exit-bench: vessel / C per exit: %.3f\n", ves / raw);
  return 0;
}
