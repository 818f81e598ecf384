// SPDX-License-Identifier: GPL-2.0
/*
 * fastsocketctl: look at fastsocket on this host, read-only.
 * Global options, then one command (status, stats, doctor).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <linux/fastsocket.h>

#include "ctl.h"

bool ctl_json;

static const char usage[] =
	"Usage: fastsocketctl [--root DIR] [--json] COMMAND [OPTIONS]\n"
	"       fastsocketctl --help | --version\n"
	"\n"
	"Look at fastsocket (module, shim, host settings); changes nothing.\n"
	"\n"
	"Commands:\n"
	"  status              module, ABI, features, parameters, sysctls, local\n"
	"                      listeners of this network namespace and their workers\n"
	"  stats [-i SECS] [-c COUNT]\n"
	"                      per-CPU counters of /proc/net/fastsocket; with -i,\n"
	"                      per-second rates every SECS seconds\n"
	"  doctor [--port P]   check the host against what locality needs; one line\n"
	"                      per finding with the command that fixes it\n"
	"\n"
	"Options:\n"
	"  --root DIR          read /proc, /sys, /etc and /dev under DIR (crafted trees)\n"
	"  --json              JSON output (every command; also after the command)\n"
	"  -h, --help          this help; COMMAND --help: the command's\n"
	"  -V, --version       the tool's version and the ABI it speaks\n"
	"\n"
	"Exit status: 0 success (doctor: nothing found), 1 doctor found something,\n"
	"2 usage error or a file that cannot be read or parsed.\n"
	"See fastsocketctl(8).\n";

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "status", cmd_status },
	{ "stats", cmd_stats },
	{ "doctor", cmd_doctor },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	size_t i;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ctl_root = optarg;
			if (!*optarg || !strcmp(optarg, "/"))
				ctl_root = "";
			break;
		case 'j':
			ctl_json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("fastsocketctl %s (fastsocket ABI %d)\n", CTL_VERSION,
			       FASTSOCKET_ABI_VERSION);
			return 0;
		case ':':
			ctl_err("option %s needs an argument", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			ctl_err("unknown option %s (see fastsocketctl --help)",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_err("no command given (status, stats or doctor; see --help)");
		return EXIT_USAGE;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			optind++;
			/* Each command parses its own options from argv[0]. */
			return commands[i].run(argc - optind + 1, argv + optind - 1);
		}
	}
	ctl_err("unknown command '%s' (status, stats or doctor; see --help)",
		argv[optind]);
	return EXIT_USAGE;
}
