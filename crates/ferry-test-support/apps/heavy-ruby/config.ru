# frozen_string_literal: true
#
# A "heavy" Rack app for the smart-spawning tests and bench/smart-spawn.sh: loading it takes a
# second (like booting a framework) and builds a large read-only data structure (like a framework's
# code and caches), which workers forked from a preloader share copy-on-write.
#
#   GET /forked  the `forked` argument :starting_worker_process was fired with ("true"/"false")
#   GET /random  a random number drawn now
#   GET /pid     "<pid> <ppid>"
#   GET /size    how many entries the data structure holds

sleep(Float(ENV.fetch("HEAVY_LOAD_SECONDS", "1")))
HEAVY = Array.new(Integer(ENV.fetch("HEAVY_ENTRIES", "200000"))) { |i| ("heavy-#{i}-" * 8).freeze }.freeze

$forked = nil
if defined?(PhusionPassenger)
  PhusionPassenger.on_event(:starting_worker_process) { |forked| $forked = forked }
end

run lambda { |env|
  body =
    case env["PATH_INFO"]
    when "/forked" then $forked.inspect
    when "/random" then rand(1 << 62).to_s
    when "/pid" then "#{Process.pid} #{Process.ppid}"
    when "/size" then HEAVY.size.to_s
    else "heavy\n"
    end
  [200, { "content-type" => "text/plain" }, [body]]
}
