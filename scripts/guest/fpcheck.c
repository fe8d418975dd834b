/* A static program for the guest: floating point through SSE2 (double), the x87 (long double) and
 * SSE integer code in libc (memcpy/strlen/memchr), printing one line. Run natively and in a guest, the
 * two lines must be identical: any difference is a CPU emulation bug. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t fold(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

int main(void)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    double d = 0.0;
    long double ld = 1.0L;
    for (int i = 1; i <= 2000; i++) {
        double x = i * 0.37;
        d += sqrt(x) * sin(x) / (1.0 + x * x);
        double r = (double)(int64_t)(x * 1e6) / 3.0;
        h = fold(h, &r, sizeof r);
        ld = ld * (1.0L + 1.0L / (long double)(i * 7 + 3));
        long double q = sqrtl((long double)i) / 3.0L;
        h = fold(h, &q, 10);
    }
    char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)('a' + (i * 7) % 26);
    buf[sizeof buf - 1] = 0;
    char copy[4096];
    memcpy(copy, buf, sizeof buf);
    size_t len = strlen(copy);
    const char *z = memchr(copy, 'z', len);
    h = fold(h, copy, len);
    printf("fpcheck d=%.17g ld=%.21Lg len=%zu z=%td h=%016llx\n", d, ld, len, z - copy, (unsigned long long)h);
    return 0;
}
