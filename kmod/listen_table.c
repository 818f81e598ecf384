// SPDX-License-Identifier: GPL-2.0
/*
 * The per-netns table of CPU-local listeners.
 *
 * A group is one listening address (family, address, port, bound device,
 * IPV6_V6ONLY): the original listener and its local copies (spawn.c), or a
 * server's own per-worker sockets (register.c), all members of one
 * SO_REUSEPORT group. A group has at most one local listener per CPU.
 *
 * Ownership and lifetime:
 *  - A local listener socket is owned by its file, i.e. by the processes
 *    holding its fds. The table never keeps it listening: when it leaves
 *    TCP_LISTEN (last close, shutdown), close_watch.c calls
 *    fsk_table_forget(), which unlinks the entry before tcp_close()
 *    orphans the socket. So "linked" implies "listening, sk_socket and
 *    its file allocated", which fsk_table_get_file() relies on.
 *  - Entries are found by socket pointer (fn->by_sk), never by a key
 *    recomputed from the socket: its bound device can change while it is
 *    linked (SO_BINDTODEVICE needs no privilege on an unbound socket).
 *  - struct fsk_local holds one socket reference and one reference to the
 *    owner's struct pid, both taken at insert. After unlinking,
 *    fsk_local_free_rcu() drops them one RCU grace period later, so the
 *    steering hook (an RCU reader in softirq) may use ->sk until the end
 *    of its read-side section, but never longer.
 *  - A socket is in one slot at most (fsk_group_check_slot()).
 *  - struct fsk_group is freed after a grace period when its last local
 *    goes.
 *  - fn->lock serialises all writers of one netns's table (fsk.h says
 *    why it is a raw spinlock); readers use RCU only.
 *  - Parking (park.c) only flags an entry; a parked entry keeps its
 *    reference and its slot, and is unlinked like any other.
 *  - Quotas: every linked entry counts once in fn->nr_local and in its
 *    owner's struct fsk_user, charged by the insert that links it and
 *    given back by fsk_local_unlink(), the one place an entry leaves.
 *    An insert past net.fastsocket.max_local_listeners or
 *    max_local_listeners_per_user fails with -EDQUOT; a SPAWN handing
 *    out an existing entry's file adds nothing.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/rculist.h>
#include <linux/hash.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>
#include <linux/file.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/sock_reuseport.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/tcp_states.h>
#include <linux/fastsocket.h>

#include "fsk.h"
#include "compat.h"

struct fsk_key {
	struct in6_addr addr;	/* IPv4 stored v4-mapped */
	int bound_dev_if;
	u16 family;
	u16 port;		/* host order */
	bool v6only;		/* v6only and dual-stack never share a group */
};

/* Longer ago than any unwatched_grace_ms (at most 60 s). */
#define FSK_NEVER_WAITED	(60 * HZ + 1)

struct fsk_group;

/*
 * The local listeners one owner has in one netns. The owner is the
 * socket's sk_uid, the uid placement load is counted by (cpu.c): a
 * copy's is that of the original's opener (clone.c), a registered
 * socket's its creator's. Owned by fn->users[]: added by the insert of
 * the owner's first local listener, unlinked with its last one by
 * fsk_local_unlink() and freed a grace period later (/proc reads
 * fn->users[] under RCU). Each linked fsk_local holds one count, so
 * none is left after fsk_table_exit().
 */
struct fsk_user {
	struct hlist_node node;		/* fn->users[], RCU */
	kuid_t uid;
	unsigned int nr_local;		/* written under fn->lock */
	struct rcu_head rcu;
};

struct fsk_local {
	struct sock *sk;		/* one reference, dropped after RCU */
	struct fsk_group *group;
	struct hlist_node by_sk;	/* fn->by_sk, under fn->lock */
	unsigned int cpu;
	unsigned int nr_spawns;		/* fds handed out (shown in /proc) */
	struct pid *owner;		/* the first spawner's thread group */
	struct fsk_user *user;		/* its quota, one count */
	bool registered;		/* the app's own socket (register.c) */
	bool parked;			/* steer nothing to it (park.c) */
	/*
	 * jiffies a SYN last found a waiter; the hook writes it under RCU
	 * only, without fn->lock: a lost update moves at most one SYN.
	 */
	unsigned long waited;
	struct rcu_head rcu;
};

