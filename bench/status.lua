-- wrk script for bench/overload.sh: POST the original route's body (as
-- bench/post.lua) and count the answers by status, and the 503s without a
-- Retry-After header; done() prints one "status ..." line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}'

local threads = {}
function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	codes = {}
	noretry = 0
end

function response(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
	if status == 503 and headers["Retry-After"] == nil and headers["retry-after"] == nil then
		noretry = noretry + 1
	end
end

function done(summary, latency, requests)
	local all, nr = {}, 0
	for _, t in ipairs(threads) do
		local c = t:get("codes")
		for k, v in pairs(c) do all[k] = (all[k] or 0) + v end
		nr = nr + t:get("noretry")
	end
	local ok, s503, other = 0, 0, 0
	for k, v in pairs(all) do
		if k >= 200 and k < 300 then ok = ok + v
		elseif k == 503 then s503 = s503 + v
		else other = other + v end
	end
	io.write(string.format("status ok=%d s503=%d other=%d no_retry_after=%d errors=%d timeouts=%d\n",
		ok, s503, other, nr,
		summary.errors.connect + summary.errors.read + summary.errors.write,
		summary.errors.timeout))
end
