/* Cost of one port-I/O exit round trip: the same real-mode guest run by a raw-ioctl KVM program (raw_run
 * below, the ~30-line peer) and by `vessel run --backend kvm`. The guest times itself: it runs batches of
 * `out 0x80` exits between two RDTSCs and prints each batch's tick count on COM1, so start-up, and slow periods
 * of a noisy machine, drop out (the fastest batch is the figure; the median is printed beside it). The two
 * sides alternate run by run. Ticks become microseconds by the TSC rate measured here against CLOCK_MONOTONIC
 * (KVM gives the guest the host's TSC rate). Prints figures.
 *
 *   kvm-exit-bench VESSEL [BATCHES EXITS_PER_BATCH RUNS]      (defaults 20 2000 3)
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
#include <x86intrin.h>

/* The guest, at 0000:7C00 in real mode: guest_batches times { rdtsc; guest_count x `out 0x80, al`; rdtsc;
 * print "T" and the 32-bit tick difference as 8 hex digits and "\n" on COM1 }, then isa-debug-exit 0. */
extern const unsigned char guest_start[], guest_batches[], guest_count[], guest_end[];
__asm__(".pushsection .rodata\n.code16\n"
        "guest_start: .byte 0x66, 0xbb\n"                 /* mov ebx, imm32 */
        "guest_batches: .long 0\n"
        "1: rdtsc\n movl %eax, %edi\n"
        " .byte 0x66, 0xbe\n"                             /* mov esi, imm32 */
        "guest_count: .long 0\n"
        "2: outb %al, $0x80\n decl %esi\n jnz 2b\n"
        " rdtsc\n subl %edi, %eax\n movl %eax, %edi\n"
        " movw $0x3f8, %dx\n movb $'T', %al\n outb %al, %dx\n movw $8, %cx\n"
        "3: roll $4, %edi\n movl %edi, %eax\n andb $0xf, %al\n addb $'0', %al\n cmpb $'9', %al\n jbe 4f\n addb $7, %al\n"
        "4: outb %al, %dx\n loop 3b\n movb $'\\n', %al\n outb %al, %dx\n"
        " decl %ebx\n jnz 1b\n"
        " movb $0, %al\n outb %al, $0xf4\n"
        "5: hlt\n jmp 5b\n"
        "guest_end:\n.code64\n.popsection");

static void die(const char *what) { perror(what); exit(2); }

static void make_sector(unsigned char *s, unsigned batches, unsigned count) {
  memset(s, 0, 512);
  memcpy(s, guest_start, guest_end - guest_start);
  memcpy(s + (guest_batches - guest_start), &batches, 4);
  memcpy(s + (guest_count - guest_start), &count, 4);
  s[510] = 0x55; s[511] = 0xAA;
}

/* The peer: one VM, one real-mode vCPU, KVM_RUN until the write to port 0xf4; COM1 bytes go to out. */
static void raw_run(const unsigned char *sector, char *out, size_t size) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (kvm < 0 || vm < 0) die("/dev/kvm");
  ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
  ioctl(vm, KVM_CREATE_IRQCHIP, 0);
  unsigned char *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memcpy(mem + 0x7c00, sector, 512);
  struct kvm_userspace_memory_region region = { .slot = 0, .memory_size = 1 << 20, .userspace_addr = (unsigned long)mem };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int cpu = ioctl(vm, KVM_CREATE_VCPU, 0), mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
  struct kvm_sregs sregs;
  ioctl(cpu, KVM_GET_SREGS, &sregs);
  sregs.cs.base = 0; sregs.cs.selector = 0;
  ioctl(cpu, KVM_SET_SREGS, &sregs);
  struct kvm_regs regs = { .rip = 0x7c00, .rflags = 2 };
  ioctl(cpu, KVM_SET_REGS, &regs);
  size_t n = 0;
  for (;;) {
    if (ioctl(cpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason != KVM_EXIT_IO) { fprintf(stderr, "unexpected exit %u\n", run->exit_reason); exit(2); }
    if (run->io.port == 0xf4) break;
    if (run->io.port == 0x3f8 && n + 1 < size) out[n++] = *((char *)run + run->io.data_offset);
  }
  out[n] = 0;
  munmap(run, mmap_size); munmap(mem, 1 << 20); close(cpu); close(vm); close(kvm);
}

