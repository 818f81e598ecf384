// SPDX-License-Identifier: GPL-2.0
/*
 * Learn when a local listener stops listening.
 *
 * A local listener is owned by its fds, not by the module, so the module
 * has to be told when the last one closes. Every TCP state change goes
 * through the inet_sock_set_state tracepoint; a probe on it sees the
 * LISTEN -> CLOSE transition of tcp_close() (and of shutdown()) while the
 * socket is still intact and tells the table to forget it. The probe's
 * cost on every other state change is one compare.
 *
 * The tracepoint is not exported as a symbol in 6.1, so it is found by
 * name with for_each_kernel_tracepoint().
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/tracepoint.h>
#include <linux/string.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "fsk.h"

static struct tracepoint *fsk_set_state_tp;

static void fsk_set_state_probe(void *data, const struct sock *sk,
				const int oldstate, const int newstate)
{
	if (oldstate != TCP_LISTEN || newstate == TCP_LISTEN ||
	    sk->sk_protocol != IPPROTO_TCP)
		return;
	fsk_table_forget(sk);
}

static void fsk_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "inet_sock_set_state"))
		fsk_set_state_tp = tp;
}

int fsk_close_watch_start(void)
{
	int err;

	for_each_kernel_tracepoint(fsk_find_tp, NULL);
	if (!fsk_set_state_tp) {
		pr_err("tracepoint inet_sock_set_state not found; kernel built without tracepoints?\n");
		return -ENOENT;
	}
	err = tracepoint_probe_register(fsk_set_state_tp, fsk_set_state_probe,
					NULL);
	if (err)
		pr_err("cannot attach to inet_sock_set_state: %d\n", err);
	return err;
}

void fsk_close_watch_stop(void)
{
	tracepoint_probe_unregister(fsk_set_state_tp, fsk_set_state_probe,
				    NULL);
	/* No probe may still be running once the module text can go. */
	tracepoint_synchronize_unregister();
}
