-- POST /v1/authenticate with a wrong OTP, cycling through many (UIN, txn_id) pairs so that no
-- identity or transaction is hit twice in a row (every call is a full refusal: lookup, code
-- check, failure counters, one audit event, one transaction).
-- wrk -s authenticate.lua URL -- PAIRS_FILE API_KEY   (PAIRS_FILE: "uin txn_id" per line)
local threads = 0

function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    local uin, txn = line:match("^(%S+) (%S+)$")
    if uin then
      bodies[#bodies + 1] = string.format(
        '{"individual_id":"%s","id_type":"uin","txn_id":"%s","factors":{"otp":"000000"}}',
        uin, txn)
    end
  end
  n = offset or 0
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  return wrk.format("POST", "/v1/authenticate", nil, bodies[(n % #bodies) + 1])
end