static void vessel_run(const char *vessel, const char *sector_path, char *out, size_t size) {
  int pipefd[2];
  if (pipe(pipefd) < 0) die("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1); close(pipefd[0]); close(pipefd[1]);
    execl(vessel, vessel, "run", "--backend", "kvm", "--kernel", sector_path, "--memory", "16M", "--serial", "stdio", (char *)NULL);
    die(vessel);
  }
  close(pipefd[1]);
  size_t n = 0;
  ssize_t got;
  while (n + 1 < size && (got = read(pipefd[0], out + n, size - 1 - n)) > 0) n += got;
  out[n] = 0;
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  /* isa-debug-exit with 0: status (0 << 1) | 1. */
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) { fprintf(stderr, "vessel ended with status 0x%x\n", status); exit(2); }
}

/* Appends the batch tick counts of one run's COM1 output to ticks; fails unless all of them are there. */
static int collect(const char *out, unsigned batches, double *ticks, int n, const char *who) {
  unsigned seen = 0, value;
  for (const char *p = out; (p = strchr(p, 'T')) != NULL; p++)
    if (sscanf(p, "T%8x", &value) == 1) { ticks[n++] = value; seen++; }
  if (seen != batches) { fprintf(stderr, "%s printed %u batch times, expected %u:\n%s\n", who, seen, batches, out); exit(2); }
  return n;
}

static double monotonic(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static double tsc_per_us(void) {
  double t0 = monotonic(); unsigned long long c0 = __rdtsc();
  while (monotonic() - t0 < 0.2) {}
  return (__rdtsc() - c0) / ((monotonic() - t0) * 1e6);
}

static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s VESSEL [BATCHES EXITS_PER_BATCH RUNS]\n", argv[0]); return 2; }
  unsigned batches = argc > 2 ? atoi(argv[2]) : 20, count = argc > 3 ? atoi(argv[3]) : 2000;
  int runs = argc > 4 ? atoi(argv[4]) : 3;
  if (batches < 1 || count < 1 || runs < 1) { fprintf(stderr, "counts must be positive\n"); return 2; }
  unsigned char sector[512];
  make_sector(sector, batches, count);
  char path[] = "/tmp/kvm-exit-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, sector, 512) != 512) die("temporary sector");
  close(fd);

  static char out[1 << 16];
  double *raw = malloc(sizeof(double) * batches * runs), *ves = malloc(sizeof(double) * batches * runs);
  int nraw = 0, nves = 0;
  for (int r = 0; r < runs; r++) {
    raw_run(sector, out, sizeof out);
    nraw = collect(out, batches, raw, nraw, "the raw peer");
    vessel_run(argv[1], path, out, sizeof out);
    nves = collect(out, batches, ves, nves, "vessel");
  }
  unlink(path);
  qsort(raw, nraw, sizeof *raw, by_value);
  qsort(ves, nves, sizeof *ves, by_value);
  double us = tsc_per_us() * count;
  printf("exit-bench: %d runs each of %u batches of %u `out 0x80` exits, timed by the guest (TSC %.0f MHz)\n",
         runs, batches, count, us / count);
  printf("exit-bench: raw ioctls (C): %.2f us per exit (fastest batch), %.2f us (median)\n", raw[0] / us, raw[nraw / 2] / us);
  printf("exit-bench: vessel:         %.2f us per exit (fastest batch), %.2f us (median)\n", ves[0] / us, ves[nves / 2] / us);
  printf("exit-bench: vessel / C per exit: %.3f (fastest batches), %.3f (medians)\n", ves[0] / raw[0], ves[nves / 2] / raw[nraw / 2]);
  return 0;
}
