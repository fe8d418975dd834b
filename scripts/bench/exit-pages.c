/* What one exit round trip costs a VMM's user space, counted rather than timed: reads the memory trace of
 * `valgrind --tool=lackey --trace-mem=yes` on stdin, cuts it at every execution of the ioctl's `syscall`
 * instruction (2 bytes; its address's low 12 bits given, since libc is mapped at a page boundary), and for each
 * piece counts the instructions run and the distinct code and data pages touched. Prints the most common
 * (steady-state) pieces, then the pages of one such piece with the first instruction that touched each.
 * Under nested virtualization every page an exit touches in L1 costs a page walk (see docs/performance.md).
 *
 *   valgrind --tool=lackey --trace-mem=yes --log-fd=9 VMM ... 9>&1 >/dev/null | exit-pages SYSCALL_LOW12 [PIECE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MaxPages = 4096, MaxShapes = 4096 };

struct page { unsigned long number; int code; unsigned long first_ip; };
struct shape { long instructions; int code_pages, data_pages; long count; };

static struct page piece[MaxPages], shown[MaxPages];
static int piece_pages, shown_pages;
static long piece_instructions, shown_instructions, pieces;
static struct shape shapes[MaxShapes];
static int shape_count;

static void touch(unsigned long address, int code, unsigned long ip) {
  unsigned long number = address >> 12;
  for (int i = 0; i < piece_pages; i++)
    if (piece[i].number == number && piece[i].code == code) return;
  if (piece_pages < MaxPages) piece[piece_pages++] = (struct page){ number, code, ip };
}

static void end_piece(long keep) {
  int code = 0;
  for (int i = 0; i < piece_pages; i++) code += piece[i].code;
  int s = 0;
  while (s < shape_count && !(shapes[s].instructions == piece_instructions && shapes[s].code_pages == code &&
                               shapes[s].data_pages == piece_pages - code)) s++;
  if (s == shape_count && shape_count < MaxShapes)
    shapes[shape_count++] = (struct shape){ piece_instructions, code, piece_pages - code, 0 };
  if (s < shape_count) shapes[s].count++;
  if (pieces++ == keep) {
    memcpy(shown, piece, sizeof piece[0] * piece_pages);
    shown_pages = piece_pages;
    shown_instructions = piece_instructions;
  }
  piece_pages = 0;
  piece_instructions = 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s SYSCALL_LOW12_HEX [PIECE]\n", argv[0]); return 2; }
  unsigned long mark = strtoul(argv[1], NULL, 16) & 0xfff;
  long keep = argc > 2 ? atol(argv[2]) : 500;
  char line[256];
  unsigned long ip = 0, address;
  int size;
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == 'I' && sscanf(line + 1, " %lx,%d", &address, &size) == 2) {
      ip = address;
      piece_instructions++;
      touch(address, 1, ip);
      touch(address + size - 1, 1, ip);
      if ((address & 0xfff) == mark && size == 2) end_piece(keep);
    } else if (line[0] == ' ' && strchr("LSM", line[1]) && sscanf(line + 2, " %lx,%d", &address, &size) == 2) {
      touch(address, 0, ip);
      touch(address + size - 1, 0, ip);
    }
  }
  printf("exit-pages: %ld pieces between syscalls; the most common:\n", pieces);
  for (int k = 0; k < 4; k++) {
    int best = -1;
    for (int s = 0; s < shape_count; s++)
      if (shapes[s].count > 0 && (best < 0 || shapes[s].count > shapes[best].count)) best = s;
    if (best < 0) break;
    printf("exit-pages: %6ld x %ld instructions, %d code pages, %d data pages\n", shapes[best].count,
           shapes[best].instructions, shapes[best].code_pages, shapes[best].data_pages);
    shapes[best].count = -shapes[best].count;
  }
  printf("exit-pages: piece %ld (%ld instructions) touched:\n", keep, shown_instructions);
  for (int i = 0; i < shown_pages; i++)
    printf("exit-pages:   %s page %lx000, first by the instruction at %lx\n", shown[i].code ? "code" : "data",
           shown[i].number, shown[i].first_ip);
  return 0;
}
