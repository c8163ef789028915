-- POST /v1/tokens/introspect (RFC 7662, form-encoded) of one valid token.
-- wrk -s introspect.lua URL -- TOKEN API_KEY
function init(args)
  wrk.method = "POST"
  wrk.path = "/v1/tokens/introspect"
  wrk.body = "token=" .. args[1]
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