struct fsk_group {
	struct hlist_node node;		/* fn->buckets[], RCU */
	struct fsk_key key;
	unsigned int nr_local;
	unsigned int nr_parked;		/* locals parked: the hook's filter */
	struct rcu_head rcu;
	struct fsk_local __rcu *local[];	/* nr_cpu_ids slots */
};

static void fsk_key_from_sk(const struct sock *sk, struct fsk_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = sk->sk_family;
	/*
	 * Not inet_num: tcp_set_state(TCP_CLOSE) releases the port of a
	 * socket bound to port 0 (zeroing inet_num); inet_sport keeps it.
	 */
	key->port = ntohs(inet_sk(sk)->inet_sport);
	key->bound_dev_if = READ_ONCE(sk->sk_bound_dev_if);
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6) {
		key->addr = sk->sk_v6_rcv_saddr;
		key->v6only = ipv6_only_sock(sk);
		return;
	}
#endif
	ipv6_addr_set_v4mapped(sk->sk_rcv_saddr, &key->addr);
}

static bool fsk_key_equal(const struct fsk_key *a, const struct fsk_key *b)
{
	return a->family == b->family && a->port == b->port &&
	       a->bound_dev_if == b->bound_dev_if && a->v6only == b->v6only &&
	       ipv6_addr_equal(&a->addr, &b->addr);
}

static struct hlist_head *fsk_bucket(struct fsk_net *fn, u16 port)
{
	return &fn->buckets[port % FSK_PORT_BUCKETS];
}

static struct hlist_head *fsk_sk_bucket(struct fsk_net *fn,
					const struct sock *sk)
{
	return &fn->by_sk[hash_ptr(sk, ilog2(FSK_SK_BUCKETS))];
}

static struct fsk_group *fsk_group_find(struct fsk_net *fn,
					const struct fsk_key *key)
{
	struct fsk_group *g;

	hlist_for_each_entry_rcu(g, fsk_bucket(fn, key->port), node,
				 lockdep_is_held(&fn->lock))
		if (fsk_key_equal(&g->key, key))
			return g;
	return NULL;
}

/*
 * Call @visit for every linked local listener of @fn, under RCU: the
 * readers (/proc, the placement load) need no lock.
 */
typedef void (*fsk_visit_t)(const struct fsk_group *g,
			    const struct fsk_local *local, void *arg);

static void fsk_table_walk(struct fsk_net *fn, fsk_visit_t visit, void *arg)
{
	const struct fsk_local *local;
	struct fsk_group *g;
	unsigned int i, cpu;

	rcu_read_lock();
	for (i = 0; i < FSK_PORT_BUCKETS; i++) {
		hlist_for_each_entry_rcu(g, &fn->buckets[i], node) {
			for_each_possible_cpu(cpu) {
				local = rcu_dereference(g->local[cpu]);
				if (local)
					visit(g, local, arg);
			}
		}
	}
	rcu_read_unlock();
}

/* Cheap first filter of the hook: is anything of ours on this port? */
bool fsk_table_serves_port(struct fsk_net *fn, u16 port)
{
	struct fsk_group *g;

	hlist_for_each_entry_rcu(g, fsk_bucket(fn, port), node)
		if (g->key.port == port)
			return true;
	return false;
}

/*
 * The local listener of @g that @sk is, found through the CPU every copy
 * carries (clone.c), under RCU; registered sockets carry none.
 */
static struct fsk_local *fsk_group_local_of(struct fsk_group *g,
					    const struct sock *sk)
{
	int cpu = READ_ONCE(sk->sk_incoming_cpu);
	struct fsk_local *local;

	if (cpu < 0 || cpu >= nr_cpu_ids)
		return NULL;
	local = rcu_dereference(g->local[cpu]);
	return local && local->sk == sk ? local : NULL;
}

/* Is @sk a parked local listener of @g? Registered sockets never are. */
static bool fsk_sk_parked(struct fsk_group *g, const struct sock *sk)
{
	struct fsk_local *local = fsk_group_local_of(g, sk);

	return local && READ_ONCE(local->parked);
}

