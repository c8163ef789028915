-- POST /bare on benchmarks/bare_app.py: the same server, doing no work (the ceiling).
-- wrk -s bare.lua URL
function init(args)
  wrk.method = "POST"
  wrk.path = "/bare"
  wrk.body = '{"individual_id":"234567890124"}'
  wrk.headers["Content-Type"] = "application/json"
end
