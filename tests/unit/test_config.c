// SPDX-License-Identifier: GPL-2.0
/*
 * FASTSOCKET_* parsing: every kind of bad value gives its one message,
 * good values give the right configuration.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "init.h"

static char err[FS_ERR_MAX];

static cpu_set_t cpus_of(const char *list)
{
	cpu_set_t set;

	assert_int_equal(fs_parse_cpus(list, &set, err, sizeof(err)), 0);
	return set;
}

/* ---- FASTSOCKET_MODE ------------------------------------------------ */

static void mode_good(void **state)
{
	int m = -1;

	(void)state;
	assert_int_equal(fs_parse_mode("0", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 0);
	assert_int_equal(fs_parse_mode("1", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 1);
	assert_int_equal(fs_parse_mode("2", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 2);
	assert_int_equal(fs_parse_mode(" 2 ", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 2);
}

static void expect_mode_bad(const char *v, const char *msg)
{
	int m = 7;

	assert_int_equal(fs_parse_mode(v, &m, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
	assert_int_equal(m, 7);
}

static void mode_bad(void **state)
{
	(void)state;
	expect_mode_bad("3", "FASTSOCKET_MODE: \"3\": not 0, 1 or 2");
	expect_mode_bad("-1", "FASTSOCKET_MODE: \"-1\": not 0, 1 or 2");
	expect_mode_bad("auto", "FASTSOCKET_MODE: \"auto\": not 0, 1 or 2");
	expect_mode_bad("22", "FASTSOCKET_MODE: \"22\": not 0, 1 or 2");
	expect_mode_bad("1.5", "FASTSOCKET_MODE: \"1.5\": not 0, 1 or 2");
	expect_mode_bad(" ", "FASTSOCKET_MODE: \" \": not 0, 1 or 2");
}

/* ---- FASTSOCKET_LOG ------------------------------------------------- */

static void log_good(void **state)
{
	int l = -1;

	(void)state;
	assert_int_equal(fs_parse_log("off", &l, err, sizeof(err)), 0);
	assert_int_equal(l, FS_LOG_OFF);
	assert_int_equal(fs_parse_log("info", &l, err, sizeof(err)), 0);
	assert_int_equal(l, FS_LOG_INFO);
	assert_int_equal(fs_parse_log("debug", &l, err, sizeof(err)), 0);
	assert_int_equal(l, FS_LOG_DEBUG);
	assert_int_equal(fs_parse_log("INFO", &l, err, sizeof(err)), 0);
	assert_int_equal(l, FS_LOG_INFO);
}

static void log_bad(void **state)
{
	int l = 9;

	(void)state;
	assert_int_equal(fs_parse_log("verbose", &l, err, sizeof(err)), -1);
	assert_string_equal(err, "FASTSOCKET_LOG: \"verbose\": not off, info or debug");
	assert_int_equal(fs_parse_log("1", &l, err, sizeof(err)), -1);
	assert_string_equal(err, "FASTSOCKET_LOG: \"1\": not off, info or debug");
	assert_int_equal(fs_parse_log("infos", &l, err, sizeof(err)), -1);
	assert_int_equal(l, 9);
}

/* ---- FASTSOCKET_PORTS ----------------------------------------------- */

static uint64_t ports[65536 / 64];

static bool has(unsigned int p)
{
	return (ports[p / 64] >> (p % 64)) & 1;
}

static unsigned int count_ports(void)
{
	unsigned int n = 0;

	for (unsigned int p = 0; p < 65536; p++)
		n += has(p);
	return n;
}

static void ports_good(void **state)
{
	(void)state;
	assert_int_equal(fs_parse_ports("80", ports, err, sizeof(err)), 0);
	assert_true(has(80));
	assert_int_equal(count_ports(), 1);

	assert_int_equal(fs_parse_ports("80,443,8000-8100", ports, err,
					 sizeof(err)), 0);
	assert_true(has(80) && has(443) && has(8000) && has(8050) && has(8100));
	assert_false(has(81) || has(7999) || has(8101));
	assert_int_equal(count_ports(), 2 + 101);

	assert_int_equal(fs_parse_ports(" 80 , 443 ,8000 - 8002 ", ports, err,
					 sizeof(err)), 0);
	assert_int_equal(count_ports(), 5);

	assert_int_equal(fs_parse_ports("1,65535", ports, err, sizeof(err)), 0);
	assert_true(has(1) && has(65535));

	assert_int_equal(fs_parse_ports("1-65535", ports, err, sizeof(err)), 0);
	assert_int_equal(count_ports(), 65535);
	assert_false(has(0));

	assert_int_equal(fs_parse_ports("8080-8080", ports, err, sizeof(err)), 0);
	assert_int_equal(count_ports(), 1);

	assert_int_equal(fs_parse_ports("0080", ports, err, sizeof(err)), 0);
	assert_true(has(80));

	assert_int_equal(fs_parse_ports("443,80,443", ports, err, sizeof(err)), 0);
	assert_int_equal(count_ports(), 2);
}

static void expect_ports_bad(const char *v, const char *msg)
{
	assert_int_equal(fs_parse_ports(v, ports, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
}

static void ports_bad(void **state)
{
	(void)state;
	/* The example of the issue, word for word. */
	expect_ports_bad("80,abc",
			 "FASTSOCKET_PORTS: \"80,abc\": \"abc\" is not a port");
	expect_ports_bad("abc", "FASTSOCKET_PORTS: \"abc\": \"abc\" is not a port");
	expect_ports_bad("0", "FASTSOCKET_PORTS: \"0\": \"0\" is out of range (1-65535)");
	expect_ports_bad("65536",
			 "FASTSOCKET_PORTS: \"65536\": \"65536\" is out of range (1-65535)");
	expect_ports_bad("80,70000",
			 "FASTSOCKET_PORTS: \"80,70000\": \"70000\" is out of range (1-65535)");
	expect_ports_bad("99999999999999999999",
			 "FASTSOCKET_PORTS: \"99999999999999999999\": \"99999999999999999999\" is out of range (1-65535)");
	expect_ports_bad("0-80", "FASTSOCKET_PORTS: \"0-80\": \"0-80\" is out of range (1-65535)");
	expect_ports_bad("-1", "FASTSOCKET_PORTS: \"-1\": \"-1\" is not a port");
	expect_ports_bad("80-", "FASTSOCKET_PORTS: \"80-\": \"80-\" is not a port");
	expect_ports_bad("-80", "FASTSOCKET_PORTS: \"-80\": \"-80\" is not a port");
	expect_ports_bad("1-2-3", "FASTSOCKET_PORTS: \"1-2-3\": \"1-2-3\" is not a port");
	expect_ports_bad("8100-8000",
			 "FASTSOCKET_PORTS: \"8100-8000\": \"8100-8000\" is a backwards range");
	expect_ports_bad("80,,443", "FASTSOCKET_PORTS: \"80,,443\": empty item");
	expect_ports_bad("80,", "FASTSOCKET_PORTS: \"80,\": empty item");
	expect_ports_bad(",80", "FASTSOCKET_PORTS: \",80\": empty item");
	expect_ports_bad(" ", "FASTSOCKET_PORTS: \" \": empty item");
	expect_ports_bad("0x50", "FASTSOCKET_PORTS: \"0x50\": \"0x50\" is not a port");
	expect_ports_bad("+80", "FASTSOCKET_PORTS: \"+80\": \"+80\" is not a port");
	expect_ports_bad("8 0", "FASTSOCKET_PORTS: \"8 0\": \"8 0\" is not a port");
	expect_ports_bad("80;443", "FASTSOCKET_PORTS: \"80;443\": \"80;443\" is not a port");
	expect_ports_bad("http", "FASTSOCKET_PORTS: \"http\": \"http\" is not a port");
}

static void ports_long_value_clipped(void **state)
{
	char v[300];

	(void)state;
	for (size_t i = 0; i + 3 < sizeof(v) - 5; i += 3)
		memcpy(v + i, "80,", 3);
	strcpy(v + (sizeof(v) - 5) / 3 * 3, "x");
	assert_int_equal(fs_parse_ports(v, ports, err, sizeof(err)), -1);
	assert_true(strlen(err) < FS_ERR_MAX);
	assert_non_null(strstr(err, "...\""));
	assert_non_null(strstr(err, "\"x\" is not a port"));
}

/* ---- FASTSOCKET_CPUS ------------------------------------------------ */

static void cpus_good(void **state)
{
	cpu_set_t s;

	(void)state;
	s = cpus_of("0-3,6");
	assert_int_equal(CPU_COUNT(&s), 5);
	assert_true(CPU_ISSET(0, &s) && CPU_ISSET(3, &s) && CPU_ISSET(6, &s));
	assert_false(CPU_ISSET(4, &s) || CPU_ISSET(5, &s));
	s = cpus_of("1");
	assert_int_equal(CPU_COUNT(&s), 1);
	assert_true(CPU_ISSET(1, &s));
	s = cpus_of(" 0 , 1 ");
	assert_int_equal(CPU_COUNT(&s), 2);
	s = cpus_of("1023");
	assert_true(CPU_ISSET(1023, &s));
}

static void expect_cpus_bad(const char *v, const char *msg)
{
	cpu_set_t s;

	assert_int_equal(fs_parse_cpus(v, &s, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
}

static void cpus_bad(void **state)
{
	(void)state;
	expect_cpus_bad("x", "FASTSOCKET_CPUS: \"x\": \"x\" is not a CPU number");
	expect_cpus_bad("0-3,a", "FASTSOCKET_CPUS: \"0-3,a\": \"a\" is not a CPU number");
	expect_cpus_bad("1024",
			"FASTSOCKET_CPUS: \"1024\": \"1024\" is out of range (0-1023)");
	expect_cpus_bad("3-1", "FASTSOCKET_CPUS: \"3-1\": \"3-1\" is a backwards range");
	expect_cpus_bad("0,,1", "FASTSOCKET_CPUS: \"0,,1\": empty item");
	expect_cpus_bad("-1", "FASTSOCKET_CPUS: \"-1\": \"-1\" is not a CPU number");
	expect_cpus_bad("all", "FASTSOCKET_CPUS: \"all\": \"all\" is not a CPU number");
}

static void cpuset_format(void **state)
{
	char buf[64];
	cpu_set_t s;

	(void)state;
	s = cpus_of("0-3,6,8-9,1023");
	fs_cpuset_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "0-3,6,8-9,1023");
	CPU_ZERO(&s);
	fs_cpuset_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "");
	s = cpus_of("0-1023");
	fs_cpuset_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "0-1023");
	s = cpus_of("0,2,4,6,8,10,12,14,16,18,20");
	fs_cpuset_format(&s, buf, 8);	/* cut short, still terminated */
	assert_true(strlen(buf) < 8);
}

/* ---- the whole configuration ---------------------------------------- */

static void config_defaults(void **state)
{
	struct fs_config c;
	cpu_set_t aff = cpus_of("0-3");

	(void)state;
	assert_int_equal(fs_config_parse(&c, NULL, NULL, NULL, NULL, &aff, err,
					 sizeof(err)), 0);
	assert_true(c.valid);
	assert_int_equal(c.mode, FS_MODE_UNSET);
	assert_int_equal(c.log, FS_LOG_OFF);
	assert_true(c.ports_all);
	assert_true(fs_port_configured(&c, 80));
	assert_true(fs_port_configured(&c, 65535));
	assert_false(fs_port_configured(&c, 0));
	assert_false(c.cpus_set);
	assert_true(CPU_EQUAL(&c.cpus, &aff));

	/* Empty counts as unset. */
	assert_int_equal(fs_config_parse(&c, "", "", "", "", &aff, err,
					 sizeof(err)), 0);
	assert_true(c.valid);
	assert_true(c.ports_all);
	assert_int_equal(c.mode, FS_MODE_UNSET);
}

static void config_values(void **state)
{
	struct fs_config c;
	cpu_set_t aff = cpus_of("0-3"), want = cpus_of("1,3");

	(void)state;
	assert_int_equal(fs_config_parse(&c, "1", "80,8000-8001", "1,3,5",
					 "debug", &aff, err, sizeof(err)), 0);
	assert_true(c.valid);
	assert_int_equal(c.mode, 1);
	assert_int_equal(c.log, FS_LOG_DEBUG);
	assert_false(c.ports_all);
	assert_true(fs_port_configured(&c, 80));
	assert_true(fs_port_configured(&c, 8001));
	assert_false(fs_port_configured(&c, 443));
	assert_true(c.cpus_set);
	assert_true(CPU_EQUAL(&c.cpus, &want));	/* 5 is not ours */
}

static void config_invalid(void **state)
{
	struct fs_config c;
	cpu_set_t aff = cpus_of("0-1");

	(void)state;
	assert_int_equal(fs_config_parse(&c, "2", "80,abc", NULL, NULL, &aff,
					 err, sizeof(err)), -1);
	assert_false(c.valid);
	assert_string_equal(err, "FASTSOCKET_PORTS: \"80,abc\": \"abc\" is not a port");

	assert_int_equal(fs_config_parse(&c, NULL, NULL, "4-7", NULL, &aff, err,
					 sizeof(err)), -1);
	assert_false(c.valid);
	assert_string_equal(err, "FASTSOCKET_CPUS: \"4-7\": none of these CPUs is in the process's affinity (0-1)");

	/* Only the first problem is told; the log level is known first. */
	assert_int_equal(fs_config_parse(&c, "9", "x", "y", "debug", &aff, err,
					 sizeof(err)), -1);
	assert_string_equal(err, "FASTSOCKET_MODE: \"9\": not 0, 1 or 2");
	assert_int_equal(c.log, FS_LOG_DEBUG);
	assert_false(c.valid);

	assert_int_equal(fs_config_parse(&c, "9", NULL, NULL, "loud", &aff, err,
					 sizeof(err)), -1);
	assert_string_equal(err, "FASTSOCKET_LOG: \"loud\": not off, info or debug");
}

/*
 * fs_config_init() in a child with the variable set, stderr on a pipe:
 * returns what was written.
 */
static void init_output(const char *var, const char *val, char *out,
			size_t len, bool *valid)
{
	int p[2], st;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		setenv(var, val, 1);
		fs_config_init();
		_exit(fs_cfg.valid ? 0 : 1);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	*valid = WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void config_init_one_line(void **state)
{
	char out[1024];
	bool valid;

	(void)state;
	init_output("FASTSOCKET_PORTS", "80,abc", out, sizeof(out), &valid);
	assert_false(valid);
	assert_string_equal(out, "fastsocket: FASTSOCKET_PORTS: \"80,abc\": \"abc\" is not a port; running unaccelerated\n");

	init_output("FASTSOCKET_MODE", "x", out, sizeof(out), &valid);
	assert_false(valid);
	assert_string_equal(out, "fastsocket: FASTSOCKET_MODE: \"x\": not 0, 1 or 2; running unaccelerated\n");

	init_output("FASTSOCKET_PORTS", "8080", out, sizeof(out), &valid);
	assert_true(valid);
	assert_string_equal(out, "");	/* good values are silent */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mode_good),
		cmocka_unit_test(mode_bad),
		cmocka_unit_test(log_good),
		cmocka_unit_test(log_bad),
		cmocka_unit_test(ports_good),
		cmocka_unit_test(ports_bad),
		cmocka_unit_test(ports_long_value_clipped),
		cmocka_unit_test(cpus_good),
		cmocka_unit_test(cpus_bad),
		cmocka_unit_test(cpuset_format),
		cmocka_unit_test(config_defaults),
		cmocka_unit_test(config_values),
		cmocka_unit_test(config_invalid),
		cmocka_unit_test(config_init_one_line),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
