-- SPDX-License-Identifier: GPL-2.0
-- wrk script for the shim VM tests: counts every response by status and
-- body size (each wrk thread has its own Lua state; done() adds them up)
-- and prints key=value lines the tests parse with kv().
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

-- wrk ... -- LEN: a 2xx body of another length counts as badbody.
function init(args)
	want_len = tonumber(args[1])
	ok = 0
	non2xx = 0
	badbody = 0
end

function response(status, headers, body)
	if status < 200 or status > 299 then
		non2xx = non2xx + 1
	elseif want_len and #body ~= want_len then
		badbody = badbody + 1
	else
		ok = ok + 1
	end
end

function done(summary, latency, requests)
	local ok_, non2xx_, badbody_ = 0, 0, 0
	for _, t in ipairs(threads) do
		ok_ = ok_ + t:get("ok")
		non2xx_ = non2xx_ + t:get("non2xx")
		badbody_ = badbody_ + t:get("badbody")
	end
	local e = summary.errors
	io.write(string.format(
		"requests=%d\nok=%d\nnon2xx=%d\nbadbody=%d\n" ..
		"err_connect=%d\nerr_read=%d\nerr_write=%d\nerr_timeout=%d\nerr_status=%d\n",
		summary.requests, ok_, non2xx_, badbody_,
		e.connect, e.read, e.write, e.timeout, e.status))
end
