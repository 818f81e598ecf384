-- SPDX-License-Identifier: GPL-2.0
-- wrk script for bench/run.
--
-- setup(): FSB_ADDRS (comma-separated IPv4 addresses) gives each wrk
-- thread its own destination address, round-robin, so that connections
-- are spread over several 4-tuple spaces (see bench/README.md, "TIME_WAIT").
-- The Host header still names the URL's host.
--
-- FSB_CPU (a CPU number): setup() pins wrk's main thread to that CPU
-- (sched_setaffinity through LuaJIT's FFI) before the first worker thread
-- is created, so every wrk thread runs there; the same as starting wrk
-- under taskset, without a second program to start.
--
-- done(): one machine-readable line for bench/measure.sh:
--   FSB_WRK requests=N duration_us=N bytes=N connect=N read=N write=N
--           status=N timeout=N lat_p50_us=N lat_p99_us=N
-- "status" is wrk's count of responses with a status of 400 or more.

local addrs = nil
local next_thread = 0
local pinned = false

local function pin(cpu)
	local ffi = require("ffi")
	ffi.cdef[[int sched_setaffinity(int pid, size_t size, const void *mask);]]
	local words = 16	-- 1024 CPUs
	local mask = ffi.new("uint64_t[?]", words)
	if cpu < 0 or cpu >= words * 64 then
		error("wrk.lua: FSB_CPU out of range: " .. cpu)
	end
	mask[math.floor(cpu / 64)] = bit.lshift(1ULL, cpu % 64)
	if ffi.C.sched_setaffinity(0, words * 8, mask) ~= 0 then
		error("wrk.lua: sched_setaffinity to CPU " .. cpu .. " failed")
	end
end

function setup(thread)
	local cpu = os.getenv("FSB_CPU")
	if not pinned and cpu ~= nil and cpu ~= "" then
		pin(tonumber(cpu))
		pinned = true
	end
	local list = os.getenv("FSB_ADDRS")
	if list == nil or list == "" then
		return
	end
	if addrs == nil then
		addrs = {}
		for a in string.gmatch(list, "[^,]+") do
			local found = wrk.lookup(a, tostring(wrk.port))
			if found == nil or found[1] == nil then
				error("wrk.lua: cannot resolve " .. a)
			end
			table.insert(addrs, found[1])
		end
	end
	thread.addr = addrs[(next_thread % #addrs) + 1]
	next_thread = next_thread + 1
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"FSB_WRK requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d lat_p50_us=%d lat_p99_us=%d\n",
		summary.requests, summary.duration, summary.bytes, e.connect,
		e.read, e.write, e.status, e.timeout,
		latency:percentile(50), latency:percentile(99)))
end
