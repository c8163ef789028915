-- GET /.well-known/jwks.json (no key needed).
-- wrk -s jwks.lua URL
function init(args)
  wrk.method = "GET"
  wrk.path = "/.well-known/jwks.json"
end