/*
 * A listening member of @reuse that is not parked, or NULL. The search
 * starts at a place that depends on @cpu, so that the SYNs of different
 * CPUs spread over the members. Caller holds rcu_read_lock(); members are
 * SOCK_RCU_FREE, as for reuseport_select_sock().
 */
static struct sock *fsk_group_unparked(struct fsk_group *g,
				       struct sock_reuseport *reuse,
				       unsigned int cpu)
{
	unsigned int i, n;
	struct sock *sk;

	n = READ_ONCE(reuse->num_socks);
	/* Paired with the smp_wmb() of reuseport_add_sock(), as in
	 * reuseport_select_sock(): num_socks before socks[].
	 */
	smp_rmb();
	for (i = 0; i < n; i++) {
		sk = reuse->socks[(cpu + i) % n];
		if (READ_ONCE(sk->sk_state) == TCP_LISTEN &&
		    !fsk_sk_parked(g, sk))
			return sk;
	}
	return NULL;
}

/* May the hook give @listener's SYN to @local instead? */
static bool fsk_local_can_take(const struct fsk_local *local,
			       const struct sock *listener,
			       const struct sock_reuseport *reuse)
{
	const struct sock *sk = local->sk;
	struct sock_reuseport *r = rcu_dereference(sk->sk_reuseport_cb);

	return READ_ONCE(sk->sk_state) == TCP_LISTEN && r &&
	       r->reuseport_id == reuse->reuseport_id &&
	       READ_ONCE(sk->sk_bound_dev_if) ==
	       READ_ONCE(listener->sk_bound_dev_if);
}

/*
 * Does anyone wait on @sk: an accept, poll or select blocked in it, an
 * epoll set or an io_uring poll holding it? Caller holds rcu_read_lock().
 */
static bool fsk_sk_watched(const struct sock *sk)
{
	return skwq_has_sleeper(rcu_dereference(sk->sk_wq));
}

/*
 * Does someone wait on @local, or did when one of its SYNs of the last
 * unwatched_grace_ms arrived? A worker that polls or blocks in accept is out
 * of its wait while it serves what it accepted and on its way back in;
 * its next SYN is still its own, or a sequential client on its CPU would
 * lose locality on every connection. A worker that has not been found
 * waiting for that long is busy, or accepts some other way (io_uring).
 */
static bool fsk_local_watched(struct fsk_local *local)
{
	unsigned long now = jiffies;

	if (fsk_sk_watched(local->sk)) {
		if (READ_ONCE(local->waited) != now)
			WRITE_ONCE(local->waited, now);
		return true;
	}
	if (time_before_eq(now, READ_ONCE(local->waited) +
			   msecs_to_jiffies(READ_ONCE(fsk_unwatched_grace_ms))))
		return true;
	/* Keep "never" within time_before()'s range however long it lasts. */
	WRITE_ONCE(local->waited, now - FSK_NEVER_WAITED);
	return false;
}

/*
 * Instead of @idle, a local listener nobody waits on: a listening,
 * unparked member of @reuse someone waits on; else one that is no CPU's
 * local listener (the application's own socket, which all its accept
 * paths reach); else NULL. Only a local listener's owner accepts from it,
 * and only through the calls the shim sees: a worker that went on to
 * accept through io_uring, or is busy between blocking accepts, would
 * leave a SYN given to it waiting, possibly for ever.
 */
static struct sock *fsk_group_watched(struct fsk_group *g,
				      struct sock_reuseport *reuse,
				      unsigned int cpu, const struct sock *idle)
{
	struct sock *sk, *shared = NULL;
	unsigned int i, n;

	n = READ_ONCE(reuse->num_socks);
	smp_rmb();	/* as in fsk_group_unparked() */
	for (i = 0; i < n; i++) {
		sk = reuse->socks[(cpu + i) % n];
		if (sk == idle || READ_ONCE(sk->sk_state) != TCP_LISTEN ||
		    fsk_sk_parked(g, sk))
			continue;
		if (fsk_sk_watched(sk))
			return sk;
		if (!shared && !fsk_group_local_of(g, sk))
			shared = sk;
	}
	return shared;
}

