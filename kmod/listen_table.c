// SPDX-License-Identifier: GPL-2.0
/*
 * The per-netns table of CPU-local listeners.
 *
 * A group is one listening address (family, address, port, bound device):
 * the original listener and its local clones (spawn.c), or a server's own
 * per-worker sockets (register.c), all members of one SO_REUSEPORT group.
 * A group has at most one local listener per CPU.
 *
 * Ownership and lifetime:
 *  - A local listener socket is owned by its file, i.e. by the processes
 *    holding its fds. The table never keeps it listening: when the last fd
 *    closes, tcp_close() moves it out of TCP_LISTEN and close_watch.c calls
 *    fsk_table_forget(), which unlinks the entry.
 *  - struct fsk_local holds one socket reference (sock_hold() at insert).
 *    After unlinking, fsk_local_free_rcu() drops it one RCU grace period
 *    later, so the steering hook (an RCU reader in softirq) may use ->sk
 *    until the end of its read-side section, but never longer.
 *  - A socket is in one slot at most (fsk_group_holds()): spawned copies
 *    are made per CPU, and a registered socket (register.c) may serve
 *    one CPU only.
 *  - struct fsk_group is freed (kfree_rcu) when its last local goes.
 *  - fn->lock (taken with BH off: the hook's context) serialises all
 *    writers of one netns's table; readers use RCU only.
 *  - Parking (park.c) only flags an entry; a parked entry keeps its
 *    reference and its slot, and is unlinked like any other.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/file.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/sock_reuseport.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/tcp_states.h>

#include "fastsocket.h"

struct fsk_key {
	struct in6_addr addr;	/* IPv4 stored v4-mapped */
	int bound_dev_if;
	u16 family;
	u16 port;		/* host order */
};

struct fsk_group;

struct fsk_local {
	struct sock *sk;		/* one reference, dropped after RCU */
	struct fsk_group *group;
	unsigned int cpu;
	unsigned int nr_spawns;		/* fds handed out; CPU load share */
	pid_t owner;			/* tgid of the first spawner */
	bool registered;		/* the app's own socket (register.c) */
	bool parked;			/* steer nothing to it (park.c) */
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

/*
 * Local-listener fds handed out per CPU, across all netns: the load that
 * FASTSOCKET_CPU_AUTO balances. Written under fn->lock, read racily.
 */
static DEFINE_PER_CPU(atomic_t, fsk_load);

unsigned int fsk_cpu_load(unsigned int cpu)
{
	return atomic_read(per_cpu_ptr(&fsk_load, cpu));
}

static void fsk_key_from_sk(const struct sock *sk, struct fsk_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = sk->sk_family;
	/*
	 * Not inet_num: tcp_set_state(TCP_CLOSE) releases the port of a
	 * socket bound to port 0 (zeroing inet_num) before close_watch.c
	 * sees LISTEN -> CLOSE; inet_sport keeps the listening port.
	 */
	key->port = ntohs(inet_sk(sk)->inet_sport);
	key->bound_dev_if = READ_ONCE(sk->sk_bound_dev_if);
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6) {
		key->addr = sk->sk_v6_rcv_saddr;
		return;
	}
#endif
	ipv6_addr_set_v4mapped(sk->sk_rcv_saddr, &key->addr);
}

static bool fsk_key_equal(const struct fsk_key *a, const struct fsk_key *b)
{
	return a->family == b->family && a->port == b->port &&
	       a->bound_dev_if == b->bound_dev_if &&
	       ipv6_addr_equal(&a->addr, &b->addr);
}

