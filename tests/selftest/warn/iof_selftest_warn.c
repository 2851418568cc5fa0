// SPDX-License-Identifier: GPL-2.0
/*
 * iof_selftest_warn: misbehaves on purpose for the VM runner's self-tests
 * (tests/selftest/).  Its init never succeeds:
 *
 *   mode=warn    (default) WARN_ON(1), then -EAGAIN: the runner must fail
 *                the test on the WARNING in the kernel log, although the
 *                test itself exits 0.
 *   mode=freeze  every CPU spins with interrupts off: the guest stops dead
 *                and the host's watchdog must kill the VM.
 *
 * Built by tests/vm/run-suite --selftest, for the kernel under test only.
 */
#include <linux/bug.h>
#include <linux/module.h>
#include <linux/processor.h>
#include <linux/smp.h>
#include <linux/string.h>

static char *mode = "warn";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "warn (default) or freeze");

static void iof_selftest_spin(void *unused)
{
	local_irq_disable();
	for (;;)
		cpu_relax();
}

static int __init iof_selftest_init(void)
{
	if (!strcmp(mode, "freeze")) {
		pr_info("iof_selftest_warn: stopping every CPU\n");
		/* Does not return: this CPU spins too. */
		on_each_cpu(iof_selftest_spin, NULL, 0);
		return -EAGAIN;
	}
	WARN_ON(1);
	return -EAGAIN;
}

static void __exit iof_selftest_exit(void)
{
}

module_init(iof_selftest_init);
module_exit(iof_selftest_exit);
MODULE_DESCRIPTION("iofilter VM runner self-test: a WARNING or a frozen kernel");
MODULE_LICENSE("GPL");
