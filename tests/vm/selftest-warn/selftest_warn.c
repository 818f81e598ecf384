// SPDX-License-Identifier: GPL-2.0
/*
 * selftest_warn - deliberately trips WARN_ON(1) when loaded.
 *
 * tests/vm/runner-selftest insmods this in the guest and expects
 * tests/vm/run to exit 125 ("guest kernel splat") naming the WARNING.
 * It stays loaded (init returns 0) so the test also shows that a splat
 * is caught even when the command itself succeeds.
 */
#include <linux/bug.h>
#include <linux/init.h>
#include <linux/module.h>

static int __init selftest_warn_init(void)
{
	WARN_ON(1);
	return 0;
}

static void __exit selftest_warn_exit(void)
{
}

module_init(selftest_warn_init);
module_exit(selftest_warn_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tests/vm/run self-test: WARN_ON(1) in module init");