static struct hlist_head *fsk_bucket(struct fsk_net *fn, u16 port)
{
	return &fn->buckets[port % FSK_PORT_BUCKETS];
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
 * Is @sk a parked local listener of @g? Copies made by SPAWN carry their
 * CPU in sk_incoming_cpu (clone.c), which makes this one slot lookup;
 * registered sockets are never parked. Caller holds rcu_read_lock().
 */
static bool fsk_sk_parked(struct fsk_group *g, const struct sock *sk)
{
	int cpu = READ_ONCE(sk->sk_incoming_cpu);
	struct fsk_local *local;

	if (cpu < 0 || cpu >= nr_cpu_ids)
		return false;
	local = rcu_dereference(g->local[cpu]);
	return local && local->sk == sk && READ_ONCE(local->parked);
}

/*
 * A listening member of @listener's reuseport group that is not parked,
 * or NULL. The search starts at a place that depends on @cpu, so that the
 * SYNs of different CPUs spread over the members. Caller holds
 * rcu_read_lock(); members are SOCK_RCU_FREE, as for
 * reuseport_select_sock().
 */
static struct sock *fsk_group_unparked(struct fsk_group *g,
				       const struct sock *listener,
				       unsigned int cpu)
{
	struct sock_reuseport *reuse;
	unsigned int i, n;
	struct sock *sk;

	reuse = rcu_dereference(listener->sk_reuseport_cb);
	if (!reuse)
		return NULL;
	n = READ_ONCE(reuse->num_socks);
	/* num_socks before socks[], as reuseport_select_sock() reads them */
	smp_rmb();
	for (i = 0; i < n; i++) {
		sk = reuse->socks[(cpu + i) % n];
		if (READ_ONCE(sk->sk_state) == TCP_LISTEN &&
		    !fsk_sk_parked(g, sk))
			return sk;
	}
	return NULL;
}

/*
 * Where a SYN that the kernel's own lookup gave to @listener goes on
 * @cpu. FSK_PICK_LOCAL: *sk is the CPU's local listener. Otherwise *sk is
 * NULL, and the kernel's choice stands, unless that is a parked local
 * listener: then *sk is another listening member of its group (NULL if
 * there is none). @listener is what the kernel chose, so a more specific
 * or unrelated listener on the same port is never overridden. Caller
 * holds rcu_read_lock(); *sk is valid until it drops it.
 */
enum fsk_pick fsk_table_pick(struct fsk_net *fn, const struct sock *listener,
			     unsigned int cpu, struct sock **sk)
{
	struct fsk_local *local;
	struct fsk_group *g;
	struct fsk_key key;
	enum fsk_pick pick;

	*sk = NULL;
	fsk_key_from_sk(listener, &key);
	g = fsk_group_find(fn, &key);
	if (!g)
		return FSK_PICK_UNSERVED;
	local = rcu_dereference(g->local[cpu]);
	pick = FSK_PICK_NO_LOCAL;
	if (local && READ_ONCE(local->sk->sk_state) == TCP_LISTEN &&
	    rcu_access_pointer(local->sk->sk_reuseport_cb) ==
	    rcu_access_pointer(listener->sk_reuseport_cb)) {
		if (!READ_ONCE(local->parked)) {
			*sk = local->sk;
			return FSK_PICK_LOCAL;
		}
		pick = FSK_PICK_PARKED;
	}
	if (READ_ONCE(g->nr_parked) && fsk_sk_parked(g, listener))
		*sk = fsk_group_unparked(g, listener, cpu);
	return pick;
}

static void fsk_local_free_rcu(struct rcu_head *head)
{
	struct fsk_local *local = container_of(head, struct fsk_local, rcu);

	sock_put(local->sk);
	kfree(local);
}

static struct fsk_local *fsk_local_locked(struct fsk_net *fn,
					  struct fsk_group *g, unsigned int cpu)
{
	return rcu_dereference_protected(g->local[cpu],
					 lockdep_is_held(&fn->lock));
}

/* Caller holds fn->lock. */
static void fsk_local_set_parked(struct fsk_local *local, bool park)
{
	if (local->parked == park)
		return;
	WRITE_ONCE(local->parked, park);
	WRITE_ONCE(local->group->nr_parked,
		   local->group->nr_parked + (park ? 1 : -1));
}

/* Caller holds fn->lock. */
static void fsk_local_unlink(struct fsk_net *fn, struct fsk_local *local)
{
	struct fsk_group *g = local->group;

	RCU_INIT_POINTER(g->local[local->cpu], NULL);
	fsk_local_set_parked(local, false);
	atomic_sub(local->nr_spawns, per_cpu_ptr(&fsk_load, local->cpu));
	call_rcu(&local->rcu, fsk_local_free_rcu);
	if (--g->nr_local == 0) {
		hlist_del_rcu(&g->node);
		kfree_rcu(g, rcu);
	}
}

/*
 * A new fd's file for @orig's local listener on @cpu, or NULL when there
 * is none. An entry whose file is already being released (f_count hit
 * zero, close_watch not yet run) is unlinked here so the caller can make
 * a fresh one. A parked one is resumed: the caller is a worker about to
 * accept from it, and a sharer that parked it may have closed its fd
 * since and never resume it. Called with the spawn mutex held.
 */
struct file *fsk_table_get_file(struct fsk_net *fn, const struct sock *orig,
				unsigned int cpu)
{
	struct fsk_local *local;
	struct file *file = NULL;
	struct fsk_group *g;
	struct fsk_key key;

	fsk_key_from_sk(orig, &key);
	spin_lock_bh(&fn->lock);
	g = fsk_group_find(fn, &key);
	local = g ? fsk_local_locked(fn, g, cpu) : NULL;
	if (local) {
		/*
		 * Linked means tcp_close() has not passed close_watch yet, so
		 * sk_socket and its file are still allocated.
		 */
		file = local->sk->sk_socket->file;
		if (get_file_rcu(file)) {
			local->nr_spawns++;
			atomic_inc(per_cpu_ptr(&fsk_load, cpu));
			fsk_local_set_parked(local, false);
		} else {
			fsk_local_unlink(fn, local);
			file = NULL;
		}
	}
	spin_unlock_bh(&fn->lock);
	return file;
}

/*
 * May @sk become @g's local listener on @cpu? -EALREADY if it already
 * is; a socket serves one CPU at most (-EEXIST), a CPU has one local
 * listener per group (-EBUSY). Caller holds fn->lock.
 */
static int fsk_group_holds(struct fsk_net *fn, struct fsk_group *g,
			   const struct sock *sk, unsigned int cpu)
{
	struct fsk_local *local;
	unsigned int c;

	for_each_possible_cpu(c) {
		local = fsk_local_locked(fn, g, c);
		if (local && local->sk == sk)
			return c == cpu ? -EALREADY : -EEXIST;
	}
	return fsk_local_locked(fn, g, cpu) ? -EBUSY : 0;
}

/*
 * Register the listening socket @sk as the local listener on @cpu:
 * 0, or -EALREADY, -EEXIST, -EBUSY (fsk_group_holds()), -ENOMEM.
 */
int fsk_table_insert(struct fsk_net *fn, struct sock *sk, unsigned int cpu,
		     bool registered)
{
	struct fsk_group *g, *new_g;
	struct fsk_local *local;
	struct fsk_key key;
	int err = 0;

	fsk_key_from_sk(sk, &key);
	local = kzalloc(sizeof(*local), GFP_KERNEL);
	new_g = kzalloc(struct_size(new_g, local, nr_cpu_ids), GFP_KERNEL);
	if (!local || !new_g) {
		err = -ENOMEM;
		goto out_free;
	}
	local->sk = sk;
	local->cpu = cpu;
	local->nr_spawns = 1;
	local->registered = registered;
	local->owner = task_tgid_nr(current);

	spin_lock_bh(&fn->lock);
	g = fsk_group_find(fn, &key);
	if (!g) {
		g = new_g;
		new_g = NULL;
		g->key = key;
		hlist_add_head_rcu(&g->node, fsk_bucket(fn, key.port));
	}
	err = fsk_group_holds(fn, g, sk, cpu);
	if (!err) {
		local->group = g;
		sock_hold(sk);
		g->nr_local++;
		atomic_inc(per_cpu_ptr(&fsk_load, cpu));
		rcu_assign_pointer(g->local[cpu], local);
		local = NULL;
	}
	spin_unlock_bh(&fn->lock);
out_free:
	kfree(new_g);
	kfree(local);
	return err;
}

/* The table entry of @sk, or NULL. Caller holds fn->lock. */
static struct fsk_local *fsk_local_of(struct fsk_net *fn,
				      const struct sock *sk)
{
	struct fsk_local *local;
	struct fsk_group *g;
	struct fsk_key key;
	unsigned int cpu;

	fsk_key_from_sk(sk, &key);
	g = fsk_group_find(fn, &key);
	if (!g)
		return NULL;
	for_each_possible_cpu(cpu) {
		local = fsk_local_locked(fn, g, cpu);
		if (local && local->sk == sk)
			return local;	/* in one slot at most */
	}
	return NULL;
}

/*
 * Park or resume the spawned local listener @sk: 0, or -ENOENT if @sk is
 * not one (not in the table, or registered).
 */
int fsk_table_park(struct fsk_net *fn, const struct sock *sk, bool park)
{
	struct fsk_local *local;
	int err = -ENOENT;

	spin_lock_bh(&fn->lock);
	local = fsk_local_of(fn, sk);
	if (local && !local->registered) {
		fsk_local_set_parked(local, park);
		err = 0;
	}
	spin_unlock_bh(&fn->lock);
	return err;
}

/* Called by close_watch.c when @sk leaves TCP_LISTEN (process or BH). */
void fsk_table_forget(const struct sock *sk)
{
	struct fsk_net *fn = fsk_net(sock_net(sk));
	struct fsk_local *local;

	spin_lock_bh(&fn->lock);
	local = fsk_local_of(fn, sk);
	if (local)
		fsk_local_unlink(fn, local);
	spin_unlock_bh(&fn->lock);
}

int fsk_table_init(struct fsk_net *fn)
{
	unsigned int i;

	spin_lock_init(&fn->lock);
	for (i = 0; i < FSK_PORT_BUCKETS; i++)
		INIT_HLIST_HEAD(&fn->buckets[i]);
	return 0;
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
	struct fsk_group *g;
	unsigned int i, cpu;

	spin_lock_bh(&fn->lock);
	for (i = 0; i < FSK_PORT_BUCKETS; i++) {
		hlist_for_each_entry_safe(g, tmp, &fn->buckets[i], node) {
			for_each_possible_cpu(cpu) {
				local = fsk_local_locked(fn, g, cpu);
				if (local)
					fsk_local_unlink(fn, local);
			}
		}
	}
	spin_unlock_bh(&fn->lock);
}

void fsk_table_count_per_cpu(struct fsk_net *fn, unsigned int *count)
{
	struct fsk_group *g;
	unsigned int i, cpu;

	rcu_read_lock();
	for (i = 0; i < FSK_PORT_BUCKETS; i++)
		hlist_for_each_entry_rcu(g, &fn->buckets[i], node)
			for_each_possible_cpu(cpu)
				if (rcu_access_pointer(g->local[cpu]))
					count[cpu]++;
	rcu_read_unlock();
}

static void fsk_show_local(struct seq_file *seq, const struct fsk_key *key,
			   const struct fsk_local *local)
{
	if (key->family == AF_INET6)
		seq_printf(seq, "[%pI6c]:%u", &key->addr, key->port);
	else
		seq_printf(seq, "%pI4:%u", &key->addr.s6_addr32[3], key->port);
	seq_printf(seq, " %u %u %d %u %s\n", key->bound_dev_if, local->cpu,
		   local->owner, READ_ONCE(local->nr_spawns),
		   local->registered ? "registered" :
		   READ_ONCE(local->parked) ? "parked" : "spawned");
}

void fsk_table_show(struct seq_file *seq, struct fsk_net *fn)
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
					fsk_show_local(seq, &g->key, local);
			}
		}
	}
	rcu_read_unlock();
}