/*
 * Where a SYN that the kernel's own lookup gave to @listener goes on
 * @cpu. FSK_PICK_LOCAL: *sk is the CPU's local listener. Otherwise *sk is
 * NULL, and the kernel's choice stands, unless that is a parked local
 * listener: then *sk is another listening member of its group (NULL if
 * there is none). Then, a local listener nobody waits on takes no SYN
 * while a member someone waits on, or the application's own socket, can:
 * *sk is that member and *unwatched true (FSK_PICK_UNWATCHED instead of
 * FSK_PICK_LOCAL). @listener is what the kernel chose, so a more specific
 * or unrelated listener on the same port is never overridden, and
 * neither is the choice of a reuseport BPF program, nor a listener whose
 * socket filter a copy would not apply (FSK_PICK_SKIPPED). Caller holds
 * rcu_read_lock(); *sk is valid until it drops it.
 */
enum fsk_pick fsk_table_pick(struct fsk_net *fn, const struct sock *listener,
			     unsigned int cpu, struct sock **sk,
			     bool *unwatched)
{
	struct sock_reuseport *reuse;
	struct fsk_local *local, *tl;
	const struct sock *target;
	struct fsk_group *g;
	struct sock *other;
	struct fsk_key key;
	enum fsk_pick pick;

	*sk = NULL;
	*unwatched = false;
	fsk_key_from_sk(listener, &key);
	g = fsk_group_find(fn, &key);
	if (!g)
		return FSK_PICK_UNSERVED;
	reuse = rcu_dereference(listener->sk_reuseport_cb);
	if (!reuse)
		return FSK_PICK_UNSERVED;
	if (rcu_access_pointer(reuse->prog) ||
	    rcu_access_pointer(listener->sk_filter))
		return FSK_PICK_SKIPPED;
	/*
	 * listen_spawn 0 turns this netns's steering off at once: SYNs go
	 * where the kernel sends them, as on a CPU without a local
	 * listener, so the parked and unwatched rules below still apply.
	 */
	local = READ_ONCE(fn->listen_spawn) == FASTSOCKET_SPAWN_OFF ? NULL :
		rcu_dereference(g->local[cpu]);
	pick = FSK_PICK_NO_LOCAL;
	if (local && fsk_local_can_take(local, listener, reuse)) {
		if (!READ_ONCE(local->parked)) {
			*sk = local->sk;
			pick = FSK_PICK_LOCAL;
		} else {
			pick = FSK_PICK_PARKED;
		}
	}
	if (pick != FSK_PICK_LOCAL && READ_ONCE(g->nr_parked) &&
	    fsk_sk_parked(g, listener))
		*sk = fsk_group_unparked(g, reuse, cpu);
	target = *sk ? *sk : listener;
	tl = fsk_group_local_of(g, target);
	if (tl && !fsk_local_watched(tl)) {
		other = fsk_group_watched(g, reuse, cpu, target);
		if (other) {
			*sk = other;
			*unwatched = true;
			if (pick == FSK_PICK_LOCAL)
				pick = FSK_PICK_UNWATCHED;
		}
	}
	return pick;
}

static void fsk_local_free_rcu(struct rcu_head *head)
{
	struct fsk_local *local = container_of(head, struct fsk_local, rcu);

	sock_put(local->sk);
	put_pid(local->owner);
	kfree(local);
}

static void fsk_group_free_rcu(struct rcu_head *head)
{
	kfree(container_of(head, struct fsk_group, rcu));
}

static struct fsk_local *fsk_local_locked(struct fsk_net *fn,
					  struct fsk_group *g, unsigned int cpu)
{
	return rcu_dereference_protected(g->local[cpu],
					 lockdep_is_held(&fn->lock));
}

static void fsk_local_set_parked(struct fsk_net *fn, struct fsk_local *local,
				 bool park)
{
	lockdep_assert_held(&fn->lock);
	if (local->parked == park)
		return;
	WRITE_ONCE(local->parked, park);
	WRITE_ONCE(local->group->nr_parked,
		   local->group->nr_parked + (park ? 1 : -1));
}

static struct hlist_head *fsk_user_bucket(struct fsk_net *fn, kuid_t uid)
{
	return &fn->users[hash_32(__kuid_val(uid), ilog2(FSK_USER_BUCKETS))];
}

