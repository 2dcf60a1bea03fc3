# Fixture: the app asks for an advertised concurrency of 7, and requires the OutOfBandGc
# middleware by its path (the loader's lib directory is on $LOAD_PATH).
require "phusion_passenger/rack/out_of_band_gc"
PhusionPassenger.advertised_concurrency_level = 7 if defined?(PhusionPassenger)
body = defined?(PhusionPassenger::Rack::OutOfBandGc) ? "seven, with OutOfBandGc" : "seven"
run ->(_env) { [200, { "content-type" => "text/plain" }, [body]] }
