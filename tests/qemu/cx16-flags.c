// SPDX-License-Identifier: GPL-2.0
/*
 * cx16-flags: do the flags after CMPXCHG16B come out right?  (issue 24)
 *
 * CMPXCHG16B sets ZF and leaves every other flag as it was.  QEMU 7.2's TCG
 * computes the other flags in its helper from the lazily kept state of an
 * earlier instruction without first storing which instruction that was
 * (no gen_update_cc_op() before the helper, unlike pushf), so after "add
 * %rbx, %rcx; cmpxchg16b" the flags can be the low 32 bits of %rbx: DF, TF,
 * IF, IOPL, NT, AC and reserved bits included.  In a guest kernel that is
 * SLUB's per-CPU freelist cmpxchg, with a freelist pointer in the flags; an
 * interrupt taken before the next flag-setting instruction pushes those
 * flags and its IRET loads them: a kernel running with DF set copies
 * backwards (memory corruption), TF or NT set ends in a double fault.
 * Documentation/testing.rst, "Guest memory checks (issue 24)".
 *
 * Run natively and under qemu-x86_64 -cpu MODEL.  Exit 0: the flags are
 * right, or the CPU has no CMPXCHG16B (a kernel then never executes it);
 * exit 1: stray flags.
 */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>

static unsigned __int128 mem __attribute__((aligned(16)));

static uint64_t probe(uint64_t val)
{
	uint64_t flags, lo = 0, hi = 0, rbx = val, rcx = 0;

	mem = 0;
	asm volatile(
		/* a cmpxchg16b that ends a translation block (jne) */
		"mov $0, %%eax\n\t"
		"mov $0, %%edx\n\t"
		"cmpxchg16b %[m]\n\t"
		"jne 1f\n"
		"1:\n\t"
		/* an add (its source in %rbx), then a cmpxchg16b that fails */
		"add %%rbx, %%rcx\n\t"
		"mov $0, %%eax\n\t"
		"mov $0, %%edx\n\t"
		"cmpxchg16b %[m]\n\t"
		"pushfq\n\t"
		"popq %[f]\n\t"
		: [f] "=r"(flags), [m] "+m"(mem), "+a"(lo), "+d"(hi),
		  "+b"(rbx), "+c"(rcx)
		:
		: "cc");
	return flags;
}

/* What the add leaves (CF PF AF ZF SF OF), ZF cleared by the failed compare */
static uint64_t expected(uint64_t val)
{
	uint64_t flags, rcx = 0;

	asm volatile("add %[v], %[c]\n\t"
		     "pushfq\n\t"
		     "popq %[f]"
		     : [f] "=r"(flags), [c] "+r"(rcx)
		     : [v] "r"(val)
		     : "cc");
	return flags & ~0x40ULL;
}

int main(void)
{
	static const uint64_t vals[] = {
		0xff2c31a30e0f2a80ULL,	/* the double fault's %rdi */
		0x400,			/* DF */
		0x100,			/* TF */
		0x4000,			/* NT */
		0x40000,		/* AC */
	};
	unsigned int a, b, c, d, i;
	int bad = 0;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_CMPXCHG16B)) {
		printf("no CMPXCHG16B on this CPU: a kernel never executes it\n");
		return 0;
	}
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t f = probe(vals[i]), e = expected(vals[i]);

		printf("%%rbx=%#018llx flags %#010llx, expected %#010llx%s\n",
		       (unsigned long long)vals[i], (unsigned long long)f,
		       (unsigned long long)e, f == e ? "" : "  WRONG");
		bad |= f != e;
	}
	return bad;
}
