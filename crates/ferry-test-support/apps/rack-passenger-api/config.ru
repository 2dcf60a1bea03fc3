# frozen_string_literal: true
#
# rack-passenger-api: a config.ru written the way Passenger users write them, to check that
# Ferry's Ruby loader provides the PhusionPassenger API.
#
#   GET /     -> "forked=<forked> events=<comma-separated events recorded so far>"
#   GET /oob  -> how many times the :oob_work callback has run
#
# Every 2nd response asks for out-of-band work (PhusionPassenger::Rack::OutOfBandGc, 2).

$events = []
$forked = nil
$oob_runs = 0

if defined?(PhusionPassenger)
  PhusionPassenger.on_event(:starting_worker_process) do |forked|
    $forked = forked
    $events << "starting_worker_process"
  end
  PhusionPassenger.on_event(:stopping_worker_process) do
    $stderr.puts "rack-passenger-api: stopping_worker_process"
  end
  PhusionPassenger.on_event(:oob_work) do
    $oob_runs += 1
  end
  PhusionPassenger.require_passenger_lib "rack/out_of_band_gc"
  use PhusionPassenger::Rack::OutOfBandGc, 2
end

run(lambda do |env|
  body =
    case env["PATH_INFO"]
    when "/oob" then $oob_runs.to_s
    else "forked=#{$forked.inspect} events=#{$events.join(',')}"
    end
  [200, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }, [body]]
end)