static struct fsk_user *fsk_user_find(struct fsk_net *fn, kuid_t uid)
{
	struct fsk_user *u;

	lockdep_assert_held(&fn->lock);
	hlist_for_each_entry(u, fsk_user_bucket(fn, uid), node)
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/*
 * Count @local, not yet linked, against the netns's limit and its
 * owner's: 0, or -EDQUOT with nothing counted. An owner's first local
 * listener takes *@new (and clears it). A limit lowered below the
 * current count only refuses new local listeners.
 */
static int fsk_quota_charge(struct fsk_net *fn, struct fsk_local *local,
			    struct fsk_user **new)
{
	kuid_t uid = local->sk->sk_uid;
	struct fsk_user *u;

	lockdep_assert_held(&fn->lock);
	if (fn->nr_local >= READ_ONCE(fn->max_local))
		return -EDQUOT;
	u = fsk_user_find(fn, uid);
	if (u && u->nr_local >= READ_ONCE(fn->max_local_per_user))
		return -EDQUOT;
	if (!u) {
		u = *new;
		*new = NULL;
		u->uid = uid;
		hlist_add_head_rcu(&u->node, fsk_user_bucket(fn, uid));
	}
	WRITE_ONCE(u->nr_local, u->nr_local + 1);
	WRITE_ONCE(fn->nr_local, fn->nr_local + 1);
	local->user = u;
	return 0;
}

static void fsk_user_free_rcu(struct rcu_head *head)
{
	kfree(container_of(head, struct fsk_user, rcu));
}

/*
 * Give back @local's count. Freed with call_rcu(), not kfree(): this runs
 * under a raw spinlock, where PREEMPT_RT may not free memory.
 */
static void fsk_quota_uncharge(struct fsk_net *fn, struct fsk_local *local)
{
	struct fsk_user *u = local->user;

	lockdep_assert_held(&fn->lock);
	if (WARN_ON_ONCE(!fn->nr_local || !u->nr_local))
		return;
	WRITE_ONCE(fn->nr_local, fn->nr_local - 1);
	WRITE_ONCE(u->nr_local, u->nr_local - 1);
	if (!u->nr_local) {
		hlist_del_rcu(&u->node);
		call_rcu(&u->rcu, fsk_user_free_rcu);
	}
}

static void fsk_local_unlink(struct fsk_net *fn, struct fsk_local *local)
{
	struct fsk_group *g = local->group;

	lockdep_assert_held(&fn->lock);
	fsk_quota_uncharge(fn, local);
	RCU_INIT_POINTER(g->local[local->cpu], NULL);
	hlist_del(&local->by_sk);
	fsk_local_set_parked(fn, local, false);
	call_rcu(&local->rcu, fsk_local_free_rcu);
	if (--g->nr_local == 0) {
		hlist_del_rcu(&g->node);
		call_rcu(&g->rcu, fsk_group_free_rcu);
	}
}

/* The table entry of @sk, or NULL. */
static struct fsk_local *fsk_local_of(struct fsk_net *fn,
				      const struct sock *sk)
{
	struct fsk_local *local;

	lockdep_assert_held(&fn->lock);
	hlist_for_each_entry(local, fsk_sk_bucket(fn, sk), by_sk)
		if (local->sk == sk)
			return local;
	return NULL;
}

enum fsk_relation { FSK_SAME_GROUP, FSK_OTHER_GROUP, FSK_CLOSING };

/*
 * How @local's socket relates to @orig's reuseport group. tcp_set_state()
 * unhashes a closing listener, which takes it out of its group, before
 * the close probe runs: a linked local without a group is closing. Each
 * group pointer is read once: it can drop to NULL at any time.
 */
static enum fsk_relation fsk_local_group_of(const struct fsk_local *local,
					    const struct sock *orig)
{
	struct sock_reuseport *rl, *ro;
	enum fsk_relation rel;

	rcu_read_lock();
	rl = rcu_dereference(local->sk->sk_reuseport_cb);
	ro = rcu_dereference(orig->sk_reuseport_cb);
	if (!rl)
		rel = FSK_CLOSING;
	else if (!ro || rl->reuseport_id != ro->reuseport_id)
		rel = FSK_OTHER_GROUP;
	else
		rel = FSK_SAME_GROUP;
	rcu_read_unlock();
	return rel;
}

/*
 * A new reference to the file of @orig's local listener on @cpu; NULL when
 * there is none (make one), ERR_PTR(-EBUSY) when the slot is not one a
 * SPAWN may hand out: a server's registered socket, or a listener of
 * another SO_REUSEPORT group on the same address. An entry whose socket
 * is already closing (its file count hit zero, or it left its group;
 * close_watch has not run yet) is unlinked here so the caller can make a
 * fresh one. A parked one is
 * resumed: the caller is a worker about to accept from it, and a sharer
 * that parked it may have closed its fd since and never resume it.
 */
struct file *fsk_table_get_file(struct fsk_net *fn, const struct sock *orig,
				unsigned int cpu)
{
	struct fsk_local *local;
	struct file *file = NULL;
	unsigned long flags;
	struct fsk_group *g;
	struct fsk_key key;

	lockdep_assert_held(&fn->mutex);
	fsk_key_from_sk(orig, &key);
	raw_spin_lock_irqsave(&fn->lock, flags);
	g = fsk_group_find(fn, &key);
	local = g ? fsk_local_locked(fn, g, cpu) : NULL;
	if (!local)
		goto out;
	if (local->registered) {
		file = ERR_PTR(-EBUSY);
		goto out;
	}
	switch (fsk_local_group_of(local, orig)) {
	case FSK_CLOSING:
		fsk_local_unlink(fn, local);
		goto out;
	case FSK_OTHER_GROUP:
		file = ERR_PTR(-EBUSY);
		goto out;
	case FSK_SAME_GROUP:
		break;
	}
	/* Linked, so sk_socket and its file are still allocated. */
	file = local->sk->sk_socket->file;
	if (fsk_get_file_not_zero(file)) {
		local->nr_spawns++;
		fsk_local_set_parked(fn, local, false);
	} else {
		fsk_local_unlink(fn, local);
		file = NULL;
	}
out:
	raw_spin_unlock_irqrestore(&fn->lock, flags);
	return file;
}

/*
 * May @sk become @g's local listener on @cpu? 0, or -EALREADY if it
 * already is; a socket serves one CPU at most (-EEXIST), a CPU has one
 * local listener per group (-EBUSY).
 */
static int fsk_group_check_slot(struct fsk_net *fn, struct fsk_group *g,
				const struct sock *sk, unsigned int cpu)
{
	struct fsk_local *local = fsk_local_of(fn, sk);

	if (local)
		return local->group != g ? -EBUSY :
		       local->cpu == cpu ? -EALREADY : -EEXIST;
	return fsk_local_locked(fn, g, cpu) ? -EBUSY : 0;
}

/*
 * Register the listening socket @sk as the local listener on @cpu:
 * 0, or -EALREADY, -EEXIST, -EBUSY (fsk_group_check_slot()), -EDQUOT
 * (fsk_quota_charge()), -ENOMEM.
 * The caller holds fn->mutex and guarantees @sk is listening and stays so
 * until this returns (a private copy, or its socket lock).
 */
int fsk_table_insert(struct fsk_net *fn, struct sock *sk, unsigned int cpu,
		     bool registered)
{
	struct fsk_group *g, *new_g;
	struct fsk_local *local;
	struct fsk_user *new_u;
	unsigned long flags;
	struct fsk_key key;
	int err = 0;

	lockdep_assert_held(&fn->mutex);
	fsk_key_from_sk(sk, &key);
	local = kzalloc(sizeof(*local), GFP_KERNEL_ACCOUNT);
	new_g = kzalloc(struct_size(new_g, local, nr_cpu_ids),
			GFP_KERNEL_ACCOUNT);
	new_u = kzalloc(sizeof(*new_u), GFP_KERNEL_ACCOUNT);
	if (!local || !new_g || !new_u) {
		err = -ENOMEM;
		goto out_free;
	}
	local->sk = sk;
	local->cpu = cpu;
	local->nr_spawns = 1;
	local->registered = registered;
	local->waited = jiffies - FSK_NEVER_WAITED;

	raw_spin_lock_irqsave(&fn->lock, flags);
	g = fsk_group_find(fn, &key);
	if (!g) {
		g = new_g;
		new_g = NULL;
		g->key = key;
		hlist_add_head_rcu(&g->node, fsk_bucket(fn, key.port));
	}
	err = fsk_group_check_slot(fn, g, sk, cpu);
	if (!err)
		err = fsk_quota_charge(fn, local, &new_u);
	if (!err) {
		local->group = g;
		local->owner = get_pid(task_tgid(current));
		sock_hold(sk);
		g->nr_local++;
		hlist_add_head(&local->by_sk, fsk_sk_bucket(fn, sk));
		rcu_assign_pointer(g->local[cpu], local);
		local = NULL;
	} else if (!g->nr_local) {
		/* The group we just added for this insert stays empty. */
		hlist_del_rcu(&g->node);
		call_rcu(&g->rcu, fsk_group_free_rcu);
	}
	raw_spin_unlock_irqrestore(&fn->lock, flags);
out_free:
	kfree(new_u);
	kfree(new_g);
	kfree(local);
	return err;
}

/*
 * Park or resume the spawned local listener @sk: 0, or -ENOENT if @sk is
 * not one (not in the table, or registered).
 */
int fsk_table_park(struct fsk_net *fn, const struct sock *sk, bool park)
{
	struct fsk_local *local;
	unsigned long flags;
	int err = -ENOENT;

	raw_spin_lock_irqsave(&fn->lock, flags);
	local = fsk_local_of(fn, sk);
	if (local && !local->registered) {
		fsk_local_set_parked(fn, local, park);
		err = 0;
	}
	raw_spin_unlock_irqrestore(&fn->lock, flags);
	return err;
}

/*
 * Called by close_watch.c when @sk leaves TCP_LISTEN, in tracepoint
 * context (preemption off, any task).
 */
void fsk_table_forget(const struct sock *sk)
{
	struct fsk_net *fn = fsk_net(sock_net(sk));
	struct fsk_local *local;
	unsigned long flags;

	if (!fn)	/* a listener closing while its netns is set up */
		return;
	raw_spin_lock_irqsave(&fn->lock, flags);
	local = fsk_local_of(fn, sk);
	if (local)
		fsk_local_unlink(fn, local);
	raw_spin_unlock_irqrestore(&fn->lock, flags);
}

struct fsk_load_arg {
	kuid_t uid;
	unsigned int *load;
};

static void fsk_add_load(const struct fsk_group *g,
			 const struct fsk_local *local, void *arg)
{
	struct fsk_load_arg *la = arg;
	struct socket *sock;
	struct file *file;

	if (!uid_eq(local->sk->sk_uid, la->uid))
		return;
	if (local->registered) {
		la->load[local->cpu]++;
		return;
	}
	/*
	 * The socket, its struct socket (an inode) and its file are all
	 * freed after a grace period, so these reads stay valid under RCU
	 * even if the listener is closing meanwhile.
	 */
	sock = READ_ONCE(local->sk->sk_socket);
	file = sock ? READ_ONCE(sock->file) : NULL;
	if (file)
		la->load[local->cpu] += file_count(file);
}

/*
 * Add to @load[cpu] the local-listener fds that the owner @uid's listeners
 * have on each CPU of @fn (a registered socket counts one): the load
 * FASTSOCKET_CPU_AUTO balances. Counting live fds, per netns and owner,
 * means neither closed fds nor another tenant's listeners weigh on a
 * placement.
 */
void fsk_table_load(struct fsk_net *fn, kuid_t uid, unsigned int *load)
{
	struct fsk_load_arg la = { .uid = uid, .load = load };

	fsk_table_walk(fn, fsk_add_load, &la);
}

/*
 * A new netns starts with the initial netns's limits (@init_fn; NULL for
 * the initial netns itself, which starts with the defaults): a tenant
 * never starts with more than the host allows.
 */
void fsk_table_init(struct fsk_net *fn, const struct fsk_net *init_fn)
{
	unsigned int i;

	mutex_init(&fn->mutex);
	raw_spin_lock_init(&fn->lock);
	for (i = 0; i < FSK_PORT_BUCKETS; i++)
		INIT_HLIST_HEAD(&fn->buckets[i]);
	for (i = 0; i < FSK_SK_BUCKETS; i++)
		INIT_HLIST_HEAD(&fn->by_sk[i]);
	for (i = 0; i < FSK_USER_BUCKETS; i++)
		INIT_HLIST_HEAD(&fn->users[i]);
	fn->nr_local = 0;
	fn->max_local = init_fn ? READ_ONCE(init_fn->max_local) :
		FSK_MAX_LOCAL_DEFAULT;
	fn->max_local_per_user = init_fn ?
		READ_ONCE(init_fn->max_local_per_user) :
		FSK_MAX_LOCAL_PER_USER_DEFAULT;
}

/*
 * Netns exit or rmmod: drop every entry. The sockets stay open and stay in
 * their reuseport group, owned by their fds; they are only no longer
 * steered to.
 */
void fsk_table_exit(struct fsk_net *fn)
{
	struct fsk_local *local;
	struct hlist_node *tmp;
	unsigned long flags;
	unsigned int i;

	raw_spin_lock_irqsave(&fn->lock, flags);
	for (i = 0; i < FSK_SK_BUCKETS; i++)
		hlist_for_each_entry_safe(local, tmp, &fn->by_sk[i], by_sk)
			fsk_local_unlink(fn, local);
	WARN_ON_ONCE(fn->nr_local);
	raw_spin_unlock_irqrestore(&fn->lock, flags);
}

static void fsk_count_local(const struct fsk_group *g,
			    const struct fsk_local *local, void *arg)
{
	unsigned int *count = arg;

	count[local->cpu]++;
}

void fsk_table_count_per_cpu(struct fsk_net *fn, unsigned int *count)
{
	fsk_table_walk(fn, fsk_count_local, count);
}

struct fsk_show_arg {
	struct seq_file *seq;
	struct pid_namespace *ns;
};

static void fsk_show_local(const struct fsk_group *g,
			   const struct fsk_local *local, void *arg)
{
	const struct fsk_key *key = &g->key;
	struct fsk_show_arg *sa = arg;
	struct seq_file *seq = sa->seq;

	if (key->family == AF_INET6)
		seq_printf(seq, "[%pI6c]:%u", &key->addr, key->port);
	else
		seq_printf(seq, "%pI4:%u", &key->addr.s6_addr32[3], key->port);
	seq_printf(seq, " %u %u %d %u %s\n", key->bound_dev_if, local->cpu,
		   pid_nr_ns(local->owner, sa->ns), READ_ONCE(local->nr_spawns),
		   local->registered ? "registered" :
		   READ_ONCE(local->parked) ? "parked" : "spawned");
}

/* Owners' pids as the reader's /proc sees them (0: not in its pid ns). */
void fsk_table_show(struct seq_file *seq, struct fsk_net *fn)
{
	struct fsk_show_arg sa = {
		.seq = seq,
		.ns = proc_pid_ns(file_inode(seq->file)->i_sb),
	};

	fsk_table_walk(fn, fsk_show_local, &sa);
}

/*
 * /proc/net/fastsocket's quota part: the netns's count and limits, then
 * a row per owner with local listeners, its uid as the reader's user
 * namespace sees it (overflowuid if unmapped).
 */
void fsk_table_show_quota(struct seq_file *seq, struct fsk_net *fn)
{
	struct user_namespace *ns = seq_user_ns(seq);
	const struct fsk_user *u;
	unsigned int i;

	seq_puts(seq, "quota local_listeners max max_per_user\n");
	seq_printf(seq, "%u %d %d\n", READ_ONCE(fn->nr_local),
		   READ_ONCE(fn->max_local), READ_ONCE(fn->max_local_per_user));
	seq_puts(seq, "user uid local_listeners\n");
	rcu_read_lock();
	for (i = 0; i < FSK_USER_BUCKETS; i++)
		hlist_for_each_entry_rcu(u, &fn->users[i], node)
			seq_printf(seq, "%u %u\n", from_kuid_munged(ns, u->uid),
				   READ_ONCE(u->nr_local));
	rcu_read_unlock();
}
