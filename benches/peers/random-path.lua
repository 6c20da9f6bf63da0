-- wrk script for the churn test: every request picks one of N objects uniformly at random,
-- /churn/o-<i>.bin with i in [0, N). N comes from the first script argument (default 1024).
local n = 1024
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
end

function init(args)
    if args[1] then n = tonumber(args[1]) end
    math.randomseed(os.time() * 1000 + (id or 0))
end

function request()
    return wrk.format("GET", "/churn/o-" .. math.random(0, n - 1) .. ".bin")
end
